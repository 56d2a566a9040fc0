package jsonschema

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/ondo-ai/ondo/grammar"
)

// Objects are written in a fixed order: declared properties (schema order,
// optional ones may be left out), required but undeclared properties, then
// additional and pattern properties. The members rule for declared member i
// with c members written so far decides whether a comma comes first (c > 0)
// and how many members minProperties and maxProperties still allow.

// maxObjectStates bounds the rules counting members under min/maxProperties.
const maxObjectStates = 4096

// declared is a member the schema names: a property or a required key.
type declared struct {
	name     string
	kv       string // the member's rule: key, colon, value, trailing ws
	required bool
	ok       bool // some value satisfies it
}

func (c *compiler) genObject(r *schemaNode, hint string) (string, bool, error) {
	if len(r.props) == 0 && len(r.required) == 0 && len(r.patProps) == 0 && r.additional == nil && r.minProps == 0 && r.maxProps < 0 {
		return "object", true, nil
	}
	var decl []declared
	names := map[string]bool{}
	for _, p := range r.props {
		names[p.name] = true
	}
	add := func(name string, n *schemaNode) error {
		e, ok, err := c.gen(n, name)
		if err != nil {
			return err
		}
		d := declared{name: name, required: slices.Contains(r.required, name), ok: ok}
		if ok {
			d.kv = c.define(name+"-kv", seq(grammar.Quote(jsonString(name)), `ws ":" ws`, e, "ws"))
		}
		decl = append(decl, d)
		return nil
	}
	for _, p := range r.props {
		n := p.n
		for _, pp := range r.patProps {
			m, err := c.matchPattern(pp.pattern, pp.ptr, p.name)
			if err != nil {
				return "", false, err
			}
			if m {
				n = conj(n, pp.n)
			}
		}
		if err := add(p.name, n); err != nil {
			return "", false, err
		}
	}
	for _, name := range r.required {
		if names[name] {
			continue
		}
		names[name] = true
		n, err := c.keySchema(r, name)
		if err != nil {
			return "", false, err
		}
		if err := add(name, n); err != nil {
			return "", false, err
		}
	}
	var members []declared
	for _, d := range decl {
		switch {
		case d.ok:
			members = append(members, d)
		case d.required:
			return "", false, nil
		}
	}
	if r.minProps > maxCountLimit {
		return "", false, tooLarge(r, "minProperties", r.minProps)
	}
	extra, err := c.extraMember(r, hint, decl)
	if err != nil {
		return "", false, err
	}
	body, ok, err := c.objectMembers(hint, members, extra, r.minProps, r.maxProps, r.ptr)
	if err != nil || !ok {
		return "", false, err
	}
	return seq(`"{" ws`, body, `"}"`), true, nil
}

// extraMember returns the rule for one member beyond the declared ones,
// or "" where there can be none: a key of each class (see keyClasses),
// with the value its patterns or additionalProperties ask for.
func (c *compiler) extraMember(r *schemaNode, hint string, decl []declared) (string, error) {
	addFalse := false
	if r.additional != nil {
		a, err := c.resolve(r.additional)
		if err != nil {
			return "", err
		}
		addFalse = a.never
	}
	if addFalse && len(r.patProps) == 0 {
		return "", nil
	}
	var names []string
	for _, d := range decl {
		names = append(names, d.name)
	}
	classes := []keyClass{{0, "string"}}
	if len(r.patProps) > 0 || len(names) > 0 {
		var err error
		classes, err = c.keyClasses(hint, r.patProps, names, func(mask uint64) bool { return mask != 0 || !addFalse })
		if err != nil {
			return "", err
		}
		for i := range classes {
			classes[i].expr = seq(`"\""`, classes[i].expr, `"\""`)
		}
	}
	var alts []string
	for _, k := range classes {
		v := r.additional
		if k.mask != 0 {
			v = nil
			for i, pp := range r.patProps {
				if k.mask&(1<<i) != 0 {
					v = conj(v, pp.n)
				}
			}
		}
		e, ok, err := c.gen(v, hint+"-value")
		if err != nil {
			return "", err
		}
		if ok {
			alts = append(alts, c.define(hint+"-more-kv", seq(k.expr, `ws ":" ws`, e, "ws")))
		}
	}
	if len(alts) == 0 {
		return "", nil
	}
	return c.named(hint+"-more", alternation(alts)), nil
}

