package grammar

import (
	"fmt"
	"strings"
	"unicode"
)

// Spelling text in GBNF, for code that writes grammars.

// Quote writes s as a GBNF string literal.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(Char(r))
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ClassChar writes r for use inside a character class.
func ClassChar(r rune) string {
	switch r {
	case ']', '\\', '-', '^':
		return `\` + string(r)
	}
	return Char(r)
}

// Char spells r for a literal or a class: itself when visible, else an
// escape (\n \r \t, \xHH, \uHHHH or \UHHHHHHHH).
func Char(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	switch {
	case r >= 0x20 && r < 0x7F:
		return string(r)
	case r < 0x80:
		return fmt.Sprintf(`\x%02X`, r)
	case r <= 0xFFFF && (!unicode.IsPrint(r) || unicode.Is(unicode.Mn, r)):
		return fmt.Sprintf(`\u%04X`, r)
	case !unicode.IsPrint(r) || unicode.Is(unicode.Mn, r):
		return fmt.Sprintf(`\U%08X`, r)
	}
	return string(r)
}
