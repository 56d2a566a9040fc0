package chat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file rewrites a Jinja template into an equivalent one that
// github.com/ardanlabs/jinja renders the way Python's jinja2 does.
//
// Whitespace control is the main reason. jinja2 (as configured by Hugging
// Face: trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
// decides whitespace in its lexer; ardanlabs/jinja approximates that after
// scanning, with differences that change prompts:
//
//   - a "-" marker trims the nearest text even when another tag sits in
//     between: `Hello {{ name }}{%- if x %}` loses the space after "Hello"
//     (jinja2 only trims text that touches the tag);
//   - lstrip_blocks strips the spaces before a block tag that is not the
//     first thing on its line: `{{ 'a' }}  {% if x %}` loses them (jinja2
//     tracks whether a line has started);
//   - `{%+` and `+%}` are not understood (the first drops the block's output,
//     the second does not parse);
//   - CR LF and CR are not turned into LF, and the template's final newline
//     is kept.
//
// So preprocess runs jinja2's lexer rules itself (a port of
// jinja2.lexer.Lexer.tokeniter for the default delimiters) and emits a
// template in which every piece of literal text, already trimmed, is a
// string-literal output tag ({{ '...' }}): with no raw text left, the
// library's own trimming has nothing to act on. Tags are copied without
// their -/+ markers, comments are dropped and {% raw %} bodies become
// literals. Newlines that trimming removed are put back inside empty
// comments, so line numbers in the library's error messages still point into
// the original template.
//
// Inside tags:
//
//   - string literals are re-encoded: jinja2 decodes them with Python's
//     unicode-escape codec (\r, \x41, \u00e9, \U0001F600, octal, \a ...), the
//     library only knows \n \t \\ \' \"; we decode the Python way and write
//     the result with only the escapes the library reads;
//   - the expression of each {{ ... }} is wrapped in __ondo_str(...), our
//     Python str(), and the filters tojson, trim, string and dictsort and the
//     string methods strip, lstrip, rstrip, split and rsplit are redirected to our
//     implementations (filterOverrides, methodOverrides; x.strip(...) becomes
//     x|__ondo_strip(...), which the library's grammar evaluates the same
//     way). The library's built-in filters cannot be replaced from outside
//     it, but it looks up unknown filter names among the template variables,
//     where Render puts ours. See pyvalue.go and tojson.go for what differs.
//
// Scopes: in jinja2 each iteration of a for loop starts from the variables
// of the enclosing scope, so a {% set %} in the loop body does not reach
// the next iteration; the library keeps one scope for all iterations. For
// every variable a loop body sets, the rewrite saves the enclosing value
// before the loop ({% set __ondo_sN = x %}, undefined when x is) and
// restores it at the start of each iteration (see loopScopes).

// Names of our filters in the rewritten template (see pyvalue.go).
const (
	tojsonName = "__ondo_tojson"
	strName    = "__ondo_str"
)

// filterOverrides maps filters we replace to our versions.
var filterOverrides = map[string]string{
	"tojson":   tojsonName,
	"trim":     "__ondo_trim",
	"string":   "__ondo_string",
	"dictsort": "__ondo_dictsort",
}

// methodOverrides maps string methods we replace to the filters that
// implement them.
var methodOverrides = map[string]string{
	"strip":  "__ondo_strip",
	"lstrip": "__ondo_lstrip",
	"rstrip": "__ondo_rstrip",
	"split":  "__ondo_split",
	"rsplit": "__ondo_rsplit",
}

// SyntaxError is a template that cannot be compiled. Line and Col are 1-based
// positions in the template source when known, or zero.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("chat: template: line %d, col %d: %s", e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("chat: template: line %d: %s", e.Line, e.Msg)
	}
	return "chat: template: " + e.Msg
}

// isPySpace reports whether r is whitespace for Python's str.isspace and
// the re module's \s, which jinja2's lexer uses.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// rstripPy is Python's str.rstrip().
func rstripPy(s string) string {
	return strings.TrimRightFunc(s, isPySpace)
}

// spanSpace returns the length of the run of Python whitespace at the start
// of s.
func spanSpace(s string) int {
	for i, r := range s {
		if !isPySpace(r) {
			return i
		}
	}
	return len(s)
}

// normalizeNewlines turns \r\n and \r into \n and drops one trailing newline,
// as jinja2 does with keep_trailing_newline=False.
func normalizeNewlines(src string) string {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return strings.TrimSuffix(src, "\n")
}

type lexer struct {
	src     string
	out     strings.Builder
	outLine int // newlines written to out
	scopes  loopScopes
}

