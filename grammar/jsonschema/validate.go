package jsonschema

import (
	"math/big"
	"slices"
	"unicode/utf8"
)

// validate reports whether v satisfies n. It decides which enum and const
// values the rest of a schema admits, and whether oneOf branches overlap.
func (c *compiler) validate(n *schemaNode, v *value, depth int) (bool, error) {
	if n == nil {
		return true, nil
	}
	if depth > maxDepth {
		return false, &Error{Pointer: n.ptr, Msg: "the schema nests too deeply to check a value against it"}
	}
	r, err := c.resolve(n)
	if err != nil {
		return false, err
	}
	if r.never || r.types&typeOf(v) == 0 {
		return false, nil
	}
	if r.hasEnum && !slices.ContainsFunc(r.enum, func(e *value) bool { return equal(e, v) }) {
		return false, nil
	}
	for _, ch := range r.choices {
		matches := 0
		for _, a := range ch.alts {
			ok, err := c.validate(a, v, depth+1)
			if err != nil {
				return false, err
			}
			if ok {
				matches++
			}
		}
		if matches == 0 || ch.kw == "oneOf" && matches > 1 {
			return false, nil
		}
	}
	switch v.kind {
	case kindString:
		k := utf8.RuneCountInString(v.str)
		if k < r.minLen || r.maxLen >= 0 && k > r.maxLen {
			return false, nil
		}
		for _, p := range r.patterns {
			if ok, err := c.matchPattern(p.val, p.ptr, v.str); !ok || err != nil {
				return false, err
			}
		}
		for _, f := range r.formats {
			if ok, err := c.matchFormat(f.val, f.ptr, v.str); !ok || err != nil {
				return false, err
			}
		}
	case kindNumber:
		x, ok := v.rat()
		if !ok {
			return false, nil
		}
		if r.lo != nil {
			if k := x.Cmp(r.lo.Value); k < 0 || k == 0 && r.lo.Exclusive {
				return false, nil
			}
		}
		if r.hi != nil {
			if k := x.Cmp(r.hi.Value); k > 0 || k == 0 && r.hi.Exclusive {
				return false, nil
			}
		}
		if r.multipleOf != nil && !new(big.Rat).Quo(x, r.multipleOf).IsInt() {
			return false, nil
		}
	case kindArray:
		if len(v.arr) < r.minItems || r.maxItems >= 0 && len(v.arr) > r.maxItems {
			return false, nil
		}
		for i, e := range v.arr {
			if ok, err := c.validate(itemAt(r, i), e, depth+1); !ok || err != nil {
				return false, err
			}
		}
	case kindObject:
		if len(v.obj) < r.minProps || r.maxProps >= 0 && len(v.obj) > r.maxProps {
			return false, nil
		}
		for _, name := range r.required {
			if v.get(name) == nil {
				return false, nil
			}
		}
		for _, m := range v.obj {
			s, err := c.propSchema(r, m.key)
			if err != nil {
				return false, err
			}
			if ok, err := c.validate(s, m.val, depth+1); !ok || err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// propSchema is the schema that the member named key must satisfy.
func (c *compiler) propSchema(r *schemaNode, key string) (*schemaNode, error) {
	if p := findProp(r.props, key); p != nil {
		for _, pp := range r.patProps {
			m, err := c.matchPattern(pp.pattern, pp.ptr, key)
			if err != nil {
				return nil, err
			}
			if m {
				p = conj(p, pp.n)
			}
		}
		return p, nil
	}
	return c.keySchema(r, key)
}

func typeOf(v *value) typeSet {
	switch v.kind {
	case kindNull:
		return tNull
	case kindBool:
		return tBool
	case kindString:
		return tString
	case kindArray:
		return tArray
	case kindObject:
		return tObject
	}
	if x, ok := v.rat(); ok && x.IsInt() {
		return tInt
	}
	return tFrac
}

// maxDisjointDepth bounds how deep disjoint looks into subschemas.
const maxDisjointDepth = 8

// disjoint reports, conservatively, that no value satisfies both a and b:
// false means they may overlap.
func (c *compiler) disjoint(a, b *schemaNode, depth int) (bool, error) {
	if a == nil || b == nil || depth > maxDisjointDepth {
		return a != nil && a.never || b != nil && b.never, nil
	}
	a, err := c.resolve(a)
	if err != nil {
		return false, err
	}
	if b, err = c.resolve(b); err != nil {
		return false, err
	}
	if a.never || b.never {
		return true, nil
	}
	for _, p := range [][2]*schemaNode{{a, b}, {b, a}} {
		if !p[0].hasEnum {
			continue
		}
		all := true
		for _, v := range p[0].enum {
			ok, err := c.validate(p[1], v, 0)
			if err != nil {
				return false, err
			}
			if ok {
				all = false
				break
			}
		}
		if all {
			return true, nil
		}
	}
	if len(a.choices) > 0 || len(b.choices) > 0 {
		return false, nil
	}
	for t := tNull; t <= tFrac; t <<= 1 {
		if a.types&b.types&t == 0 {
			continue
		}
		d, err := c.disjointAs(t, a, b, depth)
		if err != nil || !d {
			return false, err
		}
	}
	return true, nil
}

// disjointAs is disjoint for values of one type.
func (c *compiler) disjointAs(t typeSet, a, b *schemaNode, depth int) (bool, error) {
	apart := func(min1, max1, min2, max2 int) bool {
		return max1 >= 0 && max1 < min2 || max2 >= 0 && max2 < min1
	}
	switch t {
	case tString:
		return apart(a.minLen, a.maxLen, b.minLen, b.maxLen), nil
	case tInt, tFrac:
		below := func(hi, lo *bound) bool {
			if hi == nil || lo == nil {
				return false
			}
			k := hi.Value.Cmp(lo.Value)
			return k < 0 || k == 0 && (hi.Exclusive || lo.Exclusive)
		}
		return below(a.hi, b.lo) || below(b.hi, a.lo), nil
	case tArray:
		if apart(a.minItems, a.maxItems, b.minItems, b.maxItems) {
			return true, nil
		}
		for i := range min(a.minItems, b.minItems) {
			d, err := c.disjoint(itemAt(a, i), itemAt(b, i), depth+1)
			if err != nil || d {
				return d, err
			}
		}
	case tObject:
		if apart(a.minProps, a.maxProps, b.minProps, b.maxProps) {
			return true, nil
		}
		for _, name := range a.required {
			if !slices.Contains(b.required, name) {
				continue
			}
			x, err := c.propSchema(a, name)
			if err != nil {
				return false, err
			}
			y, err := c.propSchema(b, name)
			if err != nil {
				return false, err
			}
			d, err := c.disjoint(x, y, depth+1)
			if err != nil || d {
				return d, err
			}
		}
		// A key one side requires and the other forbids.
		for _, p := range [][2]*schemaNode{{a, b}, {b, a}} {
			for _, name := range p[0].required {
				s, err := c.propSchema(p[1], name)
				if err != nil {
					return false, err
				}
				if s == nil {
					continue
				}
				rs, err := c.resolve(s)
				if err != nil {
					return false, err
				}
				if rs.never {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
