package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxRepeat bounds the counts of {m,n}, as llama.cpp does: a larger count
// would make a grammar of millions of rules.
const maxRepeat = 2000

// SyntaxError is an error in GBNF source, with the line and column (both
// from 1, the column counted in characters) where it was found.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("grammar: line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// The syntax tree of GBNF source. An expression is a list of alternatives,
// each a sequence of items; an item may repeat.
type (
	expr []seq
	seq  []item
	item struct {
		kind     itemKind
		text     string   // itemLit: the bytes; itemRef: the rule; itemToken: the token's text
		ranges   []rRange // itemClass
		negate   bool     // itemClass, itemToken
		id       int32    // itemToken: the id, or -1 when named by text
		group    expr     // itemGroup
		min, max int      // repetition; max < 0: unbounded
		pos      srcPos   // where the item starts, for errors
		opPos    srcPos   // where its repetition operator is
		repeated bool     // a repetition operator was given
	}
	itemKind uint8
	rRange   struct{ lo, hi rune }
	srcPos   struct{ line, col int }
)

const (
	itemLit itemKind = iota
	itemClass
	itemAny
	itemRef
	itemGroup
	itemToken
)

type ruleDef struct {
	name string
	body expr
	pos  srcPos
}

type parser struct {
	src   string
	off   int
	line  int
	lineS int // offset where the current line starts
	rules []ruleDef

	lastLine, lastOff, lastCol int // the last position posAt gave
}

// posAt returns the line and column of offset off on the current line. It
// counts on from the last position asked for, so that long one-line
// grammars (as JSON schemas make) cost linear time, not quadratic.
func (p *parser) posAt(off int) srcPos {
	if p.lastLine != p.line || off < p.lastOff || p.lastOff < p.lineS {
		p.lastLine, p.lastOff, p.lastCol = p.line, p.lineS, 1
	}
	p.lastCol += utf8.RuneCountInString(p.src[p.lastOff:off])
	p.lastOff = off
	return srcPos{p.line, p.lastCol}
}

func (p *parser) errAt(pos srcPos, format string, args ...any) error {
	return &SyntaxError{Line: pos.line, Col: pos.col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errf(format string, args ...any) error {
	return p.errAt(p.posAt(p.off), format, args...)
}

func (p *parser) peek() byte {
	if p.off < len(p.src) {
		return p.src[p.off]
	}
	return 0
}

func (p *parser) eof() bool { return p.off >= len(p.src) }

// space skips blanks and comments; newlines too when newlines is set.
func (p *parser) space(newlines bool) {
	for p.off < len(p.src) {
		switch c := p.src[p.off]; {
		case c == ' ' || c == '\t':
			p.off++
		case c == '#':
			for p.off < len(p.src) && p.src[p.off] != '\n' {
				p.off++
			}
		case (c == '\n' || c == '\r') && newlines:
			p.newline()
		default:
			return
		}
	}
}

func (p *parser) newline() {
	if p.src[p.off] == '\r' && p.off+1 < len(p.src) && p.src[p.off+1] == '\n' {
		p.off++
	}
	p.off++
	p.line++
	p.lineS = p.off
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func (p *parser) name() string {
	start := p.off
	for p.off < len(p.src) && isWordByte(p.src[p.off]) {
		p.off++
	}
	return p.src[start:p.off]
}

// parseGBNF reads the rules of src.
func parseGBNF(src string) ([]ruleDef, error) {
	if !utf8.ValidString(src) {
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: "source is not valid UTF-8"}
	}
	p := &parser{src: src, line: 1}
	for {
		p.space(true)
		if p.eof() {
			break
		}
		pos := p.posAt(p.off)
		name := p.name()
		if name == "" {
			return nil, p.errf("expected a rule name, found %s", p.describe())
		}
		p.space(false)
		if !strings.HasPrefix(p.src[p.off:], "::=") {
			return nil, p.errf("expected ::= after rule name %q, found %s", name, p.describe())
		}
		p.off += 3
		p.space(true)
		body, err := p.alternatives(false)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, ruleDef{name: name, body: body, pos: pos})
		if !p.eof() {
			if c := p.peek(); c != '\n' && c != '\r' {
				return nil, p.errf("expected the end of the line after rule %q, found %s", name, p.describe())
			}
		}
	}
	return p.rules, nil
}

// describe names what stands at the current position, for errors.
func (p *parser) describe() string {
	if p.eof() {
		return "the end of the grammar"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.off:])
	switch r {
	case '\n', '\r':
		return "the end of the line"
	}
	return strconv.QuoteRune(r)
}

