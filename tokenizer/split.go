package tokenizer

// Hand-written splitters for the two pre-tokenizer patterns nearly every
// byte-level BPE model uses. Each follows its regular expression exactly
// (leftmost-first alternation, greedy repetition, the look-ahead of
// `\s+(?!\S)`), so that it gives the same pieces as the regex engine: the
// tests and a fuzz target compare the two on the same inputs. They exist for
// speed; a backtracking regex engine manages less than the 20 MB/s the
// tokenizer has to reach.

// gpt2Pattern is GPT-2's pattern as llama.cpp and Hugging Face use it; the
// original's final `|\s+` is left out because a lone white-space character
// the other alternatives cannot take becomes a piece of its own anyway.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`

// llama3Pattern is Llama 3's pattern with the case-insensitive group written
// out as character classes; qwen2Pattern differs only in taking single
// digits.
const (
	llama3Pattern = llama3Head + `|\s+(?!\S)|\s+`
	qwen2Pattern  = contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// contraction returns the length of the English contraction ('s, 't, 're,
// 've, 'm, 'll, 'd) at s[i], which holds an apostrophe, or 0. With fold the
// letters may be upper case.
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch lower(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < len(s) && lower(s[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < len(s) && lower(s[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// runEnd returns the end of the run of characters of kind k starting at i.
func runEnd(s string, i int, k kind) int {
	for i < len(s) {
		k2, _, n := next(s, i)
		if k2 != k {
			break
		}
		i += n
	}
	return i
}

// spaceRun scans the white space starting at i. It returns the end of the
// run, the start of its last character, and the end of its last \r or \n
// (0 when it has none).
func spaceRun(s string, i int) (end, last, nl int) {
	for i < len(s) {
		k, r, n := next(s, i)
		if k != kSpace {
			break
		}
		if r == '\r' || r == '\n' {
			nl = i + n
		}
		last = i
		i += n
	}
	return i, last, nl
}

// gpt2Splitter implements gpt2Pattern.
type gpt2Splitter struct{}

func (gpt2Splitter) next(s string, i int) int {
	k, r, n := next(s, i)
	if r == '\'' {
		if c := contraction(s, i, false); c > 0 {
			return i + c
		}
	}
	if r == ' ' && i+n < len(s) {
		// ` ?\p{L}+`, ` ?\p{N}+` and ` ?[^\s\p{L}\p{N}]+` take a
		// leading space.
		if k2, _, n2 := next(s, i+n); k2 != kSpace {
			return runEnd(s, i+n+n2, k2)
		}
	}
	if k != kSpace {
		return runEnd(s, i+n, k)
	}
	end, last, _ := spaceRun(s, i)
	if end == len(s) || last == i {
		// `\s+(?!\S)` up to the end of the text, or a single white-space
		// character before a non-space, which no alternative takes and
		// which becomes a piece of its own.
		return end
	}
	// `\s+(?!\S)` backs off one character so that the last one can lead
	// the next piece.
	return last
}

func (gpt2Splitter) split(s string, dst []int) []int { return splitAll(gpt2Splitter{}, s, dst) }

// llama3Splitter implements llama3Pattern (digits 3) and qwen2Pattern
// (digits 1).
type llama3Splitter struct{ digits int }

func (sp llama3Splitter) next(s string, i int) int {
	k, r, n := next(s, i)
	if r == '\'' {
		if c := contraction(s, i, true); c > 0 {
			return i + c
		}
	}
	// `[^\r\n\p{L}\p{N}]?\p{L}+`
	if k == kLetter {
		return runEnd(s, i+n, kLetter)
	}
	if k != kNumber && r != '\r' && r != '\n' && i+n < len(s) {
		if k2, _, n2 := next(s, i+n); k2 == kLetter {
			return runEnd(s, i+n+n2, kLetter)
		}
	}
	// `\p{N}{1,3}`
	if k == kNumber {
		j := i + n
		for d := 1; d < sp.digits && j < len(s); d++ {
			k2, _, n2 := next(s, j)
			if k2 != kNumber {
				break
			}
			j += n2
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	j := -1
	if k == kOther {
		j = i + n
	} else if r == ' ' && i+n < len(s) {
		if k2, _, n2 := next(s, i+n); k2 == kOther {
			j = i + n + n2
		}
	}
	if j >= 0 {
		j = runEnd(s, j, kOther)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	// k is kSpace from here on.
	end, last, nl := spaceRun(s, i)
	switch {
	case nl > 0: // `\s*[\r\n]+`
		return nl
	case end == len(s) || last == i: // `\s+(?!\S)` to the end, or `\s+`
		return end
	}
	return last // `\s+(?!\S)`
}

func (sp llama3Splitter) split(s string, dst []int) []int { return splitAll(sp, s, dst) }

// nexter is a splitter that finds one piece at a time.
type nexter interface {
	next(s string, i int) int
}

func splitAll(sp nexter, s string, dst []int) []int {
	for i := 0; i < len(s); {
		i = sp.next(s, i)
		dst = append(dst, i)
	}
	return dst
}

// digitSplitter implements `\p{N}`: every number character is a piece of
// its own, and so is every run of other characters between them.
type digitSplitter struct{}

func (digitSplitter) next(s string, i int) int {
	k, _, n := next(s, i)
	if k == kNumber {
		return i + n
	}
	for j := i + n; j < len(s); {
		k, _, n := next(s, j)
		if k == kNumber {
			return j
		}
		j += n
	}
	return len(s)
}

func (digitSplitter) split(s string, dst []int) []int { return splitAll(digitSplitter{}, s, dst) }
