package tokenizer

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// WordPiece, as BERT's tokenizer does it. GGUF vocabularies mark the tokens
// that start a word with "▁" and store continuation pieces bare (BERT's
// "##" removed), so every word is looked up as "▁" + word.

// maxWordChars is the length beyond which a word is [UNK] outright.
const maxWordChars = 100

// encodeWPM normalizes s like BERT's BasicTokenizer (controls dropped,
// white space splits words, punctuation and CJK characters are words of
// their own, accents stripped after canonical decomposition, lower case)
// and encodes each word greedily, longest vocabulary match first.
func (t *Tokenizer) encodeWPM(st *state, dst []int32, s string) []int32 {
	if t.stripAccent {
		s = norm.NFD.String(s)
	}
	word := st.buf[:0]
	flush := func() {
		if len(word) > 0 {
			dst = t.wordPiece(dst, word)
			word = word[:0]
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			flush()
			continue
		case r == 0 || r == utf8.RuneError || isOtherCategory(r):
			continue
		case t.stripAccent && unicode.Is(unicode.Mn, r):
			continue
		}
		if t.lowercase {
			r = unicode.ToLower(r)
		}
		if isBertPunct(r) || isCJK(r) {
			flush()
			word = utf8.AppendRune(word, r)
			flush()
			continue
		}
		word = utf8.AppendRune(word, r)
	}
	flush()
	st.buf = word
	return dst
}

// wordPiece appends the pieces of one word, or [UNK] when it cannot be
// covered by vocabulary entries.
func (t *Tokenizer) wordPiece(dst []int32, word []byte) []int32 {
	start := len(dst)
	if utf8.RuneCount(word) <= maxWordChars {
		w := make([]byte, 0, len(word)+3)
		w = append(append(w, "▁"...), word...)
		for i := 0; i < len(w); {
			matched := false
			for j := min(len(w), i+t.maxTokenLen); j > i; j-- {
				if j < len(w) && !utf8.RuneStart(w[j]) {
					continue
				}
				if id, ok := t.byText[string(w[i:j])]; ok {
					dst = append(dst, id)
					i = j
					matched = true
					break
				}
			}
			if !matched {
				dst = dst[:start]
				break
			}
		}
	}
	if len(dst) == start && t.unk >= 0 {
		dst = append(dst, t.unk)
	}
	return dst
}

// isOtherCategory reports whether r is in Unicode's C categories (control,
// format, private use, surrogate, unassigned), which BERT drops; tab, line
// feed and carriage return are white space instead.
func isOtherCategory(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.C) {
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isBertPunct is BERT's notion of punctuation: Unicode punctuation and the
// ASCII symbols.
func isBertPunct(r rune) bool {
	return unicode.IsPunct(r) || (r < 0x7F && unicode.IsSymbol(r))
}

// isCJK reports whether r is a CJK ideograph, which BERT splits off.
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}