func (p *parser) alternatives(nested bool) (expr, error) {
	var e expr
	for {
		s, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		e = append(e, s)
		if !nested {
			// A rule may go on with "| ..." on the next line.
			off, line, lineS := p.off, p.line, p.lineS
			p.space(true)
			if p.peek() != '|' {
				p.off, p.line, p.lineS = off, line, lineS
			}
		}
		if p.peek() != '|' {
			return e, nil
		}
		p.off++
		p.space(true)
	}
}

func (p *parser) sequence(nested bool) (seq, error) {
	var s seq
	for !p.eof() {
		start := p.off
		pos := p.posAt(start)
		var it item
		switch c := p.peek(); {
		case c == '"':
			p.off++
			lit, err := p.literal()
			if err != nil {
				return nil, err
			}
			it = item{kind: itemLit, text: lit}
		case c == '[':
			p.off++
			it = item{kind: itemClass}
			if p.peek() == '^' {
				p.off++
				it.negate = true
			}
			for {
				if p.eof() {
					return nil, p.errAt(pos, "character class is not closed with ]")
				}
				if p.peek() == ']' {
					p.off++
					break
				}
				lo, err := p.char(true)
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.peek() == '-' && p.off+1 < len(p.src) && p.src[p.off+1] != ']' {
					p.off++
					rp := p.posAt(p.off)
					if hi, err = p.char(true); err != nil {
						return nil, err
					}
					if hi < lo {
						return nil, p.errAt(rp, "range %q-%q is backwards", lo, hi)
					}
				}
				it.ranges = append(it.ranges, rRange{lo, hi})
			}
		case c == '.':
			p.off++
			it = item{kind: itemAny}
		case c == '(':
			p.off++
			p.space(true)
			g, err := p.alternatives(true)
			if err != nil {
				return nil, err
			}
			if p.peek() != ')' {
				return nil, p.errf("expected ) to close the group opened at line %d, column %d, found %s",
					pos.line, pos.col, p.describe())
			}
			p.off++
			it = item{kind: itemGroup, group: g}
		case c == '<' || c == '!' && p.off+1 < len(p.src) && p.src[p.off+1] == '<':
			tok, err := p.token()
			if err != nil {
				return nil, err
			}
			it = tok
		case isWordByte(c):
			// A name followed by ::= starts the next rule: this sequence ends
			// (only possible after a newline, which ends it anyway).
			it = item{kind: itemRef, text: p.name()}
		default:
			return s, nil
		}
		it.pos = pos
		it.min, it.max = 1, 1
		p.space(nested)
		if err := p.repetition(&it, nested); err != nil {
			return nil, err
		}
		s = append(s, it)
	}
	return s, nil
}

// repetition reads a postfix operator, if any, into it.
func (p *parser) repetition(it *item, nested bool) error {
	opPos := p.posAt(p.off)
	switch p.peek() {
	case '*':
		it.min, it.max = 0, -1
	case '+':
		it.min, it.max = 1, -1
	case '?':
		it.min, it.max = 0, 1
	case '{':
		p.off++
		p.space(false)
		m, hasM, err := p.count()
		if err != nil {
			return err
		}
		n := m
		p.space(false)
		if p.peek() == ',' {
			p.off++
			p.space(false)
			var hasN bool
			if n, hasN, err = p.count(); err != nil {
				return err
			}
			if !hasN {
				n = -1
			}
			p.space(false)
		} else if !hasM {
			return p.errf("expected a count in { }, found %s", p.describe())
		}
		if p.peek() != '}' {
			return p.errf("expected } to close the repetition, found %s", p.describe())
		}
		if n >= 0 && n < m {
			return p.errAt(opPos, "repetition {%d,%d}: the maximum is below the minimum", m, n)
		}
		it.min, it.max = m, n
	default:
		return nil
	}
	p.off++
	it.opPos = opPos
	it.repeated = true
	p.space(nested)
	if c := p.peek(); c == '*' || c == '+' || c == '?' || c == '{' {
		return p.errf("a second repetition operator: group the item with ( ) first")
	}
	return nil
}

