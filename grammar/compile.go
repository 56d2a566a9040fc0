package grammar

import (
	"fmt"
	"slices"

	"unicode/utf8"
)

// The compiled form works on bytes: a character class becomes the UTF-8
// byte sequences of its code points, so a token that ends inside a
// multi-byte character leaves the matcher inside that character, and no
// invalid UTF-8 can ever be produced.
//
// A rule is a list of alternatives; an alternative is a run of elements in
// Grammar.elems ending with an eEnd element. Repetitions are rewritten into
// rules that call themselves last (x* is S ::= x S | ε), which the matcher
// runs without growing its stacks.

type elemKind uint8

const (
	eEnd      elemKind = iota // end of an alternative
	eBytes                    // one byte from byteSets[arg]
	eRef                      // rule arg
	eToken                    // the token of tokens[arg]
	eNotToken                 // any token but the one of tokens[arg]
)

type elem struct {
	kind elemKind
	arg  int32
}

type byteSet [4]uint64

func (s *byteSet) add(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s[c>>6] |= 1 << (c & 63)
	}
}

func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func (s *byteSet) empty() bool { return s[0]|s[1]|s[2]|s[3] == 0 }

// tokenRef is a token named in the grammar: by id, or by its text.
type tokenRef struct {
	id   int32 // -1 when named by text
	text string
	pos  srcPos
}

type compiler struct {
	g      *Grammar
	index  map[string]int32 // rule name → rule
	setIdx map[byteSet]int32
	memo   map[string]int32 // generated rules by content, shared
	alts   [][][]elem       // the rules' alternatives while compiling
	origin []srcPos         // where each rule comes from
	twins  map[string]int32 // twin loops by unit
	size   int              // elements made by repetitions so far
}

// maxElements bounds the size of a compiled grammar: nested counted
// repetitions multiply, and {2000} inside {2000} would be four million.
const maxElements = 1 << 18

// compile lowers parsed rules into g.
func compile(defs []ruleDef, root string) (*Grammar, error) {
	g := &Grammar{chains: map[int32]chainRule{}}
	c := &compiler{g: g, index: map[string]int32{}, setIdx: map[byteSet]int32{}, memo: map[string]int32{}, twins: map[string]int32{}}
	for _, d := range defs {
		if _, dup := c.index[d.name]; dup {
			first := c.origin[c.index[d.name]]
			return nil, &SyntaxError{d.pos.line, d.pos.col,
				fmt.Sprintf("rule %q is defined twice (first at line %d, column %d)", d.name, first.line, first.col)}
		}
		c.newRule(d.name, d.pos)
	}
	g.userRules = len(defs)
	r, ok := c.index[root]
	if !ok {
		return nil, fmt.Errorf("grammar: no rule named %q (the start rule)", root)
	}
	g.root = r
	for i, d := range defs {
		alts, err := c.expr(d.body)
		if err != nil {
			return nil, err
		}
		c.alts[i] = alts
	}
	c.finish()
	if err := c.check(); err != nil {
		return nil, err
	}
	return g, nil
}

func (c *compiler) newRule(name string, pos srcPos) int32 {
	r := int32(len(c.alts))
	c.alts = append(c.alts, nil)
	c.origin = append(c.origin, pos)
	c.g.names = append(c.g.names, name)
	if _, ok := c.index[name]; !ok {
		c.index[name] = r
	}
	return r
}

// generated returns a rule with the given alternatives, shared with any
// earlier generated rule that has the same ones.
func (c *compiler) generated(base string, pos srcPos, alts [][]elem) int32 {
	var key []byte
	for _, a := range alts {
		for _, e := range a {
			key = append(key, byte(e.kind), byte(e.arg), byte(e.arg>>8), byte(e.arg>>16), byte(e.arg>>24))
		}
		key = append(key, 0xff)
	}
	if r, ok := c.memo[string(key)]; ok {
		return r
	}
	r := c.newRule(fmt.Sprintf("%s-%d", base, len(c.alts)), pos)
	c.alts[r] = alts
	c.memo[string(key)] = r
	return r
}

func (c *compiler) bytesElem(s byteSet) elem {
	i, ok := c.setIdx[s]
	if !ok {
		i = int32(len(c.g.sets))
		c.g.sets = append(c.g.sets, s)
		c.setIdx[s] = i
	}
	return elem{eBytes, i}
}

func (c *compiler) expr(e expr) ([][]elem, error) {
	alts := make([][]elem, 0, len(e))
	for _, s := range e {
		var a []elem
		for _, it := range s {
			els, err := c.item(it)
			if err != nil {
				return nil, err
			}
			a = append(a, els...)
		}
		alts = append(alts, a)
	}
	return alts, nil
}

// item lowers one item, with its repetition, into a run of elements.
func (c *compiler) item(it item) ([]elem, error) {
	unit, err := c.unit(it)
	if err != nil {
		return nil, err
	}
	if !it.repeated {
		return unit, nil
	}
	copies := it.min + 1
	if it.max > it.min {
		copies = it.max
	}
	if c.size += len(unit) * copies; c.size > maxElements {
		return nil, &SyntaxError{it.opPos.line, it.opPos.col, fmt.Sprintf("the repetitions make the grammar larger than %d elements", maxElements)}
	}
	var out []elem
	for range it.min {
		out = append(out, unit...)
	}
	switch {
	case it.max < 0:
		// S ::= unit S | ε. The check that unit cannot match empty comes
		// after all rules are known (see check).
		r := c.newRule(fmt.Sprintf("repeat-%d", len(c.alts)), it.opPos)
		c.alts[r] = [][]elem{append(slices.Clone(unit), elem{eRef, r}), nil}
		c.g.loops = append(c.g.loops, r)
		out = append(out, elem{eRef, r})
	case it.max > it.min:
		// R1 ::= unit | ε, Rk ::= unit R(k-1) | ε: at most max-min more.
		var prev int32 = -1
		var twin int32 = -1
		if it.max-it.min >= minChain {
			twin = c.twin(unit, it.opPos)
		}
		for k := range it.max - it.min {
			a := slices.Clone(unit)
			if prev >= 0 {
				a = append(a, elem{eRef, prev})
			}
			prev = c.generated("optional", it.opPos, [][]elem{a, nil})
			if twin >= 0 && k >= 1 {
				c.g.chains[prev] = chainRule{twin: twin, left: int32(k + 1)}
			}
		}
		out = append(out, elem{eRef, prev})
	}
	return out, nil
}

// minChain is the shortest counted repetition that gets a twin loop.
const minChain = 8

// chainRule marks a rule of a counted repetition's chain (Rk above, k ≥ 2):
// its twin is the loop "unit twin | ε" it imitates, and left how many
// units it still allows, the one it starts included. Masks use the twin
// (see Constraint.chainLocal).
type chainRule struct{ twin, left int32 }

// twin returns the loop rule T ::= unit T | ε for a counted repetition's
// unit, one per unit. It is never referenced by the grammar itself.
func (c *compiler) twin(unit []elem, pos srcPos) int32 {
	var key []byte
	for _, e := range unit {
		key = append(key, byte(e.kind), byte(e.arg), byte(e.arg>>8), byte(e.arg>>16), byte(e.arg>>24))
	}
	if t, ok := c.twins[string(key)]; ok {
		return t
	}
	t := c.newRule(fmt.Sprintf("twin-%d", len(c.alts)), pos)
	c.alts[t] = [][]elem{append(slices.Clone(unit), elem{eRef, t}), nil}
	c.twins[string(key)] = t
	c.g.twinRules = append(c.g.twinRules, t)
	return t
}

// unit lowers an item without its repetition.
func (c *compiler) unit(it item) ([]elem, error) {
	switch it.kind {
	case itemLit:
		out := make([]elem, 0, len(it.text))
		for i := 0; i < len(it.text); i++ {
			var s byteSet
			s.add(it.text[i], it.text[i])
			out = append(out, c.bytesElem(s))
		}
		return out, nil
	case itemAny:
		return c.class([]rRange{{0, utf8.MaxRune}}, it.pos), nil
	case itemClass:
		rs := normalize(it.ranges)
		if it.negate {
			rs = complement(rs)
		}
		return c.class(rs, it.pos), nil
	case itemRef:
		r, ok := c.index[it.text]
		if !ok {
			return nil, &SyntaxError{it.pos.line, it.pos.col, fmt.Sprintf("rule %q is not defined", it.text)}
		}
		return []elem{{eRef, r}}, nil
	case itemGroup:
		alts, err := c.expr(it.group)
		if err != nil {
			return nil, err
		}
		if len(alts) == 1 {
			return alts[0], nil
		}
		return []elem{{eRef, c.generated("group", it.pos, alts)}}, nil
	case itemToken:
		slot := int32(len(c.g.tokens))
		c.g.tokens = append(c.g.tokens, tokenRef{id: it.id, text: it.text, pos: it.pos})
		k := eToken
		if it.negate {
			k = eNotToken
		}
		return []elem{{k, slot}}, nil
	}
	panic("grammar: unknown item kind")
}

// class lowers code point ranges to the UTF-8 byte sequences they stand for:
// one element when every code point is one byte, else a rule.
func (c *compiler) class(rs []rRange, pos srcPos) []elem {
	var single byteSet
	var multi [][]elem
	for _, r := range rs {
		for _, sq := range utf8Sequences(r.lo, r.hi, nil) {
			if len(sq) == 1 {
				single.add(sq[0][0], sq[0][1])
				continue
			}
			a := make([]elem, len(sq))
			for i, br := range sq {
				var s byteSet
				s.add(br[0], br[1])
				a[i] = c.bytesElem(s)
			}
			multi = append(multi, a)
		}
	}
	if len(multi) == 0 {
		// An empty class stays an element that matches nothing.
		return []elem{c.bytesElem(single)}
	}
	alts := multi
	if !single.empty() {
		alts = append([][]elem{{c.bytesElem(single)}}, multi...)
	}
	return []elem{{eRef, c.generated("char", pos, alts)}}
}

// normalize sorts ranges and merges those that touch.
func normalize(rs []rRange) []rRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b rRange) int { return int(a.lo) - int(b.lo) })
	var out []rRange
	for _, r := range rs {
		if n := len(out); n > 0 && r.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out
}

// complement returns the code points in [0, MaxRune] outside normalized rs.
func complement(rs []rRange) []rRange {
	var out []rRange
	next := rune(0)
	for _, r := range rs {
		if r.lo > next {
			out = append(out, rRange{next, r.lo - 1})
		}
		next = r.hi + 1
	}
	if next <= utf8.MaxRune {
		out = append(out, rRange{next, utf8.MaxRune})
	}
	return out
}

// utf8Sequences appends to out the byte-range sequences whose products are
// exactly the UTF-8 encodings of the code points lo..hi (surrogates left
// out). Each sequence has the length of its code points' encodings.
func utf8Sequences(lo, hi rune, out [][][2]byte) [][][2]byte {
	if lo > hi {
		return out
	}
	if lo <= 0xDFFF && hi >= 0xD800 {
		out = utf8Sequences(lo, min(hi, 0xD7FF), out)
		return utf8Sequences(max(lo, 0xE000), hi, out)
	}
	for _, b := range [...]rune{0x7F, 0x7FF, 0xFFFF} {
		if lo <= b && hi > b {
			out = utf8Sequences(lo, b, out)
			return utf8Sequences(b+1, hi, out)
		}
	}
	n := utf8.RuneLen(lo)
	for i := 1; i < n; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				out = utf8Sequences(lo, lo|m, out)
				return utf8Sequences((lo|m)+1, hi, out)
			}
			if hi&m != m {
				out = utf8Sequences(lo, (hi&^m)-1, out)
				return utf8Sequences(hi&^m, hi, out)
			}
		}
	}
	var a, b [4]byte
	utf8.EncodeRune(a[:], lo)
	utf8.EncodeRune(b[:], hi)
	sq := make([][2]byte, n)
	for i := range n {
		sq[i] = [2]byte{a[i], b[i]}
	}
	return append(out, sq)
}

// finish lays the rules out in g.elems.
func (c *compiler) finish() {
	g := c.g
	g.rules = make([][]int32, len(c.alts))
	for r, alts := range c.alts {
		for _, a := range alts {
			g.rules[r] = append(g.rules[r], int32(len(g.elems)))
			g.elems = append(g.elems, a...)
			g.elems = append(g.elems, elem{kind: eEnd})
			for range len(a) + 1 {
				g.ruleOf = append(g.ruleOf, int32(r))
			}
		}
	}
}

// check rejects grammars the matcher cannot run: repetitions of something
// that can match the empty string, left recursion, and a start rule that
// matches nothing.
func (c *compiler) check() error {
	g := c.g
	n := len(g.rules)
	nullable := make([]bool, n)
	productive := make([]bool, n)
	for changed := true; changed; {
		changed = false
		for r := range n {
			for _, start := range g.rules[r] {
				null, prod := true, true
				for p := start; g.elems[p].kind != eEnd; p++ {
					e := g.elems[p]
					switch e.kind {
					case eRef:
						null = null && nullable[e.arg]
						prod = prod && productive[e.arg]
					case eBytes:
						null = false
						prod = prod && !g.sets[e.arg].empty()
					default:
						null = false
					}
				}
				if null && !nullable[r] {
					nullable[r], changed = true, true
				}
				if prod && !productive[r] {
					productive[r], changed = true, true
				}
			}
		}
	}
	for _, r := range g.loops {
		// alternative 0 of a loop rule is unit followed by the rule itself
		unitNull := true
		for p := g.rules[r][0]; g.elems[p+1].kind != eEnd; p++ {
			e := g.elems[p]
			unitNull = unitNull && e.kind == eRef && nullable[e.arg]
		}
		if unitNull {
			pos := c.origin[r]
			return &SyntaxError{pos.line, pos.col, "the repeated item can match the empty string, so it could repeat forever: make it match at least one character"}
		}
	}
	// A twin of a unit that can match empty would be left-recursive: such
	// chains keep no twin. Twins are out of the left-recursion check (the
	// grammar never calls them).
	for _, t := range g.twinRules {
		unitNull := true
		for p := g.rules[t][0]; g.elems[p+1].kind != eEnd; p++ {
			e := g.elems[p]
			unitNull = unitNull && e.kind == eRef && nullable[e.arg]
		}
		if unitNull {
			for r, ch := range g.chains {
				if ch.twin == t {
					delete(g.chains, r)
				}
			}
		}
	}
	// Left recursion: a rule that can reach itself before matching anything.
	state := make([]uint8, n) // 0 new, 1 on the path, 2 done
	for _, t := range g.twinRules {
		state[t] = 2
	}
	var visit func(r int32) error
	visit = func(r int32) error {
		state[r] = 1
		for _, start := range g.rules[r] {
			for p := start; g.elems[p].kind == eRef; p++ {
				t := g.elems[p].arg
				if state[t] == 1 {
					pos := c.origin[t]
					return &SyntaxError{pos.line, pos.col, fmt.Sprintf("rule %q is left-recursive: it can reach itself before matching anything", g.names[t])}
				}
				if state[t] == 0 {
					if err := visit(t); err != nil {
						return err
					}
				}
				if !nullable[t] {
					break
				}
			}
		}
		state[r] = 2
		return nil
	}
	for r := range n {
		if state[r] == 0 {
			if err := visit(int32(r)); err != nil {
				return err
			}
		}
	}
	if !productive[g.root] {
		pos := c.origin[g.root]
		return &SyntaxError{pos.line, pos.col, fmt.Sprintf("rule %q matches no string at all", g.names[g.root])}
	}
	g.nullable = nullable
	return nil
}
