package jsonschema

import (
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/grammar"
)

// The keys of an object's undeclared members split into classes: the value
// of a key must satisfy the schema of every pattern (patternProperties) the
// key matches, or additionalProperties where it matches none, and declared
// property names are not undeclared keys at all. A grammar cannot intersect
// or complement the patterns' GBNF, so the classes come from an automaton:
// the product of the patterns' automata and the trie of declared names,
// made deterministic, whose states say which patterns have matched. Each
// class becomes a right-linear grammar over the key's characters, each
// character in its canonical JSON spelling.

// maxKeyStates bounds the deterministic key automaton.
const maxKeyStates = 10000

// maxKeyNFA bounds the patterns' automata (counted repetitions multiply).
const maxKeyNFA = 20000

// A keyClass is the keys that match exactly the patterns in mask (bit i:
// patProps[i]) and are not declared, as the GBNF content of a JSON string.
type keyClass struct {
	mask uint64
	expr string
}

type nfaEdge struct {
	set runeSet
	to  int32
}

// keyNFA holds every pattern's automaton, with ε moves.
type keyNFA struct {
	eps   [][]int32
	edges [][]nfaEdge
}

func (a *keyNFA) state() (int32, error) {
	if len(a.eps) >= maxKeyNFA {
		return 0, fmt.Errorf("its automaton has more than %d states", maxKeyNFA)
	}
	a.eps = append(a.eps, nil)
	a.edges = append(a.edges, nil)
	return int32(len(a.eps) - 1), nil
}

// build adds x's automaton (Thompson's construction) and returns its start
// and accepting states.
func (a *keyNFA) build(x *rx) (in, out int32, err error) {
	if in, err = a.state(); err != nil {
		return
	}
	switch x.op {
	case opNone:
		out, err = a.state()
	case opEmpty:
		out = in
	case opSet:
		if out, err = a.state(); err == nil {
			a.edges[in] = append(a.edges[in], nfaEdge{x.set, out})
		}
	case opCat:
		out = in
		for _, s := range x.sub {
			si, so, err := a.build(s)
			if err != nil {
				return 0, 0, err
			}
			a.eps[out] = append(a.eps[out], si)
			out = so
		}
	case opAlt:
		if out, err = a.state(); err != nil {
			return
		}
		for _, s := range x.sub {
			si, so, err := a.build(s)
			if err != nil {
				return 0, 0, err
			}
			a.eps[in] = append(a.eps[in], si)
			a.eps[so] = append(a.eps[so], out)
		}
	case opRep:
		cur := in
		for range x.min {
			si, so, err := a.build(x.sub[0])
			if err != nil {
				return 0, 0, err
			}
			a.eps[cur] = append(a.eps[cur], si)
			cur = so
		}
		if x.max < 0 {
			si, so, err := a.build(x.sub[0])
			if err != nil {
				return 0, 0, err
			}
			a.eps[cur] = append(a.eps[cur], si)
			a.eps[so] = append(a.eps[so], cur)
			return in, cur, nil
		}
		if out, err = a.state(); err != nil {
			return
		}
		for range x.max - x.min {
			si, so, err := a.build(x.sub[0])
			if err != nil {
				return 0, 0, err
			}
			a.eps[cur] = append(a.eps[cur], si, out)
			cur = so
		}
		a.eps[cur] = append(a.eps[cur], out)
	}
	return
}

// closure returns the sorted ε-closure of states.
func (a *keyNFA) closure(states []int32) []int32 {
	seen := map[int32]bool{}
	stack := slices.Clone(states)
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		stack = append(stack, a.eps[s]...)
	}
	out := make([]int32, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// patternRx is a pattern's language over whole key values: JSON Schema's
// patterns search, so an unanchored side may be preceded or followed by
// anything. (patternGBNF does the same before spelling the result as JSON
// text.)
func patternRx(pattern string) (*rx, error) {
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("pattern %q is not valid UTF-8", pattern)
	}
	p := &reParser{src: pattern}
	alts, err := p.parseTop()
	if err != nil {
		return nil, err
	}
	anything := starRx(setRx(anyChar))
	var branches []*rx
	for _, a := range alts {
		parts := []*rx{a.body}
		if !a.start {
			parts = slices.Insert(parts, 0, anything)
		}
		if !a.end {
			parts = append(parts, anything)
		}
		branches = append(branches, catRx(parts...))
	}
	return altRx(branches...), nil
}

