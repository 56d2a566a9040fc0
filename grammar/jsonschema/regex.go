package jsonschema

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/grammar"
)

// This file turns an ECMAScript regular expression (a JSON Schema "pattern")
// into a GBNF expression for the JSON text between a string's quotes.
//
// The work happens on two levels. The parser builds an rx over the string's
// value: one node per character class, repetition, alternation. encodeJSON then
// rewrites every character class into what the value's characters look like
// inside a JSON string — `"` becomes the two characters \" and so on — giving
// an rx over the content text, which emitRx prints as GBNF. The same rx type,
// smart constructors and printer serve the number grammars in numrange.go.
//
// Supported: literals, escapes (\d \D \w \W \s \S with ECMAScript meanings,
// \t \n \r \f \v \0 \cX \xHH \uHHHH \u{H…} and escaped punctuation), `.`,
// classes with ranges, negation and escapes, groups (capturing, (?:…) and
// named (?<n>…), all plain groups), alternation, the quantifiers * + ? {m}
// {m,} {m,n} and their lazy forms (same language), and ^ $ at the very start
// and end of the pattern or of a top-level alternative. Characters are code
// points, as with ECMAScript's u flag (and Go's regexp). Refused, with an
// error naming the construct: backreferences, lookaround, \b \B, \p{…}, flag
// groups, anchors anywhere else, legacy octal escapes, escapes of letters and
// digits that have no meaning, and bounds above maxRepeat.

// maxRepeat is the largest quantifier bound a pattern may use.
const maxRepeat = 1000

// maxExpansion bounds how large a pattern may become once the grammar
// engine spells out its counted repetitions (see rxExpansion).
const maxExpansion = 200_000

// maxGBNF bounds the length of any expression this package returns.
const maxGBNF = 1 << 18

// A runeRange is the closed code point interval [lo, hi].
type runeRange struct{ lo, hi rune }

// A runeSet is a set of code points: sorted, disjoint, non-adjacent ranges.
type runeSet []runeRange

// newSet returns the set of the union of rs.
func newSet(rs ...runeRange) runeSet {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b runeRange) int { return int(a.lo) - int(b.lo) })
	out := s[:0]
	for _, r := range s {
		if r.lo > r.hi {
			continue
		}
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return runeSet(out)
}

// runesOf returns the set of the given code points.
func runesOf(rs ...rune) runeSet {
	s := make([]runeRange, len(rs))
	for i, r := range rs {
		s[i] = runeRange{r, r}
	}
	return newSet(s...)
}

func (s runeSet) union(t runeSet) runeSet { return newSet(append(slices.Clone(s), t...)...) }

// complementAll returns every code point in [0, unicode.MaxRune] not in s.
func (s runeSet) complementAll() runeSet {
	var out runeSet
	next := rune(0)
	for _, r := range s {
		if r.lo > next {
			out = append(out, runeRange{next, r.lo - 1})
		}
		next = r.hi + 1
	}
	if next <= unicode.MaxRune {
		out = append(out, runeRange{next, unicode.MaxRune})
	}
	return out
}

func (s runeSet) intersect(t runeSet) runeSet {
	var out []runeRange
	for i, j := 0, 0; i < len(s) && j < len(t); {
		lo, hi := max(s[i].lo, t[j].lo), min(s[i].hi, t[j].hi)
		if lo <= hi {
			out = append(out, runeRange{lo, hi})
		}
		if s[i].hi < t[j].hi {
			i++
		} else {
			j++
		}
	}
	return out
}

func (s runeSet) minus(t runeSet) runeSet { return s.intersect(t.complementAll()) }

func (s runeSet) has(r rune) bool {
	_, found := slices.BinarySearchFunc(s, r, func(x runeRange, r rune) int {
		switch {
		case x.hi < r:
			return -1
		case x.lo > r:
			return 1
		}
		return 0
	})
	return found
}

// single returns the set's only member, if it has exactly one.
func (s runeSet) single() (rune, bool) {
	if len(s) == 1 && s[0].lo == s[0].hi {
		return s[0].lo, true
	}
	return 0, false
}

var (
	surrogates = runeSet{{0xD800, 0xDFFF}}
	// anyChar is every character a string can hold: surrogate code points
	// are not characters and UTF-8 cannot carry them.
	anyChar = surrogates.complementAll()
	// plainChars are the characters a canonical JSON string writes as
	// themselves: everything but controls, `"` and `\`.
	plainChars = anyChar.minus(newSet(runeRange{0, 0x1F}, runeRange{'"', '"'}, runeRange{'\\', '\\'}))

	digitSet   = newSet(runeRange{'0', '9'})
	wordSet    = newSet(runeRange{'0', '9'}, runeRange{'A', 'Z'}, runeRange{'_', '_'}, runeRange{'a', 'z'})
	lineEnds   = runesOf('\n', '\r', 0x2028, 0x2029)
	dotSet     = anyChar.minus(lineEnds)
	spaceChars = newSet( // ECMAScript WhiteSpace and LineTerminator
		runeRange{'\t', '\r'}, runeRange{' ', ' '}, runeRange{0xA0, 0xA0}, runeRange{0x1680, 0x1680},
		runeRange{0x2000, 0x200A}, runeRange{0x2028, 0x2029}, runeRange{0x202F, 0x202F},
		runeRange{0x205F, 0x205F}, runeRange{0x3000, 0x3000}, runeRange{0xFEFF, 0xFEFF})
)