// preprocess rewrites src as described at the top of this file.
func preprocess(src string) (string, error) {
	lx := &lexer{src: normalizeNewlines(src)}
	if err := lx.run(); err != nil {
		return "", err
	}
	lx.padTo(len(lx.src))
	return lx.scopes.apply(lx.out.String()), nil
}

// pos converts a byte offset into a 1-based line and column (in runes).
func (lx *lexer) pos(off int) (int, int) {
	before := lx.src[:off]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndexByte(before, '\n')+1:]) + 1
	return line, col
}

func (lx *lexer) errorf(off int, format string, args ...any) error {
	line, col := lx.pos(off)
	return &SyntaxError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// padTo writes an empty comment holding enough newlines for the output to
// reach the line of src offset off.
func (lx *lexer) padTo(off int) {
	want := strings.Count(lx.src[:off], "\n")
	if want > lx.outLine {
		lx.out.WriteString("{#")
		lx.out.WriteString(strings.Repeat("\n", want-lx.outLine))
		lx.out.WriteString("#}")
		lx.outLine = want
	}
}

func (lx *lexer) write(s string) {
	lx.out.WriteString(s)
	lx.outLine += strings.Count(s, "\n")
}

// writeText emits literal template text as a string-literal output tag.
func (lx *lexer) writeText(s string) {
	if s == "" {
		return
	}
	lx.write("{{ '")
	lx.write(quoteLit(s))
	lx.write("' }}")
}

// quoteLit escapes s for a single-quoted ardanlabs/jinja string literal: only
// backslash and the quote need escaping, every other byte (newlines
// included) is taken literally by the library's tokenizer.
func quoteLit(s string) string {
	if !strings.ContainsAny(s, `\'`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

const (
	tagVar = iota
	tagBlock
	tagComment
	tagRaw
)

// run is the port of jinja2's tokeniter root loop.
func (lx *lexer) run() error {
	src := lx.src
	pos := 0
	lineStarting := true
	for pos < len(src) {
		// Find the next tag opener.
		i := pos
		kind := -1
		for ; i+1 < len(src); i++ {
			if src[i] != '{' {
				continue
			}
			switch src[i+1] {
			case '{':
				kind = tagVar
			case '%':
				kind = tagBlock
			case '#':
				kind = tagComment
			}
			if kind >= 0 {
				break
			}
		}
		if kind < 0 {
			lx.writeText(src[pos:])
			return nil
		}
		text := src[pos:i]
		j := i + 2
		sign := byte(0)
		if j < len(src) && (src[j] == '-' || src[j] == '+') {
			sign = src[j]
			j++
		}
		rawEnd := 0
		if kind == tagBlock {
			if e, ok := matchRawBegin(src, i); ok {
				kind, rawEnd = tagRaw, e
			}
		}

		// Whitespace before the tag.
		switch {
		case sign == '-':
			text = rstripPy(text)
		case sign != '+' && kind != tagVar:
			lpos := strings.LastIndexByte(text, '\n') + 1
			if lpos > 0 || lineStarting {
				if rest := text[lpos:]; rest != "" && spanSpace(rest) == len(rest) {
					text = text[:lpos]
				}
			}
		}
		lx.writeText(text)
		lx.padTo(i)

		var err error
		switch kind {
		case tagComment:
			pos, err = lx.comment(i, j)
		case tagRaw:
			pos, err = lx.raw(i, rawEnd)
		default:
			pos, err = lx.tag(i, j, kind)
		}
		if err != nil {
			return err
		}
		lineStarting = pos > 0 && src[pos-1] == '\n'
	}
	return nil
}

// matchRawBegin matches jinja2's `{%[-+]?\s*raw\s*(?:-%}\s*|%})` at i and
// returns the offset after it.
func matchRawBegin(src string, i int) (int, bool) {
	j := i + 2
	if j < len(src) && (src[j] == '-' || src[j] == '+') {
		j++
	}
	j += spanSpace(src[j:])
	if !strings.HasPrefix(src[j:], "raw") {
		return 0, false
	}
	j += 3
	j += spanSpace(src[j:])
	switch {
	case strings.HasPrefix(src[j:], "-%}"):
		j += 3
		return j + spanSpace(src[j:]), true
	case strings.HasPrefix(src[j:], "%}"):
		return j + 2, true
	}
	return 0, false
}

// comment skips a {# ... #} comment starting at i (body at j) and returns the
// offset after it and the whitespace its end marker consumes.
func (lx *lexer) comment(i, j int) (int, error) {
	src := lx.src
	for p := j; p+1 < len(src); p++ {
		switch {
		case src[p] == '+' && strings.HasPrefix(src[p+1:], "#}"):
			return p + 3, nil
		case src[p] == '-' && strings.HasPrefix(src[p+1:], "#}"):
			p += 3
			return p + spanSpace(src[p:]), nil
		case src[p] == '#' && src[p+1] == '}':
			p += 2
			if p < len(src) && src[p] == '\n' {
				p++
			}
			return p, nil
		}
	}
	return 0, lx.errorf(i, "missing end of comment tag")
}

// raw emits the body of a {% raw %} block whose opening tag ends at j.
func (lx *lexer) raw(i, j int) (int, error) {
	src := lx.src
	for p := j; p+1 < len(src); p++ {
		if src[p] != '{' || src[p+1] != '%' {
			continue
		}
		q := p + 2
		sign := byte(0)
		if q < len(src) && (src[q] == '-' || src[q] == '+') {
			sign = src[q]
			q++
		}
		q += spanSpace(src[q:])
		if !strings.HasPrefix(src[q:], "endraw") {
			continue
		}
		q += len("endraw")
		q += spanSpace(src[q:])
		end := 0
		switch {
		case strings.HasPrefix(src[q:], "+%}"):
			end = q + 3
		case strings.HasPrefix(src[q:], "-%}"):
			end = q + 3
			end += spanSpace(src[end:])
		case strings.HasPrefix(src[q:], "%}"):
			end = q + 2
			if end < len(src) && src[end] == '\n' {
				end++
			}
		default:
			continue
		}
		text := src[j:p]
		// The endraw tag is a block tag: same whitespace rules as in run,
		// with line_starting taken from the end of the raw opening tag.
		switch {
		case sign == '-':
			text = rstripPy(text)
		case sign != '+':
			lpos := strings.LastIndexByte(text, '\n') + 1
			if lpos > 0 || src[j-1] == '\n' {
				if rest := text[lpos:]; rest != "" && spanSpace(rest) == len(rest) {
					text = text[:lpos]
				}
			}
		}
		lx.writeText(text)
		return end, nil
	}
	return 0, lx.errorf(i, "missing end of raw directive")
}

// tag copies a {{ ... }} or {% ... %} tag starting at i (contents at j),
// rewriting string literals, overridden filters and string methods, and
// wrapping the expression of a {{ ... }} tag in our str(); it returns the
// offset after the tag, including the whitespace its end marker consumes.
func (lx *lexer) tag(i, j, kind int) (int, error) {
	src := lx.src
	var body []byte
	var stack []byte
	const (
		tokOther = iota
		tokPipe
		tokDot
	)
	prev, prevAt := tokOther, 0 // the previous token and where it is in body
	p := j
	for {
		if p >= len(src) {
			if kind == tagVar {
				return 0, lx.errorf(i, "unexpected end of template, expected '}}'")
			}
			return 0, lx.errorf(i, "unexpected end of template, expected '%%}'")
		}
		if len(stack) == 0 {
			if end, ok := matchTagEnd(src, p, kind); ok {
				if strings.TrimFunc(string(body), isPySpace) == "" {
					if kind == tagVar {
						return 0, lx.errorf(i, "expected an expression")
					}
					return 0, lx.errorf(i, "tag name expected")
				}
				if kind == tagVar {
					lx.write("{{ " + strName + "(")
					lx.write(string(body))
					lx.write(") }}")
				} else {
					before := lx.out.Len()
					lx.write("{% ")
					lx.write(string(body))
					lx.write(" %}")
					lx.scopes.block(string(body), before, lx.out.Len())
				}
				return end, nil
			}
		}
		c := src[p]
		switch {
		case c == '\'' || c == '"':
			lit, next, err := lx.stringLit(p)
			if err != nil {
				return 0, err
			}
			body = append(body, '\'')
			body = append(body, lit...)
			body = append(body, '\'')
			p = next
			prev = tokOther
			continue
		case c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z'):
			q := p + 1
			for q < len(src) && (src[q] == '_' || (src[q]|0x20 >= 'a' && src[q]|0x20 <= 'z') || (src[q] >= '0' && src[q] <= '9')) {
				q++
			}
			name := src[p:q]
			switch {
			case prev == tokPipe && filterOverrides[name] != "":
				name = filterOverrides[name]
			case prev == tokDot && methodOverrides[name] != "":
				if r := q + spanSpace(src[q:]); r < len(src) && src[r] == '(' {
					body[prevAt] = '|' // x.strip(...) becomes x|__ondo_strip(...)
					name = methodOverrides[name]
				}
			}
			body = append(body, name...)
			p = q
			prev = tokOther
			continue
		case c >= '0' && c <= '9':
			q := p + 1
			for q < len(src) && (src[q] == '_' || src[q] == '.' || (src[q]|0x20 >= 'a' && src[q]|0x20 <= 'z') || (src[q] >= '0' && src[q] <= '9')) {
				q++
			}
			body = append(body, src[p:q]...)
			p = q
			prev = tokOther
			continue
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, map[byte]byte{'(': ')', '[': ']', '{': '}'}[c])
		case c == ')' || c == ']' || c == '}':
			if len(stack) == 0 {
				return 0, lx.errorf(p, "unexpected '%c'", c)
			}
			if want := stack[len(stack)-1]; want != c {
				return 0, lx.errorf(p, "unexpected '%c', expected '%c'", c, want)
			}
			stack = stack[:len(stack)-1]
		}
		r, size := utf8.DecodeRuneInString(src[p:])
		if isPySpace(r) {
			n := spanSpace(src[p:])
			body = append(body, src[p:p+n]...)
			p += n
			continue
		}
		switch c {
		case '|':
			prev, prevAt = tokPipe, len(body)
		case '.':
			prev, prevAt = tokDot, len(body)
		default:
			prev = tokOther
		}
		body = append(body, src[p:p+size]...)
		p += size
	}
}

// matchTagEnd matches the end of a variable or block tag at p and returns the
// offset after it, including the whitespace that "-" and trim_blocks remove.
func matchTagEnd(src string, p, kind int) (int, bool) {
	closer := "}}"
	if kind == tagBlock {
		closer = "%}"
		if src[p] == '+' && strings.HasPrefix(src[p+1:], closer) {
			return p + 3, true
		}
	}
	if src[p] == '-' && strings.HasPrefix(src[p+1:], closer) {
		p += 3
		return p + spanSpace(src[p:]), true
	}
	if strings.HasPrefix(src[p:], closer) {
		p += 2
		if kind == tagBlock && p < len(src) && src[p] == '\n' {
			p++
		}
		return p, true
	}
	return 0, false
}

// stringLit decodes the jinja2 string literal starting at src[p] (a quote)
// the way jinja2 does (Python's unicode-escape codec) and returns it encoded
// for a single-quoted ardanlabs/jinja literal, and the offset after it.
// Literal newlines stay literal so that line numbers are kept.
func (lx *lexer) stringLit(p int) (string, int, error) {
	src := lx.src
	quote := src[p]
	var b strings.Builder
	put := func(r rune) {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		default:
			if r >= 0xD800 && r <= 0xDFFF {
				r = utf8.RuneError // a lone surrogate cannot be UTF-8
			}
			b.WriteRune(r)
		}
	}
	q := p + 1
	for q < len(src) {
		c := src[q]
		switch {
		case c == quote:
			return b.String(), q + 1, nil
		case c == '\'':
			b.WriteString(`\'`)
			q++
		case c != '\\':
			b.WriteByte(c)
			q++
		case q+1 >= len(src):
			q++
		default:
			e := src[q+1]
			q += 2
			switch e {
			case '\n':
				// Line continuation: removed.
			case '\\', '\'', '"':
				put(rune(e))
			case 'n':
				b.WriteString(`\n`)
			case 't':
				b.WriteString(`\t`)
			case 'r':
				put('\r')
			case 'a':
				put(7)
			case 'b':
				put(8)
			case 'f':
				put(12)
			case 'v':
				put(11)
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := rune(e - '0')
				for k := 0; k < 2 && q < len(src) && src[q] >= '0' && src[q] <= '7'; k++ {
					v = v*8 + rune(src[q]-'0')
					q++
				}
				put(v)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if q+n > len(src) {
					return "", 0, lx.errorf(q-2, "invalid \\%c escape in string literal", e)
				}
				v, err := strconv.ParseUint(src[q:q+n], 16, 32)
				if err != nil || v > unicode.MaxRune {
					return "", 0, lx.errorf(q-2, "invalid \\%c escape in string literal", e)
				}
				put(rune(v))
				q += n
			case 'N':
				return "", 0, lx.errorf(q-2, `\N{...} escapes are not supported`)
			default:
				// Unknown escapes keep their backslash, as in Python.
				b.WriteString(`\\`)
				q--
			}
		}
	}
	return "", 0, lx.errorf(p, "unterminated string literal")
}