// trieNode is a node of the declared names' trie.
type trieNode struct {
	end  bool
	kids map[rune]int32
}

// keyState is a state of the deterministic key automaton: the patterns'
// automaton states and the trie node (-1: off the trie).
type keyState struct {
	nfa   []int32
	trie  int32
	mask  uint64 // the patterns matched
	named bool   // a declared name
	out   []keyEdge
}

type keyEdge struct {
	set runeSet
	to  int
}

// keyClasses returns the classes of undeclared keys, by the patterns they
// match; want says which classes are wanted.
func (c *compiler) keyClasses(hint string, pats []patProp, declared []string, want func(mask uint64) bool) ([]keyClass, error) {
	if len(pats) > 64 {
		return nil, unsupported(pats[64].ptr, "patternProperties", "more than 64 patterns")
	}
	a := &keyNFA{}
	var starts []int32
	accept := make([]int32, len(pats))
	for i, pp := range pats {
		x, err := patternRx(pp.pattern)
		if err == nil {
			var in int32
			in, accept[i], err = a.build(x)
			starts = append(starts, in)
		}
		if err != nil {
			return nil, &Error{Keyword: "patternProperties", Pointer: pp.ptr,
				Msg: fmt.Sprintf("keyword %q: %v", "patternProperties", err)}
		}
	}
	trie := []trieNode{{kids: map[rune]int32{}}}
	for _, name := range declared {
		t := int32(0)
		for _, r := range name {
			k, ok := trie[t].kids[r]
			if !ok {
				k = int32(len(trie))
				trie = append(trie, trieNode{kids: map[rune]int32{}})
				trie[t].kids[r] = k
			}
			t = k
		}
		trie[t].end = true
	}

	// Subset construction.
	var states []*keyState
	index := map[string]int{}
	intern := func(nfa []int32, t int32) (int, error) {
		var key strings.Builder
		for _, s := range nfa {
			key.WriteString(strconv.Itoa(int(s)))
			key.WriteByte(',')
		}
		key.WriteString(strconv.Itoa(int(t)))
		if i, ok := index[key.String()]; ok {
			return i, nil
		}
		if len(states) >= maxKeyStates {
			return 0, unsupported(pats[0].ptr, "patternProperties", fmt.Sprintf("the patterns' key automaton has more than %d states", maxKeyStates))
		}
		st := &keyState{nfa: nfa, trie: t, named: t >= 0 && trie[t].end}
		for i, acc := range accept {
			if _, ok := slices.BinarySearch(nfa, acc); ok {
				st.mask |= 1 << i
			}
		}
		index[key.String()] = len(states)
		states = append(states, st)
		return len(states) - 1, nil
	}
	if _, err := intern(a.closure(starts), 0); err != nil {
		return nil, err
	}
	for i := 0; i < len(states); i++ {
		st := states[i]
		// Split the characters where any move's set begins or ends.
		cuts := []rune{0, 0xD800, 0xE000, unicode.MaxRune + 1}
		for _, s := range st.nfa {
			for _, e := range a.edges[s] {
				for _, r := range e.set {
					cuts = append(cuts, r.lo, r.hi+1)
				}
			}
		}
		if st.trie >= 0 {
			for r := range trie[st.trie].kids {
				cuts = append(cuts, r, r+1)
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		targets := map[int]runeSet{}
		var order []int
		for k := 0; k+1 < len(cuts); k++ {
			lo, hi := cuts[k], cuts[k+1]-1
			if lo >= 0xD800 && hi <= 0xDFFF {
				continue
			}
			var next []int32
			for _, s := range st.nfa {
				for _, e := range a.edges[s] {
					if e.set.has(lo) {
						next = append(next, e.to)
					}
				}
			}
			t := int32(-1)
			if st.trie >= 0 && lo == hi {
				if k, ok := trie[st.trie].kids[lo]; ok {
					t = k
				}
			}
			to, err := intern(a.closure(next), t)
			if err != nil {
				return nil, err
			}
			if _, ok := targets[to]; !ok {
				order = append(order, to)
			}
			targets[to] = targets[to].union(runeSet{{lo, hi}})
		}
		for _, to := range order {
			st.out = append(st.out, keyEdge{targets[to], to})
		}
	}

	// One right-linear grammar per class, over the states that can still
	// reach one of its keys.
	var masks []uint64
	for _, st := range states {
		if !st.named && want(st.mask) && !slices.Contains(masks, st.mask) {
			masks = append(masks, st.mask)
		}
	}
	slices.SortFunc(masks, func(x, y uint64) int {
		if d := bits.OnesCount64(x) - bits.OnesCount64(y); d != 0 {
			return d
		}
		return int(x) - int(y)
	})
	var out []keyClass
	for _, mask := range masks {
		final := func(st *keyState) bool { return !st.named && st.mask == mask }
		live := make([]bool, len(states))
		for changed := true; changed; {
			changed = false
			for i, st := range states {
				if live[i] {
					continue
				}
				if final(st) || slices.ContainsFunc(st.out, func(e keyEdge) bool { return live[e.to] }) {
					live[i], changed = true, true
				}
			}
		}
		if !live[0] {
			continue
		}
		// Merge the states that accept the same keys of the class
		// (Moore's refinement), then write one rule per block.
		block := make([]int, len(states))
		nblocks := 0
		for {
			ids := map[string]int{}
			next := make([]int, len(states))
			for i, st := range states {
				if !live[i] {
					continue
				}
				sig := fmt.Sprint(final(st), block[i], blockEdges(st, block, live))
				id, ok := ids[sig]
				if !ok {
					id = len(ids)
					ids[sig] = id
				}
				next[i] = id
			}
			block = next
			if len(ids) == nblocks {
				break
			}
			nblocks = len(ids)
		}
		rep := make([]int, nblocks)
		for i := len(states) - 1; i >= 0; i-- {
			if live[i] {
				rep[block[i]] = i
			}
		}
		names := make([]string, nblocks)
		for b, i := range rep {
			// A final block with no way on ends the key: it needs no rule.
			if !final(states[i]) || len(blockEdges(states[i], block, live)) > 0 {
				names[b] = c.reserve(hint + "-key")
			}
		}
		for b, i := range rep {
			if names[b] == "" {
				continue
			}
			var alts []string
			for _, e := range blockEdges(states[i], block, live) {
				alts = append(alts, seq(keyChars(e.set), names[e.to]))
			}
			body := alternation(alts)
			if final(states[i]) {
				body = "( " + body + " )?"
			}
			c.rules[names[b]] = body
		}
		out = append(out, keyClass{mask, names[block[0]]})
	}
	return out, nil
}

// blockEdges returns st's moves into live states as moves between blocks,
// one per target block, in block order.
func blockEdges(st *keyState, block []int, live []bool) []keyEdge {
	sets := map[int]runeSet{}
	for _, e := range st.out {
		if live[e.to] {
			sets[block[e.to]] = sets[block[e.to]].union(e.set)
		}
	}
	var out []keyEdge
	for b, set := range sets {
		out = append(out, keyEdge{set, b})
	}
	slices.SortFunc(out, func(x, y keyEdge) int { return x.to - y.to })
	return out
}

// keyChars is the GBNF for one character of set in its canonical JSON
// spelling. The escapes, when all are in, are the common rule cesc.
func keyChars(set runeSet) string {
	plain := set.intersect(plainChars)
	special := set.minus(plainChars)
	var alts []string
	if len(plain) > 0 {
		if rest := plainChars.minus(plain); len(rest) < len(plain) {
			alts = append(alts, classOf(rest, `[^\x00-\x1F"\\`))
		} else if r, ok := plain.single(); ok {
			alts = append(alts, grammar.Quote(string(r)))
		} else {
			alts = append(alts, classOf(plain, "["))
		}
	}
	switch {
	case len(special) == 0:
	case slices.Equal(special, anyChar.minus(plainChars)):
		alts = append(alts, "cesc")
	default:
		alts = append(alts, group(encodeJSONSet(special).gbnf()))
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return "( " + strings.Join(alts, " | ") + " )"
}

// classOf prints a GBNF character class: open, then the ranges of set.
func classOf(set runeSet, open string) string {
	var b strings.Builder
	b.WriteString(open)
	char := func(r rune) {
		switch {
		case r == ']' || r == '\\' || r == '^' || r == '-' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7F:
			fmt.Fprintf(&b, `\x%02X`, r)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	for _, r := range set {
		char(r.lo)
		if r.hi > r.lo {
			if r.hi > r.lo+1 {
				b.WriteByte('-')
			}
			char(r.hi)
		}
	}
	b.WriteByte(']')
	return b.String()
}