// rxOp is the kind of an rx node.
type rxOp uint8

const (
	opNone  rxOp = iota // matches nothing
	opEmpty             // matches only the empty string
	opSet               // one character of set
	opCat               // sub[0] then sub[1] …
	opAlt               // any of sub
	opRep               // sub[0] repeated min to max times (max < 0: unbounded)
)

// An rx is a regular expression. Build it only through the constructors
// below: they keep it simplified, and in particular they never repeat
// anything that can match the empty string, which GBNF refuses.
type rx struct {
	op       rxOp
	set      runeSet
	sub      []*rx
	min, max int
	size     int    // nodes in the tree
	k        string // key, cached
}

// mkRx makes an rx node of kind op over subs.
func mkRx(op rxOp, subs ...*rx) *rx {
	x := &rx{op: op, sub: subs, size: 1}
	for _, s := range subs {
		x.size += s.size
	}
	return x
}

var (
	rxNone  = &rx{op: opNone, size: 1}
	rxEmpty = &rx{op: opEmpty, size: 1}
)

func setRx(s runeSet) *rx {
	if len(s) == 0 {
		return rxNone
	}
	return &rx{op: opSet, set: s, size: 1}
}

func runeRx(r rune) *rx { return setRx(runesOf(r)) }

// litRx matches the string s.
func litRx(s string) *rx {
	var xs []*rx
	for _, r := range s {
		xs = append(xs, runeRx(r))
	}
	return catRx(xs...)
}

// key identifies x's structure: equal keys, equal expressions.
func (x *rx) key() string {
	if x.k != "" {
		return x.k
	}
	var b strings.Builder
	switch x.op {
	case opNone:
		b.WriteString("!")
	case opEmpty:
		b.WriteString("e")
	case opSet:
		b.WriteString("[")
		for _, r := range x.set {
			fmt.Fprintf(&b, "%x-%x,", r.lo, r.hi)
		}
		b.WriteString("]")
	case opCat, opAlt:
		b.WriteString(map[rxOp]string{opCat: "(c", opAlt: "(a"}[x.op])
		for _, s := range x.sub {
			b.WriteString(" ")
			b.WriteString(s.key())
		}
		b.WriteString(")")
	case opRep:
		fmt.Fprintf(&b, "(r%d,%d %s)", x.min, x.max, x.sub[0].key())
	}
	x.k = b.String()
	return x.k
}

func rxNullable(x *rx) bool {
	switch x.op {
	case opEmpty:
		return true
	case opCat:
		for _, s := range x.sub {
			if !rxNullable(s) {
				return false
			}
		}
		return true
	case opAlt:
		return slices.ContainsFunc(x.sub, rxNullable)
	case opRep:
		return x.min == 0 || rxNullable(x.sub[0])
	}
	return false
}

// rxNonEmpty returns an expression for x's language without the empty string.
func rxNonEmpty(x *rx) *rx {
	if !rxNullable(x) {
		return x
	}
	switch x.op {
	case opCat: // all parts nullable: the first part non-empty, or it is empty and the rest is not
		rest := catRx(x.sub[1:]...)
		return altRx(catRx(rxNonEmpty(x.sub[0]), rest), rxNonEmpty(rest))
	case opAlt:
		subs := make([]*rx, len(x.sub))
		for i, s := range x.sub {
			subs[i] = rxNonEmpty(s)
		}
		return altRx(subs...)
	case opRep:
		return repRx(rxNonEmpty(x.sub[0]), 1, x.max)
	}
	return rxNone
}

func catRx(xs ...*rx) *rx {
	var subs []*rx
	for _, x := range xs {
		switch x.op {
		case opNone:
			return rxNone
		case opEmpty:
		case opCat:
			subs = append(subs, x.sub...)
		default:
			subs = append(subs, x)
		}
	}
	subs = mergeRuns(subs)
	switch len(subs) {
	case 0:
		return rxEmpty
	case 1:
		return subs[0]
	}
	return mkRx(opCat, subs...)
}