// objectMembers writes the members between the braces.
func (c *compiler) objectMembers(hint string, decl []declared, extra string, minP, maxP int, ptr string) (string, bool, error) {
	limit := maxP // counts above it never happen
	if maxP < 0 {
		limit = max(minP, 1) // counts from it on behave alike
	}
	type state struct{ i, n int }
	memo := map[state]genResult{}
	var fail error
	var members func(i, n int) (string, bool)
	members = func(i, n int) (string, bool) {
		if res, ok := memo[state{i, n}]; ok {
			return res.expr, res.ok
		}
		if len(memo) > maxObjectStates && fail == nil {
			fail = unsupported(ptr, "maxProperties", "too many optional properties to count")
		}
		if fail != nil {
			return "", false
		}
		comma := ""
		if n > 0 {
			comma = `"," ws`
		}
		var res genResult
		if i == len(decl) {
			lo := max(0, minP-n)
			hi := -1
			if maxP >= 0 {
				hi = maxP - n
			}
			switch {
			case hi == 0 || extra == "":
				res.ok = lo == 0
			case n > 0:
				res = genResult{repeat(seq(comma, extra), lo, hi), true}
			default:
				more := -1
				if hi > 0 {
					more = hi - 1
				}
				e := seq(extra, repeat(seq(`"," ws`, extra), max(0, lo-1), more))
				if lo == 0 {
					e = "( " + e + " )?"
				}
				res = genResult{e, true}
			}
		} else {
			var alts []string
			empty := false
			d := decl[i]
			if maxP < 0 || n < maxP {
				if tail, ok := members(i+1, min(n+1, limit)); ok {
					alts = append(alts, seq(comma, d.kv, tail))
				}
			}
			if !d.required {
				if tail, ok := members(i+1, n); ok {
					if tail == "" {
						empty = true
					} else {
						alts = append(alts, tail)
					}
				}
			}
			res.ok = len(alts) > 0 || empty
			switch {
			case len(alts) == 1 && !empty:
				res.expr = alts[0]
			case len(alts) > 0:
				body := alternation(alts)
				if empty {
					body = "( " + body + " )?"
				}
				res.expr = c.define(hint+"-"+strconv.Itoa(i)+"-"+strconv.Itoa(n), body)
			}
		}
		memo[state{i, n}] = res
		return res.expr, res.ok
	}
	e, ok := members(0, 0)
	return e, ok, fail
}

// matcher is a compiled pattern or format, for testing fixed strings.
type matcher struct {
	g   *grammar.Grammar
	err error
}

// matchPattern reports whether the string s matches pattern, through the
// same GBNF that generation uses.
func (c *compiler) matchPattern(pattern, ptr, s string) (bool, error) {
	m, ok := c.matchers["p"+pattern]
	if !ok {
		e, err := c.patternExpr(pattern, ptr, "patternProperties")
		if err != nil {
			return false, err
		}
		m.g, m.err = grammar.Parse("root ::= " + e + "\n")
		c.matchers["p"+pattern] = m
	}
	if m.err != nil {
		return false, &Error{Keyword: "pattern", Pointer: ptr, Msg: fmt.Sprintf("pattern %q: its grammar does not compile: %v", pattern, m.err)}
	}
	e := jsonString(s)
	return m.g.MatchString(e[1 : len(e)-1]), nil
}

// matchFormat reports whether s is in format.
func (c *compiler) matchFormat(format, ptr, s string) (bool, error) {
	m, ok := c.matchers["f"+format]
	if !ok {
		e, err := c.formatExpr(format, ptr)
		if err != nil {
			return false, err
		}
		m.g, m.err = grammar.Parse("root ::= " + e + "\n")
		c.matchers["f"+format] = m
	}
	if m.err != nil {
		return false, &Error{Keyword: "format", Pointer: ptr, Msg: fmt.Sprintf("format %q: its grammar does not compile: %v", format, m.err)}
	}
	e := jsonString(s)
	return m.g.MatchString(e[1 : len(e)-1]), nil
}