func (p *parser) count() (n int, ok bool, err error) {
	start := p.off
	for p.off < len(p.src) && p.src[p.off] >= '0' && p.src[p.off] <= '9' {
		p.off++
	}
	if p.off == start {
		return 0, false, nil
	}
	n, err = strconv.Atoi(p.src[start:p.off])
	if err != nil || n > maxRepeat {
		return 0, false, p.errAt(p.posAt(start), "repetition count %s is above the limit of %d", p.src[start:p.off], maxRepeat)
	}
	return n, true, nil
}

func (p *parser) literal() (string, error) {
	start := p.posAt(p.off - 1)
	var b strings.Builder
	for {
		if p.eof() || p.peek() == '\n' || p.peek() == '\r' {
			return "", p.errAt(start, "string literal is not closed with \"")
		}
		if p.peek() == '"' {
			p.off++
			return b.String(), nil
		}
		r, err := p.char(false)
		if err != nil {
			return "", err
		}
		b.WriteRune(r)
	}
}

// char reads one character of a literal or class, with escapes.
func (p *parser) char(inClass bool) (rune, error) {
	pos := p.posAt(p.off)
	if p.eof() {
		return 0, p.errf("unexpected end of the grammar")
	}
	c := p.src[p.off]
	if c == '\n' || c == '\r' {
		if inClass {
			return 0, p.errAt(pos, "character class is not closed with ]")
		}
		return 0, p.errAt(pos, "string literal is not closed with \"")
	}
	if c != '\\' {
		r, size := utf8.DecodeRuneInString(p.src[p.off:])
		p.off += size
		return r, nil
	}
	p.off++
	if p.eof() {
		return 0, p.errAt(pos, "escape at the end of the grammar")
	}
	e := p.src[p.off]
	p.off++
	switch e {
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case '0':
		return 0, nil
	case '\\', '"', '[', ']', '-', '^', '/', '\'', '.', '(', ')', '|', '*', '+', '?', '{', '}', '<', '>', '!', '#', ' ':
		return rune(e), nil
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
		if p.off+n > len(p.src) {
			return 0, p.errAt(pos, "\\%c needs %d hexadecimal digits", e, n)
		}
		v, err := strconv.ParseUint(p.src[p.off:p.off+n], 16, 32)
		if err != nil {
			return 0, p.errAt(pos, "\\%c needs %d hexadecimal digits, found %q", e, n, p.src[p.off:p.off+n])
		}
		p.off += n
		if v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return 0, p.errAt(pos, "\\%c%0*X is not a Unicode scalar value", e, n, v)
		}
		return rune(v), nil
	}
	return 0, p.errAt(pos, "unknown escape \\%c", e)
}

// token reads <[123]>, <text>, !<[123]> or !<text>.
func (p *parser) token() (item, error) {
	pos := p.posAt(p.off)
	it := item{kind: itemToken, id: -1}
	if p.peek() == '!' {
		it.negate = true
		p.off++
	}
	p.off++ // <
	end := strings.IndexByte(p.src[p.off:], '>')
	if nl := strings.IndexAny(p.src[p.off:], "\r\n"); end < 0 || nl >= 0 && nl < end {
		return it, p.errAt(pos, "token reference is not closed with >")
	}
	inner := p.src[p.off : p.off+end]
	p.off += end + 1
	if strings.HasPrefix(inner, "[") && strings.HasSuffix(inner, "]") {
		id, err := strconv.ParseInt(inner[1:len(inner)-1], 10, 32)
		if err != nil || id < 0 {
			return it, p.errAt(pos, "token reference <%s> needs a token id, a number ≥ 0", inner)
		}
		it.id = int32(id)
		return it, nil
	}
	if inner == "" {
		return it, p.errAt(pos, "empty token reference <>")
	}
	// <think> names the token whose text is "<think>".
	it.text = "<" + inner + ">"
	return it, nil
}