// mergeRuns joins neighbours that repeat the same thing: x* x is x+, and
// x{1,2} x{3} is x{4,5}.
func mergeRuns(subs []*rx) []*rx {
	unit := func(x *rx) (y *rx, lo, hi int) {
		if x.op == opRep {
			return x.sub[0], x.min, x.max
		}
		return x, 1, 1
	}
	out := subs[:0:0]
	for _, x := range subs {
		n := len(out)
		if n > 0 && (x.op == opRep || out[n-1].op == opRep) {
			y1, lo1, hi1 := unit(out[n-1])
			y2, lo2, hi2 := unit(x)
			if y1.key() == y2.key() && lo1+lo2 <= maxRepeat && hi1+hi2 <= maxRepeat {
				hi := hi1 + hi2
				if hi1 < 0 || hi2 < 0 {
					hi = -1
				}
				out[n-1] = repRx(y1, lo1+lo2, hi)
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

func optRx(x *rx) *rx  { return repRx(x, 0, 1) }
func starRx(x *rx) *rx { return repRx(x, 0, -1) }
func plusRx(x *rx) *rx { return repRx(x, 1, -1) }

// repRx repeats x from lo to hi times (hi < 0: no limit).
func repRx(x *rx, lo, hi int) *rx {
	switch {
	case hi == 0 || x.op == opEmpty:
		return rxEmpty
	case x.op == opNone:
		if lo == 0 {
			return rxEmpty
		}
		return rxNone
	case lo == 1 && hi == 1:
		return x
	}
	if rxNullable(x) {
		// Each of the lo copies may be empty: what is left is up to hi
		// non-empty pieces. (a?)* is a*.
		x, lo = rxNonEmpty(x), 0
		if x.op == opNone {
			return rxEmpty
		}
	}
	if x.op == opRep {
		in := x.sub[0]
		switch {
		case x.min == 1: // (y{1,k}){lo,hi} is y{lo,hi·k}: every count in between is reachable
			if x.max < 0 || hi < 0 {
				return repRx(in, lo, -1)
			}
			if x.max*hi <= maxRepeat {
				return repRx(in, lo, x.max*hi)
			}
		case x.min == x.max && lo == hi && x.min*lo <= maxRepeat:
			return repRx(in, x.min*lo, x.min*lo)
		}
	}
	r := mkRx(opRep, x)
	r.min, r.max = lo, hi
	return r
}

// altRx is the union of xs. It merges single-character branches into one
// class and factors common leading and trailing parts out of branches, so
// that number ranges and automata come out compact and mostly deterministic.
func altRx(xs ...*rx) *rx {
	var subs []*rx
	var chars runeSet
	charsAt := -1
	seen := map[string]bool{}
	eps := false
	var add func(x *rx)
	add = func(x *rx) {
		switch x.op {
		case opNone:
			return
		case opEmpty:
			eps = true
			return
		case opAlt:
			for _, s := range x.sub {
				add(s)
			}
			return
		case opSet:
			if charsAt < 0 {
				charsAt = len(subs)
				subs = append(subs, nil)
			}
			chars = chars.union(x.set)
			return
		}
		if k := x.key(); !seen[k] {
			seen[k] = true
			subs = append(subs, x)
		}
	}
	for _, x := range xs {
		add(x)
	}
	if charsAt >= 0 {
		subs[charsAt] = setRx(chars)
	}
	subs = mergeCounts(subs)
	subs = factorAlt(subs, false)
	subs = factorAlt(subs, true)
	var r *rx
	switch len(subs) {
	case 0:
		r = rxNone
	case 1:
		r = subs[0]
	default:
		r = mkRx(opAlt, subs...)
	}
	if eps && !rxNullable(r) {
		if r.op == opNone {
			return rxEmpty
		}
		return optRx(r)
	}
	return r
}

// mergeCounts joins branches that repeat the same thing over adjacent or
// overlapping counts: x{5} | x{1,4} is x{1,5}.
func mergeCounts(subs []*rx) []*rx {
	unit := func(x *rx) (y *rx, lo, hi int) {
		if x.op == opRep {
			return x.sub[0], x.min, x.max
		}
		return x, 1, 1
	}
	out := slices.Clone(subs)
	for i := 0; i < len(out); i++ {
		for j := i + 1; j < len(out); j++ {
			if out[i].op != opRep && out[j].op != opRep {
				continue
			}
			y1, lo1, hi1 := unit(out[i])
			y2, lo2, hi2 := unit(out[j])
			if y1.key() != y2.key() {
				continue
			}
			if lo2 < lo1 {
				lo1, hi1, lo2, hi2 = lo2, hi2, lo1, hi1
			}
			if hi1 >= 0 && lo2 > hi1+1 {
				continue // a gap between the counts
			}
			hi := max(hi1, hi2)
			if hi1 < 0 || hi2 < 0 {
				hi = -1
			}
			out[i] = repRx(y1, lo1, hi)
			out = slices.Delete(out, j, j+1)
			j = i
		}
	}
	return out
}

// factorAlt merges branches that begin (or, with fromEnd, end) with the same
// expression: a b | a c becomes a (b | c).
func factorAlt(subs []*rx, fromEnd bool) []*rx {
	if len(subs) < 2 {
		return subs
	}
	split := func(x *rx) (edge, rest *rx) {
		if x.op != opCat {
			return x, rxEmpty
		}
		if fromEnd {
			return x.sub[len(x.sub)-1], catRx(x.sub[:len(x.sub)-1]...)
		}
		return x.sub[0], catRx(x.sub[1:]...)
	}
	groups := map[string][]int{}
	var order []string
	for i, x := range subs {
		e, _ := split(x)
		k := e.key()
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	if len(order) == len(subs) {
		return subs
	}
	var out []*rx
	for _, k := range order {
		idx := groups[k]
		if len(idx) == 1 {
			out = append(out, subs[idx[0]])
			continue
		}
		edge, _ := split(subs[idx[0]])
		rests := make([]*rx, len(idx))
		for i, j := range idx {
			_, rests[i] = split(subs[j])
		}
		if fromEnd {
			out = append(out, catRx(altRx(rests...), edge))
		} else {
			out = append(out, catRx(edge, altRx(rests...)))
		}
	}
	return out
}

// reverseRx matches the reverse of every string x matches.
func reverseRx(x *rx) *rx {
	switch x.op {
	case opCat:
		subs := make([]*rx, len(x.sub))
		for i, s := range x.sub {
			subs[len(subs)-1-i] = reverseRx(s)
		}
		return catRx(subs...)
	case opAlt:
		subs := make([]*rx, len(x.sub))
		for i, s := range x.sub {
			subs[i] = reverseRx(s)
		}
		return altRx(subs...)
	case opRep:
		return repRx(reverseRx(x.sub[0]), x.min, x.max)
	}
	return x
}

// rxExpansion estimates the size of x once counted repetitions are spelled
// out, as a GBNF engine does.
func rxExpansion(x *rx) int {
	switch x.op {
	case opCat, opAlt:
		n := 0
		for _, s := range x.sub {
			n += rxExpansion(s)
		}
		return n
	case opRep:
		return rxExpansion(x.sub[0]) * max(x.min, x.max, 1)
	}
	return 1
}

// shortEscapes are the characters a canonical JSON string writes as a
// backslash and one letter.
var shortEscapes = map[rune]rune{'"': '"', '\\': '\\', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}

// encodeJSON rewrites an rx over a string's value into one over its JSON text:
// each character becomes its canonical JSON spelling.
func encodeJSON(x *rx) *rx {
	return (&encoder{sets: map[string]*rx{}}).encode(x)
}

// An encoder remembers the spelling of each class: patterns repeat them.
type encoder struct{ sets map[string]*rx }

func (e *encoder) encode(x *rx) *rx {
	switch x.op {
	case opSet:
		if r, ok := x.set.single(); ok {
			return litRx(jsonChar(r))
		}
		k := x.key()
		if y, ok := e.sets[k]; ok {
			return y
		}
		y := encodeJSONSet(x.set)
		e.sets[k] = y
		return y
	case opCat, opAlt:
		subs := make([]*rx, len(x.sub))
		for i, s := range x.sub {
			subs[i] = e.encode(s)
		}
		if x.op == opCat {
			return catRx(subs...)
		}
		return altRx(subs...)
	case opRep:
		return repRx(e.encode(x.sub[0]), x.min, x.max)
	}
	return x
}

// jsonChar spells r as canonical JSON does inside a string.
func jsonChar(r rune) string {
	if l, ok := shortEscapes[r]; ok {
		return `\` + string(l)
	}
	if r < 0x20 {
		return fmt.Sprintf(`\u%04x`, r)
	}
	return string(r)
}

func encodeJSONSet(s runeSet) *rx {
	var esc runeSet
	var nib [2]runeSet // low hex digit of \u000X and \u001X
	for _, r := range s {
		for c := r.lo; c <= min(r.hi, 0x5C); c++ {
			if l, ok := shortEscapes[c]; ok {
				esc = esc.union(runesOf(l))
			} else if c < 0x20 {
				nib[c>>4] = nib[c>>4].union(runesOf(rune("0123456789abcdef"[c&15])))
			}
		}
	}
	var u []*rx
	for h, n := range nib {
		if len(n) > 0 {
			u = append(u, catRx(runeRx(rune('0'+h)), setRx(n)))
		}
	}
	escaped := altRx(setRx(esc), catRx(litRx("u00"), altRx(u...)))
	return altRx(setRx(s.intersect(plainChars)), catRx(runeRx('\\'), escaped))
}

// gbnf prints x (an rx over the text the grammar matches) as a GBNF
// expression.
func (x *rx) gbnf() string {
	var b strings.Builder
	emitRx(&b, x, 0)
	return b.String()
}

// Precedence of the context an expression is printed in.
const (
	precAlt  = iota // anything goes
	precCat         // an alternation needs parentheses
	precAtom        // a sequence needs them too, unless it is one literal
)

func emitRx(b *strings.Builder, x *rx, prec int) {
	switch x.op {
	case opNone:
		b.WriteString("[^\\x00-\\U0010FFFF]") // unreachable through patternGBNF and friends
	case opEmpty:
		b.WriteString(`""`)
	case opSet:
		if r, ok := x.set.single(); ok {
			b.WriteString(grammar.Quote(string(r)))
		} else {
			b.WriteString(gbnfClass(x.set))
		}
	case opAlt:
		if prec > precAlt {
			b.WriteString("(")
		}
		for i, s := range x.sub {
			if i > 0 {
				b.WriteString(" | ")
			}
			emitRx(b, s, precCat)
		}
		if prec > precAlt {
			b.WriteString(")")
		}
	case opCat:
		parts := catParts(x.sub)
		paren := prec == precAtom && (len(parts) > 1 || parts[0].n > 1)
		if paren {
			b.WriteString("(")
		}
		for i, p := range parts {
			if i > 0 {
				b.WriteString(" ")
			}
			if p.lit != nil {
				b.WriteString(grammar.Quote(string(p.lit)))
				continue
			}
			if p.n > 1 {
				emitRx(b, p.x, precAtom)
				fmt.Fprintf(b, "{%d}", p.n)
				continue
			}
			emitRx(b, p.x, precCat)
		}
		if paren {
			b.WriteString(")")
		}
	case opRep:
		if x.sub[0].op == opRep { // GBNF takes one operator per item
			b.WriteString("(")
			emitRx(b, x.sub[0], precAlt)
			b.WriteString(")")
		} else {
			emitRx(b, x.sub[0], precAtom)
		}
		switch lo, hi := x.min, x.max; {
		case lo == 0 && hi == 1:
			b.WriteString("?")
		case lo == 0 && hi < 0:
			b.WriteString("*")
		case lo == 1 && hi < 0:
			b.WriteString("+")
		case hi < 0:
			fmt.Fprintf(b, "{%d,}", lo)
		case lo == hi:
			fmt.Fprintf(b, "{%d}", lo)
		default:
			fmt.Fprintf(b, "{%d,%d}", lo, hi)
		}
	}
}

// A catPart is a run of single characters printed as one literal, or a run
// of n equal expressions printed as x{n}.
type catPart struct {
	lit []rune
	x   *rx
	n   int
}

func catParts(subs []*rx) []catPart {
	var parts []catPart
	for _, s := range subs {
		n := len(parts)
		if r, ok := s.set.single(); ok && s.op == opSet {
			if n > 0 && parts[n-1].lit != nil {
				parts[n-1].lit = append(parts[n-1].lit, r)
			} else {
				parts = append(parts, catPart{lit: []rune{r}})
			}
			continue
		}
		if n > 0 && parts[n-1].x != nil && parts[n-1].x.key() == s.key() && s.op == opSet {
			parts[n-1].n++
			continue
		}
		parts = append(parts, catPart{x: s, n: 1})
	}
	return parts
}

// gbnfClass prints s as a GBNF character class, listing s or its complement,
// whichever is shorter. Surrogates are never characters of the text, so
// either list may take them in when that joins two ranges.
func gbnfClass(s runeSet) string {
	pos := gbnfClassList(tidySurrogates(s))
	if neg := tidySurrogates(s.complementAll()); len(neg) > 0 {
		if n := gbnfClassList(neg); len(n)+1 < len(pos) {
			return "[^" + n + "]"
		}
	}
	return "[" + pos + "]"
}

func tidySurrogates(s runeSet) runeSet {
	s = s.minus(surrogates)
	if s.has(0xD7FF) && s.has(0xE000) {
		s = s.union(surrogates)
	}
	return s
}

func gbnfClassList(s runeSet) string {
	var b strings.Builder
	item := func(r rune) { b.WriteString(grammar.ClassChar(r)) }
	for _, r := range s {
		item(r.lo)
		if r.hi > r.lo+1 {
			b.WriteByte('-')
		}
		if r.hi > r.lo {
			item(r.hi)
		}
	}
	return b.String()
}

// patternGBNF returns a GBNF expression, without rule references, for the
// JSON text between the quotes of every string the ECMAScript regular
// expression pattern matches somewhere (JSON Schema's "pattern" searches:
// only ^ and $ anchor). Each character appears in its canonical JSON
// spelling. Wrap the result in parentheses before combining it.
func patternGBNF(pattern string) (string, error) {
	if !utf8.ValidString(pattern) {
		return "", fmt.Errorf("pattern %q is not valid UTF-8", pattern)
	}
	p := &reParser{src: pattern}
	alts, err := p.parseTop()
	if err != nil {
		return "", err
	}
	anything := starRx(setRx(anyChar))
	var branches []*rx
	for _, a := range alts {
		body := a.body
		if !a.start {
			body = trimUnanchored(body, false)
		}
		if !a.end {
			body = trimUnanchored(body, true)
		}
		if (!a.start || !a.end) && rxNullable(body) {
			// It matches the empty string somewhere: in every string.
			branches = []*rx{anything}
			break
		}
		parts := []*rx{body}
		if !a.start {
			parts = slices.Insert(parts, 0, anything)
		}
		if !a.end {
			parts = append(parts, anything)
		}
		branches = append(branches, catRx(parts...))
	}
	x := altRx(branches...)
	if x.op == opNone {
		return "", fmt.Errorf("pattern %q matches no string", pattern)
	}
	if n := rxExpansion(x); n > maxExpansion {
		return "", fmt.Errorf("pattern %q is too large: its repetitions expand to about %d elements (limit %d)", pattern, n, maxExpansion)
	}
	s := encodeJSON(x).gbnf()
	if len(s) > maxGBNF {
		return "", fmt.Errorf("pattern %q gives a grammar of %d bytes (limit %d)", pattern, len(s), maxGBNF)
	}
	return s, nil
}

// trimUnanchored simplifies x where it meets an unanchored side (its start, or with
// atEnd its end), next to "any string": there a{2,5} may as well be a{2},
// and a* may go. Fewer choices there keep the grammar nearly deterministic.
func trimUnanchored(x *rx, atEnd bool) *rx {
	switch x.op {
	case opRep:
		return repRx(x.sub[0], x.min, x.min)
	case opAlt:
		subs := make([]*rx, len(x.sub))
		for i, s := range x.sub {
			subs[i] = trimUnanchored(s, atEnd)
		}
		return altRx(subs...)
	case opCat:
		subs := slices.Clone(x.sub)
		for len(subs) > 0 {
			i := 0
			if atEnd {
				i = len(subs) - 1
			}
			t := trimUnanchored(subs[i], atEnd)
			if t.op != opEmpty {
				subs[i] = t
				break
			}
			subs = slices.Delete(subs, i, i+1)
		}
		return catRx(subs...)
	}
	return x
}

// A topAlt is one top-level alternative of a pattern and its anchors.
type topAlt struct {
	start, end bool
	body       *rx
}

// reParser parses an ECMAScript regular expression.
type reParser struct {
	src string
	pos int // byte offset of the next character
}

func (p *reParser) errorf(format string, args ...any) error {
	return fmt.Errorf("pattern %q: "+format, append([]any{p.src}, args...)...)
}

// peek returns the next character, or -1 at the end.
func (p *reParser) peek() rune {
	return p.peekAt(0)
}

// peekAt returns the character i characters ahead, or -1 past the end.
func (p *reParser) peekAt(i int) rune {
	pos := p.pos
	for ; i > 0 && pos < len(p.src); i-- {
		_, n := utf8.DecodeRuneInString(p.src[pos:])
		pos += n
	}
	if pos >= len(p.src) {
		return -1
	}
	r, _ := utf8.DecodeRuneInString(p.src[pos:])
	return r
}

func (p *reParser) next() rune {
	if p.pos >= len(p.src) {
		return -1
	}
	r, n := utf8.DecodeRuneInString(p.src[p.pos:])
	p.pos += n
	return r
}

func (p *reParser) eat(r rune) bool {
	if p.peek() == r {
		p.next()
		return true
	}
	return false
}

func (p *reParser) parseTop() ([]topAlt, error) {
	var alts []topAlt
	for {
		var a topAlt
		for p.eat('^') {
			a.start = true
		}
		body, end, err := p.parseSeq(true)
		if err != nil {
			return nil, err
		}
		a.body, a.end = body, end
		alts = append(alts, a)
		if !p.eat('|') {
			return alts, nil
		}
	}
}

// parseDisj parses alternatives inside a group.
func (p *reParser) parseDisj() (*rx, error) {
	var alts []*rx
	for {
		x, _, err := p.parseSeq(false)
		if err != nil {
			return nil, err
		}
		alts = append(alts, x)
		if !p.eat('|') {
			return altRx(alts...), nil
		}
	}
}

// parseSeq parses a sequence of terms up to |, ) or the end. At the top
// level a $ may end it.
func (p *reParser) parseSeq(top bool) (x *rx, end bool, err error) {
	var items []*rx
	for {
		switch r := p.peek(); r {
		case -1, '|':
			return catRx(items...), false, nil
		case ')':
			if top {
				return nil, false, p.errorf("unmatched ) at offset %d", p.pos)
			}
			return catRx(items...), false, nil
		case '^':
			return nil, false, p.errorf("anchor ^ at offset %d: only supported at the start of the pattern or of a top-level alternative", p.pos)
		case '$':
			at := p.pos
			for p.eat('$') {
			}
			if !top || (p.peek() != -1 && p.peek() != '|') {
				return nil, false, p.errorf("anchor $ at offset %d: only supported at the end of the pattern or of a top-level alternative", at)
			}
			return catRx(items...), true, nil
		}
		atom, err := p.parseAtom()
		if err != nil {
			return nil, false, err
		}
		atom, err = p.parseQuantifier(atom)
		if err != nil {
			return nil, false, err
		}
		items = append(items, atom)
	}
}

// quantifierAt reports whether a valid {m}, {m,} or {m,n} starts at the
// current position; ECMAScript (Annex B) reads any other { as itself.
func (p *reParser) quantifierAt() (lo, hi, size int, ok bool) {
	s := p.src[p.pos:]
	if !strings.HasPrefix(s, "{") {
		return 0, 0, 0, false
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return 0, 0, 0, false
	}
	body := s[1:end]
	a, b, comma := strings.Cut(body, ",")
	if !allDigits(a) || (comma && b != "" && !allDigits(b)) {
		return 0, 0, 0, false
	}
	lo, hi = atoiCapped(a), atoiCapped(a)
	if comma {
		hi = -1
		if b != "" {
			hi = atoiCapped(b)
		}
	}
	return lo, hi, end + 1, true
}

func allDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// atoiCapped reads a decimal number, saturating far above maxRepeat.
func atoiCapped(s string) int {
	s = strings.TrimLeft(s, "0")
	if len(s) > 9 {
		return 1 << 30
	}
	n, _ := strconv.Atoi(s)
	return n
}

func (p *reParser) parseQuantifier(atom *rx) (*rx, error) {
	at := p.pos
	var lo, hi int
	switch p.peek() {
	case '*':
		p.next()
		lo, hi = 0, -1
	case '+':
		p.next()
		lo, hi = 1, -1
	case '?':
		p.next()
		lo, hi = 0, 1
	case '{':
		l, h, size, ok := p.quantifierAt()
		if !ok {
			return atom, nil
		}
		p.pos += size
		lo, hi = l, h
		if lo > maxRepeat || hi > maxRepeat {
			return nil, p.errorf("quantifier %s at offset %d: bounds above %d are not supported", p.src[at:p.pos], at, maxRepeat)
		}
		if hi >= 0 && lo > hi {
			return nil, p.errorf("quantifier %s at offset %d: numbers out of order", p.src[at:p.pos], at)
		}
	default:
		return atom, nil
	}
	p.eat('?') // lazy: the same language
	if p.isQuantifier() {
		return nil, p.errorf("nothing to repeat at offset %d", p.pos)
	}
	return repRx(atom, lo, hi), nil
}

func (p *reParser) isQuantifier() bool {
	switch p.peek() {
	case '*', '+', '?':
		return true
	}
	_, _, _, ok := p.quantifierAt()
	return ok
}

func (p *reParser) parseAtom() (*rx, error) {
	at := p.pos
	if p.isQuantifier() {
		return nil, p.errorf("nothing to repeat at offset %d", at)
	}
	switch r := p.next(); r {
	case '(':
		return p.parseGroup(at)
	case '[':
		s, err := p.parseClass(at)
		if err != nil {
			return nil, err
		}
		return setRx(s), nil
	case '.':
		return setRx(dotSet), nil
	case '\\':
		s, _, err := p.parseEscape(false)
		if err != nil {
			return nil, err
		}
		return setRx(s), nil
	default:
		return runeRx(r), nil
	}
}

func (p *reParser) parseGroup(at int) (*rx, error) {
	if p.eat('?') {
		switch {
		case p.eat(':'):
		case p.peek() == '=' || p.peek() == '!':
			return nil, p.errorf("lookahead (?%c at offset %d is not supported", p.peek(), at)
		case p.peek() == '<' && (p.peekAt(1) == '=' || p.peekAt(1) == '!'):
			return nil, p.errorf("lookbehind (?<%c at offset %d is not supported", p.peekAt(1), at)
		case p.eat('<'):
			// A named group: a plain group here, since backreferences are refused.
			n := 0
			for r := p.peek(); r == '_' || r == '$' || unicode.IsLetter(r) || (n > 0 && unicode.IsDigit(r)); r = p.peek() {
				p.next()
				n++
			}
			if n == 0 || !p.eat('>') {
				return nil, p.errorf("malformed group name at offset %d", at)
			}
		default:
			return nil, p.errorf("group (?%s at offset %d is not supported (flags and other extensions are refused)", string(p.peek()), at)
		}
	}
	x, err := p.parseDisj()
	if err != nil {
		return nil, err
	}
	if !p.eat(')') {
		return nil, p.errorf("missing ) for the group at offset %d", at)
	}
	return x, nil
}

// parseClass parses a class after its [.
func (p *reParser) parseClass(at int) (runeSet, error) {
	negate := p.eat('^')
	var s runeSet
	for !p.eat(']') {
		if p.peek() < 0 {
			return nil, p.errorf("missing ] for the class at offset %d", at)
		}
		a, aSet, err := p.classAtom()
		if err != nil {
			return nil, err
		}
		if p.peek() == '-' && p.peekAt(1) != ']' && p.peekAt(1) >= 0 {
			p.next()
			b, bSet, err := p.classAtom()
			if err != nil {
				return nil, err
			}
			if aSet || bSet { // Annex B: [\d-z] is \d, '-' and 'z'
				s = s.union(a).union(b).union(runesOf('-'))
				continue
			}
			lo, _ := a.single()
			hi, _ := b.single()
			if lo > hi {
				return nil, p.errorf("range out of order in the class at offset %d", at)
			}
			s = s.union(newSet(runeRange{lo, hi}))
			continue
		}
		s = s.union(a)
	}
	if negate {
		return anyChar.minus(s), nil
	}
	return s, nil
}

// classAtom parses one class member; isSet reports a class escape such as
// \d, which cannot end a range.
func (p *reParser) classAtom() (s runeSet, isSet bool, err error) {
	if p.eat('\\') {
		return p.parseEscape(true)
	}
	return runesOf(p.next()), false, nil
}

// parseEscape parses what follows a backslash.
func (p *reParser) parseEscape(inClass bool) (s runeSet, isSet bool, err error) {
	at := p.pos - 1
	c := p.next()
	switch c {
	case -1:
		return nil, false, p.errorf("pattern ends with a lone backslash")
	case 'd':
		return digitSet, true, nil
	case 'D':
		return anyChar.minus(digitSet), true, nil
	case 'w':
		return wordSet, true, nil
	case 'W':
		return anyChar.minus(wordSet), true, nil
	case 's':
		return spaceChars, true, nil
	case 'S':
		return anyChar.minus(spaceChars), true, nil
	case 'b':
		if inClass {
			return runesOf('\b'), false, nil
		}
		return nil, false, p.errorf("word boundary \\b at offset %d is not supported", at)
	case 'B':
		return nil, false, p.errorf("word boundary \\B at offset %d is not supported", at)
	case 't':
		return runesOf('\t'), false, nil
	case 'n':
		return runesOf('\n'), false, nil
	case 'v':
		return runesOf('\v'), false, nil
	case 'f':
		return runesOf('\f'), false, nil
	case 'r':
		return runesOf('\r'), false, nil
	case '0':
		if r := p.peek(); r >= '0' && r <= '9' {
			return nil, false, p.errorf("octal escape at offset %d is not supported", at)
		}
		return runesOf(0), false, nil
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if inClass {
			return nil, false, p.errorf("octal escape at offset %d is not supported", at)
		}
		return nil, false, p.errorf("backreference \\%c at offset %d is not supported", c, at)
	case 'k':
		return nil, false, p.errorf("named backreference \\k at offset %d is not supported", at)
	case 'p', 'P':
		return nil, false, p.errorf("Unicode property escape \\%c at offset %d is not supported", c, at)
	case 'c':
		if r := p.peek(); r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			p.next()
			return runesOf(r & 31), false, nil
		}
		return nil, false, p.errorf("\\c at offset %d must be followed by a letter", at)
	case 'x':
		v, ok := p.hex(2)
		if !ok {
			return nil, false, p.errorf("\\x at offset %d must be followed by two hex digits", at)
		}
		return runesOf(v), false, nil
	case 'u':
		v, err := p.unicodeEscape(at)
		if err != nil {
			return nil, false, err
		}
		return runesOf(v), false, nil
	}
	if c < 0x80 && (unicode.IsLetter(c) || unicode.IsDigit(c)) {
		return nil, false, p.errorf("unknown escape \\%c at offset %d", c, at)
	}
	return runesOf(c), false, nil // \. \- \/ \\ and the like
}

// hex reads exactly n hex digits.
func (p *reParser) hex(n int) (rune, bool) {
	if p.pos+n > len(p.src) {
		return 0, false
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
	if err != nil || strings.ContainsAny(p.src[p.pos:p.pos+n], "+-_xX") {
		return 0, false
	}
	p.pos += n
	return rune(v), true
}

// unicodeEscape reads the rest of \uHHHH (joining a surrogate pair written
// as two escapes) or \u{H…}.
func (p *reParser) unicodeEscape(at int) (rune, error) {
	if p.eat('{') {
		end := strings.IndexByte(p.src[p.pos:], '}')
		if end < 1 || end > 8 {
			return 0, p.errorf("malformed \\u{…} escape at offset %d", at)
		}
		v, ok := p.hex(end)
		p.next()
		if !ok || v > unicode.MaxRune {
			return 0, p.errorf("malformed \\u{…} escape at offset %d", at)
		}
		if surrogates.has(v) {
			return 0, p.errorf("lone surrogate \\u{%X} at offset %d is not supported", v, at)
		}
		return v, nil
	}
	v, ok := p.hex(4)
	if !ok {
		return 0, p.errorf("\\u at offset %d must be followed by four hex digits", at)
	}
	if v >= 0xD800 && v <= 0xDBFF && strings.HasPrefix(p.src[p.pos:], `\u`) {
		save := p.pos
		p.pos += 2
		if lo, ok := p.hex(4); ok && lo >= 0xDC00 && lo <= 0xDFFF {
			return utf16Pair(v, lo), nil
		}
		p.pos = save
	}
	if surrogates.has(v) {
		return 0, p.errorf("lone surrogate \\u%04X at offset %d is not supported", v, at)
	}
	return v, nil
}

func utf16Pair(hi, lo rune) rune { return 0x10000 + (hi-0xD800)<<10 + (lo - 0xDC00) }
