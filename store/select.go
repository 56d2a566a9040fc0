package store

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultQuant is the quantization pulled when a repository has several
// GGUF files and the name asks for none, as Ollama does.
const DefaultQuant = "Q4_K_M"

// ggufSet is one model in a repository: a GGUF file, or the parts of a
// split GGUF (NAME-00001-of-0000N.gguf …) in order.
type ggufSet struct {
	key   string // path without the split suffix and ".gguf"
	quant string // the quantization label in the name, "" if none
	parts []hubFile
	count int    // parts a split set should have; 1 for a plain file
	gap   string // what is missing from an incomplete split set
}

// splitRE matches the file names llama.cpp's gguf-split writes.
var splitRE = regexp.MustCompile(`(?i)^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// quantRE matches quantization labels: Q4_K_M, IQ2_XXS, Q4_0_4_4, TQ1_0,
// UD-Q4_K_XL, BF16, F16, F32, MXFP4….
var (
	quantRE     = regexp.MustCompile(`(?i)` + quantPattern)
	quantFullRE = regexp.MustCompile(`(?i)^(?:` + quantPattern + `)$`)
)

const quantPattern = `(?:UD-)?(?:I?Q[1-8](?:_[A-Z0-9]{1,3})*|TQ[12]_0|MXFP4(?:_MOE)?|BF16|FP16|FP32|F16|F32|F64)`

// quantLabel returns the quantization label in a GGUF path (without
// ".gguf" and split suffix): the last one in the file name, else the
// nearest in its folders; "" when there is none.
func quantLabel(key string) string {
	elems := strings.Split(key, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		if q := lastQuant(elems[i]); q != "" {
			return q
		}
	}
	return ""
}

// lastQuant returns the last label in s that stands on its own: not
// preceded or followed by a letter or digit.
func lastQuant(s string) string {
	var found string
	for _, m := range quantRE.FindAllStringIndex(s, -1) {
		a, b := m[0], m[1]
		if a > 0 && isAlnum(s[a-1]) {
			continue
		}
		// "Q8_0_final" matches as far as "Q8_0_fin": back off to a
		// shorter label that ends at a boundary.
		for b < len(s) && isAlnum(s[b]) {
			i := strings.LastIndexByte(s[a:b], '_')
			if i <= 0 {
				break
			}
			b = a + i
		}
		if b < len(s) && isAlnum(s[b]) || !quantFullRE.MatchString(s[a:b]) {
			continue
		}
		found = strings.ToUpper(s[a:b])
	}
	return found
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// groupGGUF gathers the repository's GGUF model files into sets, leaving
// out projector files (mmproj) and anything not a GGUF.
func groupGGUF(files []hubFile) []*ggufSet {
	byKey := map[string]*ggufSet{}
	var sets []*ggufSet
	for _, f := range files {
		if f.Type != "" && f.Type != "file" {
			continue
		}
		base := path.Base(f.Path)
		lower := strings.ToLower(base)
		if !strings.HasSuffix(lower, ".gguf") || strings.Contains(lower, "mmproj") || badRepoPath(f.Path) {
			continue
		}
		key, no, count := strings.TrimSuffix(f.Path, base[len(base)-5:]), 1, 1
		if m := splitRE.FindStringSubmatch(f.Path); m != nil {
			no, _ = strconv.Atoi(m[2])
			count, _ = strconv.Atoi(m[3])
			key = m[1]
		}
		id := key + "\x00" + strconv.Itoa(count)
		s := byKey[id]
		if s == nil {
			s = &ggufSet{key: key, quant: quantLabel(key), count: count}
			byKey[id] = s
			sets = append(sets, s)
		}
		if no < 1 || no > count {
			s.gap = fmt.Sprintf("%s is numbered outside 1 to %d", f.Path, count)
			continue
		}
		s.parts = append(s.parts, f)
	}
	for _, s := range sets {
		sort.SliceStable(s.parts, func(i, j int) bool { return s.parts[i].Path < s.parts[j].Path })
		if s.gap == "" && len(s.parts) != s.count {
			have := map[string]bool{}
			for _, p := range s.parts {
				have[p.Path] = true
			}
			for i := 1; i <= s.count; i++ {
				p := fmt.Sprintf("%s-%05d-of-%05d.gguf", s.key, i, s.count)
				if !have[p] {
					s.gap = fmt.Sprintf("part %d of %d (%s) is missing", i, s.count, path.Base(p))
					break
				}
			}
			if s.gap == "" {
				s.gap = fmt.Sprintf("it has %d parts, not %d", len(s.parts), s.count)
			}
		}
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].key < sets[j].key })
	return sets
}

// badRepoPath reports whether a path the hub lists is one ondo refuses to
// ask for: empty elements, "." or "..", or control characters.
func badRepoPath(p string) bool {
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return true
		}
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\' {
			return true
		}
	}
	return false
}

// name returns how a set is shown in messages: its quantization, or its
// file name when it has no label.
func (s *ggufSet) name() string {
	if s.quant != "" {
		return s.quant
	}
	return path.Base(s.key)
}

// selectGGUF picks the set the tag asks for: the one with that
// quantization (any case), or with the tag as a word of its path; for
// DefaultTag, the only set or else the DefaultQuant one.
func selectGGUF(n Name, sets []*ggufSet) (*ggufSet, error) {
	repo := n.Repo()
	if len(sets) == 0 {
		return nil, fmt.Errorf("repository %s has no GGUF model files", repo)
	}
	want := n.Tag
	if strings.EqualFold(want, DefaultTag) {
		if len(sets) == 1 {
			return checkSet(repo, sets[0])
		}
		want = DefaultQuant
	}
	var match []*ggufSet
	for _, s := range sets {
		if strings.EqualFold(s.quant, want) {
			match = append(match, s)
		}
	}
	if len(match) == 0 {
		for _, s := range sets {
			if hasWord(strings.ToLower(s.key), strings.ToLower(want)) {
				match = append(match, s)
			}
		}
	}
	switch len(match) {
	case 1:
		return checkSet(repo, match[0])
	case 0:
		avail := available(sets)
		example := HubHost + "/" + repo + ":" + avail[0]
		if strings.EqualFold(n.Tag, DefaultTag) {
			return nil, fmt.Errorf("repository %s has several GGUF files and none is %s, the default; name one: %s (for example %s)", repo, DefaultQuant, strings.Join(avail, ", "), example)
		}
		return nil, fmt.Errorf("repository %s has no GGUF file for quantization %q; available: %s (for example %s)", repo, n.Tag, strings.Join(avail, ", "), example)
	}
	var names []string
	for _, s := range match {
		names = append(names, s.parts[0].Path)
	}
	return nil, fmt.Errorf("repository %s has several GGUF files for %q: %s", repo, want, strings.Join(names, ", "))
}

// checkSet refuses an incomplete split set.
func checkSet(repo string, s *ggufSet) (*ggufSet, error) {
	if s.gap != "" {
		return nil, fmt.Errorf("the split GGUF %s in repository %s is incomplete: %s", s.key, repo, s.gap)
	}
	return s, nil
}

// available lists the sets' names, without repeats, sorted.
func available(sets []*ggufSet) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range sets {
		if n := s.name(); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// hasWord reports whether w occurs in s between characters that are not
// letters, digits or '_'.
func hasWord(s, w string) bool {
	for i := 0; w != ""; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		a, b := i+j, i+j+len(w)
		if (a == 0 || !isWordByte(s[a-1])) && (b == len(s) || !isWordByte(s[b])) {
			return true
		}
		i = a + 1
	}
	return false
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }
