package jsonschema

import (
	"fmt"
	"github.com/ondo-ai/ondo/grammar"
	"math/big"
	"strconv"
	"strings"
)

// Generation turns resolved nodes into GBNF expressions. Each node becomes
// a rule (or a short expression used in place), memoized by node id: equal
// subschemas share a rule, and a schema that refers to itself while its
// rule is being made gets the rule's name, which makes a recursive rule.

type genResult struct {
	expr string
	ok   bool // false: no JSON value satisfies the node
}

// pending is a node whose rule is being made; name is given out only when
// the node refers to itself.
type pending struct{ hint, name string }

// neverBody is a rule body that matches nothing, for a recursive rule that
// turns out empty.
const neverBody = `[^\x00-\U0010FFFF]`

// maxChoices bounds the alternatives that anyOf and oneOf multiply into.
const maxChoices = 256

// gen returns an expression for n (a rule name or a short expression);
// ok is false where no value satisfies n.
func (c *compiler) gen(n *schemaNode, hint string) (expr string, ok bool, err error) {
	if n == nil {
		return "value", true, nil
	}
	if n.isRef {
		hint = refHint(n.ref)
	}
	r, err := c.resolve(n)
	if err != nil {
		return "", false, err
	}
	if res, ok := c.exprs[r.id]; ok {
		return res.expr, res.ok, nil
	}
	if p, ok := c.inGen[r.id]; ok {
		if p.name == "" {
			p.name = c.reserve(p.hint)
		}
		return p.name, true, nil
	}
	if len(c.inGen) > maxDepth {
		return "", false, &Error{Pointer: r.ptr, Msg: fmt.Sprintf("subschemas nest deeper than %d levels", maxDepth)}
	}
	p := &pending{hint: hint}
	c.inGen[r.id] = p
	body, ok, err := c.genBody(r, hint)
	delete(c.inGen, r.id)
	if err != nil {
		return "", false, err
	}
	res := genResult{ok: ok}
	switch {
	case p.name != "":
		// Rules already refer to the name; it must be defined, even when
		// empty.
		if !ok {
			body = neverBody
		}
		c.rules[p.name] = body
		if _, dup := c.byBody[body]; !dup {
			c.byBody[body] = p.name
		}
		res.expr = p.name
	case ok:
		res.expr = c.named(hint, body)
	}
	c.exprs[r.id] = res
	return res.expr, res.ok, nil
}

// refHint names a rule after the last segment of the pointer it comes from.
func refHint(ptr string) string {
	if ptr == "" {
		return "root"
	}
	return unescapePointer(ptr[strings.LastIndexByte(ptr, '/')+1:])
}

// named returns body itself where it is a single name or literal, else a
// rule with that body.
func (c *compiler) named(hint, body string) string {
	if isAtomic(body) {
		return body
	}
	return c.define(hint, body)
}

// isAtomic reports whether e is one rule name or one literal.
func isAtomic(e string) bool {
	if e == "" {
		return false
	}
	if e[0] == '"' || e[0] == '[' {
		end := byte('"')
		if e[0] == '[' {
			end = ']'
		}
		for i := 1; i < len(e); i++ {
			switch e[i] {
			case '\\':
				i++
			case end:
				return i == len(e)-1
			}
		}
		return false
	}
	for i := 0; i < len(e); i++ {
		if !isNameByte(e[i]) {
			return false
		}
	}
	return true
}

// group returns e as one item: parenthesized unless atomic or already one
// group.
func group(e string) string {
	if isAtomic(e) || e == "" || isGroup(e) {
		return e
	}
	return "( " + e + " )"
}

// isGroup reports whether e is one parenthesized group.
func isGroup(e string) bool {
	if e[0] != '(' {
		return false
	}
	depth := 0
	for i := 0; i < len(e); i++ {
		switch e[i] {
		case '"', '[':
			end := byte('"')
			if e[i] == '[' {
				end = ']'
			}
			for i++; i < len(e) && e[i] != end; i++ {
				if e[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i == len(e)-1
			}
		}
	}
	return false
}

// alternation joins alternatives, dropping duplicates.
func alternation(alts []string) string {
	var out []string
	seen := map[string]bool{}
	for _, a := range alts {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return strings.Join(out, " | ")
}

// seq joins the items of a sequence, skipping empty ones.
func seq(items ...string) string {
	var out []string
	for _, s := range items {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func (c *compiler) genBody(r *schemaNode, hint string) (string, bool, error) {
	switch {
	case r.never:
		return "", false, nil
	case len(r.choices) > 0:
		return c.genChoices(r, hint)
	case r.hasEnum:
		return c.genEnum(r)
	case r.isAny():
		return "value", true, nil
	}
	var alts []string
	add := func(e string, ok bool, err error) error {
		if ok {
			alts = append(alts, e)
		}
		return err
	}
	if r.types&tNull != 0 {
		alts = append(alts, `"null"`)
	}
	if r.types&tBool != 0 {
		alts = append(alts, "boolean")
	}
	if r.types&tObject != 0 {
		if err := add(c.genObject(r, hint)); err != nil {
			return "", false, err
		}
	}
	if r.types&tArray != 0 {
		if err := add(c.genArray(r, hint)); err != nil {
			return "", false, err
		}
	}
	if r.types&tString != 0 {
		if err := add(c.genString(r)); err != nil {
			return "", false, err
		}
	}
	if r.types&(tInt|tFrac) != 0 {
		if err := add(c.genNumber(r)); err != nil {
			return "", false, err
		}
	}
	if len(alts) == 1 {
		return alts[0], true, nil
	}
	for i, a := range alts {
		alts[i] = group(a)
	}
	return alternation(alts), len(alts) > 0, nil
}

// genChoices multiplies out anyOf and oneOf: each alternative is the
// node's other keywords joined with one branch of every choice.
func (c *compiler) genChoices(r *schemaNode, hint string) (string, bool, error) {
	base := *r
	base.choices = nil
	base.id = r.id + "|"
	combos := [][]int{nil}
	for _, ch := range r.choices {
		var dead map[int]bool
		if ch.kw == "oneOf" {
			var err error
			if dead, err = c.checkExclusive(&base, ch); err != nil {
				return "", false, err
			}
		}
		if len(combos)*len(ch.alts) > maxChoices {
			return "", false, unsupported(ch.ptr, ch.kw, fmt.Sprintf("the anyOf and oneOf of this schema multiply into more than %d alternatives", maxChoices))
		}
		var next [][]int
		for _, cb := range combos {
			for i := range ch.alts {
				if !dead[i] {
					next = append(next, append(append([]int(nil), cb...), i))
				}
			}
		}
		combos = next
	}
	var alts []string
	for _, cb := range combos {
		parts := []*schemaNode{&base}
		id := base.id
		for k, i := range cb {
			parts = append(parts, r.choices[k].alts[i])
			id += strconv.Itoa(i) + "."
		}
		e, ok, err := c.gen(&schemaNode{id: id, ptr: r.ptr, all: parts}, hint)
		if err != nil {
			return "", false, err
		}
		if ok {
			alts = append(alts, e)
		}
	}
	return alternation(alts), len(alts) > 0, nil
}

// checkExclusive refuses a oneOf whose branches might overlap: a value
// valid for two of them is invalid, which a grammar cannot check. Branches
// that are the same schema overlap wholly: they are returned as dead, to
// be left out, when they are disjoint from the others.
func (c *compiler) checkExclusive(base *schemaNode, ch choice) (dead map[int]bool, err error) {
	merged := make([]*schemaNode, len(ch.alts))
	same := make([]int, len(ch.alts)) // the first branch that is the same schema
	for i, a := range ch.alts {
		m, err := c.resolve(conj(base, a))
		if err != nil {
			return nil, err
		}
		merged[i] = m
		ra, err := c.resolve(a)
		if err != nil {
			return nil, err
		}
		same[i] = i
		for j := range i {
			rb, _ := c.resolve(ch.alts[j])
			if ra.id == rb.id || ra.isAny() && rb.isAny() {
				same[i] = same[j]
				break
			}
		}
	}
	dead = map[int]bool{}
	for i := range merged {
		if same[i] != i {
			dead[i], dead[same[i]] = true, true
		}
	}
	for i := range merged {
		for j := i + 1; j < len(merged); j++ {
			if same[i] == same[j] {
				continue
			}
			d, err := c.disjoint(merged[i], merged[j], 0)
			if err != nil {
				return nil, err
			}
			if !d {
				return nil, unsupported(ch.ptr, "oneOf", fmt.Sprintf(
					"branches %d and %d may both match a value, which must then be rejected; a grammar cannot do that (use anyOf if they cannot overlap)", i, j))
			}
		}
	}
	return dead, nil
}

// genEnum is the enum values (with const folded in) that satisfy the
// node's other keywords, each as its JSON text.
func (c *compiler) genEnum(r *schemaNode) (string, bool, error) {
	rest := *r
	rest.hasEnum, rest.enum = false, nil
	rest.id = r.id + "|noenum"
	var alts []string
	for _, v := range r.enum {
		ok, err := c.validate(&rest, v, 0)
		if err != nil {
			return "", false, err
		}
		if ok {
			alts = append(alts, group(literal(v)))
		}
	}
	return alternation(alts), len(alts) > 0, nil
}

// literal is the grammar for one JSON value's text, with whitespace allowed
// between its tokens.
func literal(v *value) string {
	switch v.kind {
	case kindArray:
		if len(v.arr) == 0 {
			return `"[" ws "]"`
		}
		parts := []string{`"[" ws`}
		for i, e := range v.arr {
			if i > 0 {
				parts = append(parts, `"," ws`)
			}
			parts = append(parts, literal(e), "ws")
		}
		return strings.Join(append(parts, `"]"`), " ")
	case kindObject:
		if len(v.obj) == 0 {
			return `"{" ws "}"`
		}
		parts := []string{`"{" ws`}
		for i, m := range v.obj {
			if i > 0 {
				parts = append(parts, `"," ws`)
			}
			parts = append(parts, grammar.Quote(jsonString(m.key)), `ws ":" ws`, literal(m.val), "ws")
		}
		return strings.Join(append(parts, `"}"`), " ")
	}
	return grammar.Quote(v.text())
}

// jsonString is s as canonical JSON text, quotes included.
func jsonString(s string) string {
	var b strings.Builder
	writeJSONString(&b, s)
	return b.String()
}

func (c *compiler) genString(r *schemaNode) (string, bool, error) {
	if r.minLen > maxCountLimit {
		return "", false, tooLarge(r, "minLength", r.minLen)
	}
	lengths := r.minLen > 0 || r.maxLen >= 0
	lenKw := "minLength"
	if r.maxLen >= 0 {
		lenKw = "maxLength"
	}
	switch {
	case len(r.patterns) > 1:
		return "", false, unsupported(r.patterns[1].ptr, "pattern", "two patterns (joined by allOf) cannot be intersected")
	case len(r.formats) > 1:
		return "", false, unsupported(r.formats[1].ptr, "format", "two formats (joined by allOf) cannot be intersected")
	case len(r.patterns) == 1 && len(r.formats) == 1:
		return "", false, unsupported(r.patterns[0].ptr, "pattern", `"pattern" and "format" together cannot be intersected`)
	case len(r.patterns) == 1 && lengths:
		e, err := c.patternExpr(r.patterns[0].val, r.patterns[0].ptr, "pattern")
		if err != nil {
			return "", false, err
		}
		if why := impliedLengths(e, r.minLen, r.maxLen); why != "" {
			return "", false, unsupported(r.patterns[0].ptr, "pattern", fmt.Sprintf("%q and %q together cannot be intersected: %s", "pattern", lenKw, why))
		}
		return seq(`"\""`, group(e), `"\""`), true, nil
	case len(r.formats) == 1 && lengths:
		e, err := c.formatExpr(r.formats[0].val, r.formats[0].ptr)
		if err != nil {
			return "", false, err
		}
		if why := impliedLengths(e, r.minLen, r.maxLen); why != "" {
			return "", false, unsupported(r.formats[0].ptr, "format", fmt.Sprintf("%q and %q together cannot be intersected: %s", "format", lenKw, why))
		}
		return seq(`"\""`, group(e), `"\""`), true, nil
	case len(r.patterns) == 1:
		e, err := c.patternExpr(r.patterns[0].val, r.patterns[0].ptr, "pattern")
		if err != nil {
			return "", false, err
		}
		return seq(`"\""`, group(e), `"\""`), true, nil
	case len(r.formats) == 1:
		e, err := c.formatExpr(r.formats[0].val, r.formats[0].ptr)
		if err != nil {
			return "", false, err
		}
		return seq(`"\""`, group(e), `"\""`), true, nil
	case lengths:
		if r.maxLen >= 0 && r.maxLen < r.minLen {
			return "", false, nil
		}
		return seq(`"\""`, repeat("char", r.minLen, r.maxLen), `"\""`), true, nil
	}
	return "string", true, nil
}

// patternExpr is the GBNF for the string content that a pattern matches.
func (c *compiler) patternExpr(pattern, ptr, kw string) (string, error) {
	if e, ok := c.patterns[pattern]; ok {
		return e, nil
	}
	e, err := patternGBNF(pattern)
	if err != nil {
		return "", &Error{Keyword: kw, Pointer: ptr, Msg: fmt.Sprintf("keyword %q: %v", kw, err)}
	}
	c.patterns[pattern] = e
	return e, nil
}

func (c *compiler) formatExpr(format, ptr string) (string, error) {
	e, err := formatGBNF(format)
	if err != nil {
		return "", &Error{Keyword: "format", Pointer: ptr, Msg: fmt.Sprintf("keyword %q: %v", "format", err)}
	}
	return e, nil
}

func (c *compiler) genNumber(r *schemaNode) (string, bool, error) {
	intOnly := r.types&tFrac == 0
	lo, hi := r.lo, r.hi
	numErr := func(err error) error {
		kw := "minimum"
		switch {
		case r.multipleOf != nil:
			kw = "multipleOf"
		case lo == nil:
			kw = "maximum"
		}
		return &Error{Keyword: kw, Pointer: r.at[kw], Msg: fmt.Sprintf("keyword %q: %v", kw, err)}
	}
	m := r.multipleOf
	if m != nil && !m.IsInt() && !intOnly {
		// Non-integer steps: only 10^-d, unbounded, is written here.
		d := decimalPlaces(m)
		if d < 0 || lo != nil || hi != nil {
			return "", false, unsupported(r.at["multipleOf"], "multipleOf",
				"a step that is not an integer is supported only as 0.1, 0.01, … without minimum or maximum")
		}
		return seq(`"-"? ( "0" | [1-9] [0-9]* )`, fmt.Sprintf(`( "." ( [0-9]{1,%d} | [0-9]{%d} "0"+ ) )?`, d, d)), true, nil
	}
	if m != nil || intOnly {
		// Integers: a multiple of p/q that is an integer is a multiple of p.
		var step *big.Int
		if m != nil && m.Num().Cmp(big.NewInt(1)) != 0 {
			step = new(big.Int).Set(m.Num())
		}
		if lo == nil && hi == nil && step == nil {
			return "integer", true, nil
		}
		if !integerInRange(lo, hi, step) {
			return "", false, nil
		}
		e, err := integerGBNF(lo, hi, step)
		if err != nil {
			return "", false, numErr(err)
		}
		return e, true, nil
	}
	if lo == nil && hi == nil {
		return "number", true, nil
	}
	if lo != nil && hi != nil {
		if k := lo.Value.Cmp(hi.Value); k > 0 || k == 0 && (lo.Exclusive || hi.Exclusive) {
			return "", false, nil
		}
	}
	e, err := numberGBNF(lo, hi)
	if err != nil {
		return "", false, numErr(err)
	}
	return e, true, nil
}

// decimalPlaces returns d where m is 10^-d, else -1.
func decimalPlaces(m *big.Rat) int {
	if m.Num().Cmp(big.NewInt(1)) != 0 {
		return -1
	}
	q := new(big.Int).Set(m.Denom())
	ten := big.NewInt(10)
	d := 0
	for q.Cmp(big.NewInt(1)) > 0 {
		var rem big.Int
		q.QuoRem(q, ten, &rem)
		if rem.Sign() != 0 {
			return -1
		}
		d++
	}
	if d > maxCount {
		return -1
	}
	return d
}

// integerInRange reports whether some integer (a multiple of step, when
// not nil) lies within lo and hi.
func integerInRange(lo, hi *bound, step *big.Int) bool {
	if lo == nil || hi == nil {
		return true
	}
	s := big.NewInt(1)
	if step != nil {
		s = new(big.Int).Abs(step)
	}
	// The smallest multiple k·s at or above lo (above, if exclusive).
	q := new(big.Rat).Quo(lo.Value, new(big.Rat).SetInt(s))
	k := new(big.Int).Neg(new(big.Int).Div(new(big.Int).Neg(q.Num()), q.Denom())) // ceil
	if lo.Exclusive && q.IsInt() {
		k.Add(k, big.NewInt(1))
	}
	c := new(big.Rat).SetInt(k.Mul(k, s)).Cmp(hi.Value)
	return c < 0 || c == 0 && !hi.Exclusive
}

func (c *compiler) genArray(r *schemaNode, hint string) (string, bool, error) {
	if len(r.prefix) == 0 && r.items == nil && r.minItems == 0 && r.maxItems < 0 {
		return "array", true, nil
	}
	lo, hi := r.minItems, r.maxItems
	if lo > maxCountLimit {
		return "", false, tooLarge(r, "minItems", lo)
	}
	var prefix []string
	for i, p := range r.prefix {
		if hi >= 0 && i >= hi {
			break
		}
		e, ok, err := c.gen(p, hint+"-"+strconv.Itoa(i))
		if err != nil {
			return "", false, err
		}
		if !ok {
			hi = i // no array reaches item i
			break
		}
		prefix = append(prefix, e)
	}
	rest, ok, err := c.gen(r.items, hint+"-item")
	if err != nil {
		return "", false, err
	}
	if !ok && (hi < 0 || hi > len(prefix)) {
		hi = len(prefix)
	}
	if hi >= 0 && lo > hi {
		return "", false, nil
	}
	k := len(prefix)
	// tail(i): items i.. after at least one, each after a comma.
	tail := func(i int) string {
		var s string
		if hi < 0 || hi > k {
			more := -1
			if hi >= 0 {
				more = hi - k
			}
			s = repeat(seq(`","`, "ws", rest, "ws"), max(0, lo-k), more)
		}
		for j := k - 1; j >= i; j-- {
			s = seq(`","`, "ws", prefix[j], "ws", s)
			if j >= lo {
				s = "( " + s + " )?"
			}
		}
		return s
	}
	var first string
	switch {
	case hi == 0:
	case k > 0:
		first = seq(prefix[0], "ws", tail(1))
	default:
		more := -1
		if hi >= 0 {
			more = hi - 1
		}
		first = seq(rest, "ws", repeat(seq(`","`, "ws", rest, "ws"), max(0, lo-1), more))
	}
	if first != "" && lo == 0 {
		first = "( " + first + " )?"
	}
	return c.define(hint+"-array", seq(`"["`, "ws", first, `"]"`)), true, nil
}

// maxCount is the largest count package grammar takes in {m,n}.
const maxCount = 2000

// maxCountLimit is the largest minLength, minItems or minProperties a
// grammar is made for (package grammar spells repetitions out), and the
// largest maximum kept: above it a maximum is dropped, since no model
// writes that much.
const maxCountLimit = 100_000

// repeat is x repeated lo to hi times (hi < 0: no maximum). Counts beyond
// what {m,n} takes are built from blocks, without ambiguity.
func repeat(x string, lo, hi int) string {
	x = group(x)
	if hi > maxCountLimit && hi > lo {
		hi = -1
	}
	switch {
	case hi == lo && lo == 0:
		return ""
	case hi == lo && lo == 1:
		return x
	case hi == lo && lo <= maxCount:
		return fmt.Sprintf("%s{%d}", x, lo)
	case hi == lo:
		const block = 1000
		return seq(repeat(fmt.Sprintf("%s{%d}", x, block), lo/block, lo/block), repeat(x, lo%block, lo%block))
	case hi < 0 && lo == 0:
		return x + "*"
	case hi < 0 && lo == 1:
		return x + "+"
	case hi < 0 && lo <= maxCount:
		return fmt.Sprintf("%s{%d,}", x, lo)
	case hi < 0:
		return seq(repeat(x, lo, lo), x+"*")
	case lo > 0:
		return seq(repeat(x, lo, lo), repeat(x, 0, hi-lo))
	case hi == 1:
		return x + "?"
	case hi <= maxCount:
		return fmt.Sprintf("%s{0,%d}", x, hi)
	}
	// hi = a·block + b: fewer than a whole blocks and a remainder below a
	// block, or a blocks and at most b more. The two never overlap.
	const block = 1000
	a, b := hi/block, hi%block
	fewer := seq(repeat(fmt.Sprintf("%s{%d}", x, block), 0, a-1), fmt.Sprintf("%s{0,%d}", x, block-1))
	all := seq(fmt.Sprintf("( %s{%d} ){%d}", x, block, a), repeat(x, 0, b))
	return "( " + fewer + " | " + all + " )"
}

func tooLarge(r *schemaNode, kw string, n int) error {
	return unsupported(r.at[kw], kw, fmt.Sprintf("%d is above the largest count a grammar is made for (%d)", n, maxCountLimit))
}

// impliedLengths says why minLength and maxLength (-1: none) are not
// already implied by the string content expr, or "" when every string it
// matches has a length in range (then the keywords need no grammar of
// their own). Lengths are counted in bytes, which are characters when the
// content is printable ASCII without escapes, as formats and most
// patterns of fixed shape are.
func impliedLengths(expr string, minLen, maxLen int) string {
	g, err := grammar.Parse("root ::= " + expr)
	if err != nil {
		return err.Error()
	}
	for _, b := range g.Bytes() {
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' {
			return "it may hold characters other than printable ASCII, whose lengths the grammar cannot count"
		}
	}
	lo, hi := g.Lengths()
	switch {
	case hi < 0 && maxLen >= 0:
		return fmt.Sprintf("it allows strings of any length from %d characters", lo)
	case lo < minLen || maxLen >= 0 && hi > maxLen:
		return fmt.Sprintf("it allows lengths from %d to %d characters", lo, hi)
	}
	return ""
}
