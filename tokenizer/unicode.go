package tokenizer

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// kind is the coarse class of a character that the GPT-2 family of
// pre-tokenizer patterns cares about: \p{L}, \p{N}, \s, or anything else.
type kind uint8

const (
	kOther kind = iota
	kLetter
	kNumber
	kSpace
)

var (
	bmpOnce  sync.Once
	bmpKinds []kind // kind of every code point below 0x10000
)

func buildBMP() {
	t := make([]kind, 0x10000)
	for r := rune(0); r < 0x10000; r++ {
		t[r] = slowKind(r)
	}
	bmpKinds = t
}

// slowKind classifies r with the unicode package's tables. The three sets
// are disjoint: no white-space character is a letter or a number.
func slowKind(r rune) kind {
	switch {
	case unicode.IsLetter(r):
		return kLetter
	case unicode.IsNumber(r):
		return kNumber
	case unicode.IsSpace(r):
		return kSpace
	}
	return kOther
}

// asciiKinds classifies the ASCII range without touching the big table.
var asciiKinds = func() (t [128]kind) {
	for r := rune(0); r < 128; r++ {
		t[r] = slowKind(r)
	}
	return t
}()

// kindOf classifies r. The Basic Multilingual Plane is served from a table
// built on first use; the rare astral characters go to the unicode tables.
func kindOf(r rune) kind {
	if r < 128 {
		return asciiKinds[r]
	}
	if r < 0x10000 {
		bmpOnce.Do(buildBMP)
		return bmpKinds[r]
	}
	return slowKind(r)
}

// next decodes the character of s at i, which must be < len(s). s must be
// valid UTF-8 (Encode replaces invalid bytes first).
func next(s string, i int) (kind, rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiKinds[c], rune(c), 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return kindOf(r), r, n
}

// sanitize returns s with every byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD, one replacement per byte, the way Go's own
// decoder and llama.cpp's pre-tokenizer read invalid input.
func sanitize(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// appendValid appends p to dst with every byte that is not part of a valid
// UTF-8 sequence replaced by U+FFFD.
func appendValid(dst, p []byte) []byte {
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			dst = append(dst, p[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && n == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, p[i:i+n]...)
		}
		i += n
	}
	return dst
}

// GPT-2's byte-level BPE stores every byte as a printable character: the
// printable Latin-1 bytes stand for themselves and the other 68 bytes are
// mapped, in order, to U+0100 and up. byteRune maps a byte to its character;
// runeByte is the inverse.
var byteRune, runeByte = func() (br [256]rune, rb map[rune]byte) {
	rb = make(map[rune]byte, 256)
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			br[b] = rune(b)
		} else {
			br[b] = 256 + n
			n++
		}
		rb[br[b]] = byte(b)
	}
	return br, rb
}()

// unByteLevel decodes a byte-level BPE string to the bytes it stands for.
// ok is false when s holds a character outside the 256 byte characters.
func unByteLevel(s string) (b []byte, ok bool) {
	b = make([]byte, 0, len(s))
	for _, r := range s {
		c, found := runeByte[r]
		if !found {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}
