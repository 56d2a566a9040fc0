package jsonschema

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// A schemaNode is a schema in a normal form that allOf can merge: every keyword
// the conversion supports, with defaults filled in. Two lazy forms stand
// for nodes not merged yet, so that recursive schemas stay finite: ref (a
// $ref, resolved when needed) and all (a conjunction, merged when needed).
type schemaNode struct {
	id  string // equal ids mean equal nodes; resolve and gen memoize by it
	ptr string // the schema it comes from, for errors

	isRef bool          // a $ref
	ref   string        // the pointer the $ref names
	all   []*schemaNode // the conjunction of these

	never   bool // the schema false, or contradicting keywords
	types   typeSet
	enum    []*value
	hasEnum bool // enum or const: only the values in enum

	minLen, maxLen int // maxLen < 0: no maximum
	patterns       []sourced
	formats        []sourced

	lo, hi     *bound
	multipleOf *big.Rat

	prefix             []*schemaNode
	items              *schemaNode // nil: any
	minItems, maxItems int

	props              []prop
	required           []string
	patProps           []patProp
	additional         *schemaNode // nil: any
	minProps, maxProps int

	choices []choice // anyOf and oneOf, each one of its alternatives

	at map[string]string // keyword → pointer of the schema that gave it
}

// sourced is a keyword's string value with the schema it stands in.
type sourced struct{ val, ptr string }

type prop struct {
	name string
	n    *schemaNode
}

type patProp struct {
	pattern, ptr string
	n            *schemaNode
}

type choice struct {
	kw, ptr string // "anyOf" or "oneOf"
	alts    []*schemaNode
}

// typeSet is a set of JSON Schema types; integer is the numbers with a zero
// fraction, tFrac the others, so number is tInt|tFrac.
type typeSet uint8

const (
	tNull typeSet = 1 << iota
	tBool
	tObject
	tArray
	tString
	tInt
	tFrac
	tAll = tNull | tBool | tObject | tArray | tString | tInt | tFrac
)

var typeNames = map[string]typeSet{"null": tNull, "boolean": tBool, "object": tObject, "array": tArray,
	"string": tString, "integer": tInt, "number": tInt | tFrac}

func newNode(id, ptr string) *schemaNode {
	return &schemaNode{id: id, ptr: ptr, types: tAll, maxLen: -1, maxItems: -1, maxProps: -1, at: map[string]string{}}
}

// isAny reports whether a resolved node accepts every JSON value.
func (n *schemaNode) isAny() bool {
	return !n.never && n.types == tAll && !n.hasEnum && n.minLen == 0 && n.maxLen < 0 &&
		len(n.patterns) == 0 && len(n.formats) == 0 && n.lo == nil && n.hi == nil && n.multipleOf == nil &&
		len(n.prefix) == 0 && n.items == nil && n.minItems == 0 && n.maxItems < 0 &&
		len(n.props) == 0 && len(n.required) == 0 && len(n.patProps) == 0 && n.additional == nil &&
		n.minProps == 0 && n.maxProps < 0 && len(n.choices) == 0
}

// Keywords that only annotate: they do not constrain, so they are ignored.
var annotations = map[string]bool{"title": true, "description": true, "default": true, "examples": true,
	"example": true, "$schema": true, "$id": true, "$comment": true, "$anchor": true, "$dynamicAnchor": true,
	"readOnly": true, "writeOnly": true, "deprecated": true, "discriminator": true,
	"externalDocs": true, "xml": true, "$vocabulary": true, "definitions": true, "$defs": true}

// Keywords of JSON Schema that the conversion cannot enforce.
var unsupportedKeywords = map[string]string{
	"uniqueItems":           "a grammar cannot compare items",
	"contains":              "",
	"minContains":           "",
	"maxContains":           "",
	"not":                   "a grammar cannot complement a language",
	"if":                    "",
	"dependencies":          "",
	"dependentRequired":     "",
	"dependentSchemas":      "",
	"propertyNames":         "",
	"unevaluatedProperties": "",
	"unevaluatedItems":      "",
	"contentEncoding":       "",
	"contentMediaType":      "draft 7 may validate a string's content against it",
	"contentSchema":         "",
	"$dynamicRef":           "",
	"$recursiveRef":         "",
	"$recursiveAnchor":      "",
}

// nodeAt builds the node of the schema at ptr. Subschemas are built too, but
// $refs and allOf are left lazy: building never loops.
func (c *compiler) nodeAt(ptr string) (*schemaNode, error) {
	if n, ok := c.nodes[ptr]; ok {
		return n, nil
	}
	v := c.lookup(ptr)
	if v == nil {
		return nil, &Error{Pointer: ptr, Msg: "no schema here"}
	}
	n, err := c.build(v, ptr)
	if err != nil {
		return nil, err
	}
	c.nodes[ptr] = n
	return n, nil
}

func (c *compiler) build(v *value, ptr string) (*schemaNode, error) {
	switch v.kind {
	case kindBool:
		n := newNode(ptr, ptr)
		n.never = !v.b
		return n, nil
	case kindObject:
	default:
		return nil, &Error{Pointer: ptr, Msg: "a schema must be an object or a boolean, not " + v.kind.String()}
	}
	var ref *schemaNode
	if r := v.get("$ref"); r != nil {
		if r.kind != kindString {
			return nil, invalid(ptr, "$ref", "must be a string")
		}
		target, err := c.resolveRef(ptr, r.str)
		if err != nil {
			return nil, err
		}
		ref = &schemaNode{id: "$ref:" + target, ptr: ptr, isRef: true, ref: target}
		if c.draft == dialectDraft7 {
			return ref, nil
		}
		if c.draft == dialectUnknown {
			for _, m := range v.obj {
				if m.key != "$ref" && !c.ignorable(m.key, ptr+"/"+escapePointer(m.key)) {
					return nil, &Error{Keyword: "$ref", Pointer: ptr, Msg: fmt.Sprintf(
						"keyword %q beside \"$ref\": draft 7 ignores it, 2019-09 and later apply it; say which with \"$schema\"", m.key)}
				}
			}
			return ref, nil
		}
	}

	n := newNode(ptr, ptr)
	var parts []*schemaNode
	var minimum, maximum, exclMin, exclMax *value
	seen := map[string]bool{}
	for _, m := range v.obj {
		seen[m.key] = true
	}
	for _, m := range v.obj {
		kw, val := m.key, m.val
		p := ptr + "/" + escapePointer(kw)
		n.at[kw] = ptr
		switch kw {
		case "$ref":
		case "type":
			t, err := parseType(ptr, val)
			if err != nil {
				return nil, err
			}
			n.types &= t
		case "enum":
			if val.kind != kindArray {
				return nil, invalid(ptr, kw, "must be an array")
			}
			n.restrictEnum(val.arr)
		case "const":
			n.restrictEnum([]*value{val})
		case "nullable":
			if val.kind != kindBool {
				return nil, invalid(ptr, kw, "must be a boolean")
			}
		case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
			k, err := count(ptr, kw, val)
			if err != nil {
				return nil, err
			}
			switch kw {
			case "minLength":
				n.minLen = k
			case "maxLength":
				n.maxLen = k
			case "minItems":
				n.minItems = k
			case "maxItems":
				n.maxItems = k
			case "minProperties":
				n.minProps = k
			case "maxProperties":
				n.maxProps = k
			}
		case "pattern", "format":
			if val.kind != kindString {
				return nil, invalid(ptr, kw, "must be a string")
			}
			if kw == "pattern" {
				n.patterns = append(n.patterns, sourced{val.str, ptr})
			} else {
				n.formats = append(n.formats, sourced{val.str, ptr})
			}
		case "minimum":
			minimum = val
		case "maximum":
			maximum = val
		case "exclusiveMinimum":
			exclMin = val
		case "exclusiveMaximum":
			exclMax = val
		case "multipleOf":
			r, ok := val.rat()
			if !ok || r.Sign() <= 0 {
				return nil, invalid(ptr, kw, "must be a number above 0")
			}
			n.multipleOf = r
		case "properties":
			if val.kind != kindObject {
				return nil, invalid(ptr, kw, "must be an object")
			}
			for _, e := range val.obj {
				child, err := c.nodeAt(p + "/" + escapePointer(e.key))
				if err != nil {
					return nil, err
				}
				n.props = append(n.props, prop{e.key, child})
			}
		case "patternProperties":
			if val.kind != kindObject {
				return nil, invalid(ptr, kw, "must be an object")
			}
			for _, e := range val.obj {
				child, err := c.nodeAt(p + "/" + escapePointer(e.key))
				if err != nil {
					return nil, err
				}
				n.patProps = append(n.patProps, patProp{e.key, p, child})
			}
		case "additionalProperties":
			child, err := c.nodeAt(p)
			if err != nil {
				return nil, err
			}
			n.additional = child
		case "required":
			if val.kind != kindArray {
				return nil, invalid(ptr, kw, "must be an array of strings")
			}
			for _, e := range val.arr {
				if e.kind != kindString {
					return nil, invalid(ptr, kw, "must be an array of strings")
				}
				n.addRequired(e.str)
			}
		case "items":
			if val.kind == kindArray {
				if seen["prefixItems"] {
					return nil, invalid(ptr, kw, "an array of schemas beside prefixItems")
				}
				if err := c.buildPrefix(n, p, val); err != nil {
					return nil, err
				}
				if a := v.get("additionalItems"); a != nil {
					child, err := c.nodeAt(ptr + "/additionalItems")
					if err != nil {
						return nil, err
					}
					n.items = child
				}
				continue
			}
			child, err := c.nodeAt(p)
			if err != nil {
				return nil, err
			}
			n.items = child
		case "prefixItems":
			if val.kind != kindArray {
				return nil, invalid(ptr, kw, "must be an array of schemas")
			}
			if err := c.buildPrefix(n, p, val); err != nil {
				return nil, err
			}
		case "additionalItems":
			// Read with items; without an array of items it does nothing.
		case "allOf", "anyOf", "oneOf":
			if val.kind != kindArray || len(val.arr) == 0 {
				return nil, invalid(ptr, kw, "must be a non-empty array of schemas")
			}
			var alts []*schemaNode
			for i := range val.arr {
				child, err := c.nodeAt(p + "/" + strconv.Itoa(i))
				if err != nil {
					return nil, err
				}
				alts = append(alts, child)
			}
			if kw == "allOf" {
				parts = append(parts, alts...)
			} else {
				n.choices = append(n.choices, choice{kw, ptr, alts})
			}
		case "uniqueItems":
			if val.kind != kindBool {
				return nil, invalid(ptr, kw, "must be a boolean")
			}
			if val.b {
				return nil, unsupported(ptr, kw, unsupportedKeywords[kw])
			}
		case "then", "else":
			// Without if they do nothing.
		default:
			if kw == "if" && !seen["then"] && !seen["else"] {
				continue // if alone does nothing
			}
			if why, ok := unsupportedKeywords[kw]; ok {
				return nil, unsupported(ptr, kw, why)
			}
			if c.ignorable(kw, p) {
				continue
			}
			return nil, &Error{Keyword: kw, Pointer: ptr, Msg: fmt.Sprintf("unknown keyword %q", kw)}
		}
	}
	if nl := v.get("nullable"); nl != nil && nl.b {
		n.types |= tNull
		if n.hasEnum {
			n.enum = append(n.enum, &value{kind: kindNull})
		}
	}
	if err := n.setBounds(ptr, minimum, maximum, exclMin, exclMax); err != nil {
		return nil, err
	}
	if c.opts.Strict && (v.get("properties") != nil || v.get("type") != nil && n.types&tObject != 0) {
		for _, p := range n.props {
			n.addRequired(p.name)
		}
		if v.get("additionalProperties") == nil {
			n.additional = newNode("false", ptr)
			n.additional.never = true
		}
	}
	if ref == nil && parts == nil {
		return n, nil
	}
	// The node's own keywords come first: property order follows them.
	n.id = ptr + "/(own)"
	all := []*schemaNode{n}
	if ref != nil {
		all = append(all, ref)
	}
	return &schemaNode{id: ptr, ptr: ptr, all: append(all, parts...)}, nil
}

// ignorable reports whether keyword kw, at p, does not constrain: an
// annotation, a vendor extension, or a container $refs point into.
func (c *compiler) ignorable(kw, p string) bool {
	return annotations[kw] || strings.HasPrefix(kw, "x-") || c.isContainer(p)
}

func (c *compiler) buildPrefix(n *schemaNode, p string, val *value) error {
	for i := range val.arr {
		child, err := c.nodeAt(p + "/" + strconv.Itoa(i))
		if err != nil {
			return err
		}
		n.prefix = append(n.prefix, child)
	}
	return nil
}

func parseType(ptr string, v *value) (typeSet, error) {
	names := []*value{v}
	if v.kind == kindArray {
		names = v.arr
	}
	var t typeSet
	for _, e := range names {
		if e.kind != kindString {
			return 0, invalid(ptr, "type", "must be a type name or an array of them")
		}
		b, ok := typeNames[e.str]
		if !ok {
			return 0, invalid(ptr, "type", "unknown type %q", e.str)
		}
		t |= b
	}
	return t, nil
}

// count reads a keyword's non-negative integer.
func count(ptr, kw string, v *value) (int, error) {
	r, ok := v.rat()
	if !ok || !r.IsInt() || r.Sign() < 0 {
		return 0, invalid(ptr, kw, "must be a non-negative integer, not %s", v.text())
	}
	if !r.Num().IsInt64() || r.Num().Int64() > 1<<30 {
		return 0, invalid(ptr, kw, "%s is too large", v.text())
	}
	return int(r.Num().Int64()), nil
}

func (n *schemaNode) addRequired(name string) {
	for _, r := range n.required {
		if r == name {
			return
		}
	}
	n.required = append(n.required, name)
}

// restrictEnum keeps only the values that are also in vals.
func (n *schemaNode) restrictEnum(vals []*value) {
	if !n.hasEnum {
		n.hasEnum, n.enum = true, vals
		return
	}
	var keep []*value
	for _, a := range n.enum {
		for _, b := range vals {
			if equal(a, b) {
				keep = append(keep, a)
				break
			}
		}
	}
	n.enum = keep
}

func (n *schemaNode) setBounds(ptr string, minimum, maximum, exclMin, exclMax *value) error {
	num := func(kw string, v *value) (*big.Rat, error) {
		r, ok := v.rat()
		if !ok {
			return nil, invalid(ptr, kw, "must be a number")
		}
		return r, nil
	}
	if minimum != nil {
		r, err := num("minimum", minimum)
		if err != nil {
			return err
		}
		n.lo = &bound{Value: r, Exclusive: exclMin != nil && exclMin.kind == kindBool && exclMin.b}
	}
	if maximum != nil {
		r, err := num("maximum", maximum)
		if err != nil {
			return err
		}
		n.hi = &bound{Value: r, Exclusive: exclMax != nil && exclMax.kind == kindBool && exclMax.b}
	}
	if exclMin != nil && exclMin.kind != kindBool {
		r, err := num("exclusiveMinimum", exclMin)
		if err != nil {
			return err
		}
		n.lo = tighterLo(n.lo, &bound{Value: r, Exclusive: true})
	}
	if exclMax != nil && exclMax.kind != kindBool {
		r, err := num("exclusiveMaximum", exclMax)
		if err != nil {
			return err
		}
		n.hi = tighterHi(n.hi, &bound{Value: r, Exclusive: true})
	}
	return nil
}

func tighterLo(a, b *bound) *bound {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	switch a.Value.Cmp(b.Value) {
	case 1:
		return a
	case -1:
		return b
	}
	return &bound{Value: a.Value, Exclusive: a.Exclusive || b.Exclusive}
}

func tighterHi(a, b *bound) *bound {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	switch a.Value.Cmp(b.Value) {
	case -1:
		return a
	case 1:
		return b
	}
	return &bound{Value: a.Value, Exclusive: a.Exclusive || b.Exclusive}
}

// conj is the lazy conjunction of two nodes; nil stands for any value.
func conj(a, b *schemaNode) *schemaNode {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.id == b.id:
		return a
	}
	return &schemaNode{id: "&(" + a.id + "," + b.id + ")", ptr: b.ptr, all: []*schemaNode{a, b}}
}

// resolve returns the merged, plain form of n: its $refs followed, its
// conjunctions merged (one level deep: children stay lazy).
func (c *compiler) resolve(n *schemaNode) (*schemaNode, error) {
	if !n.isRef && n.all == nil {
		return n, nil
	}
	if r, ok := c.resolved[n.id]; ok {
		return r, nil
	}
	if c.building[n.id] {
		return nil, &Error{Keyword: "$ref", Pointer: n.ptr, Msg: `keyword "$ref": the schema refers to itself without anything in between (a $ref or allOf loop)`}
	}
	c.building[n.id] = true
	defer delete(c.building, n.id)
	var r *schemaNode
	if n.isRef {
		t, err := c.nodeAt(n.ref)
		if err != nil {
			return nil, err
		}
		if r, err = c.resolve(t); err != nil {
			return nil, err
		}
	} else {
		for _, part := range n.all {
			p, err := c.resolve(part)
			if err != nil {
				return nil, err
			}
			if r == nil {
				r = p
				continue
			}
			if r, err = c.merge(r, p); err != nil {
				return nil, err
			}
		}
	}
	c.resolved[n.id] = r
	return r, nil
}

// merge returns the node that both a and b accept: allOf. Subschemas are
// joined lazily with conj.
func (c *compiler) merge(a, b *schemaNode) (*schemaNode, error) {
	switch {
	case a.never || b.isAny():
		return a, nil
	case b.never || a.isAny():
		return b, nil
	}
	n := newNode("&("+a.id+","+b.id+")", a.ptr)
	for k, v := range b.at {
		n.at[k] = v
	}
	for k, v := range a.at {
		n.at[k] = v
	}
	n.types = a.types & b.types
	switch {
	case a.hasEnum:
		n.hasEnum, n.enum = true, a.enum
		if b.hasEnum {
			n.restrictEnum(b.enum)
		}
	case b.hasEnum:
		n.hasEnum, n.enum = true, b.enum
	}

	n.minLen = max(a.minLen, b.minLen)
	n.maxLen = minLimit(a.maxLen, b.maxLen)
	n.patterns = appendNew(a.patterns, b.patterns)
	n.formats = appendNew(a.formats, b.formats)

	n.lo = tighterLo(a.lo, b.lo)
	n.hi = tighterHi(a.hi, b.hi)
	switch {
	case a.multipleOf == nil:
		n.multipleOf = b.multipleOf
	case b.multipleOf == nil || a.multipleOf.Cmp(b.multipleOf) == 0:
		n.multipleOf = a.multipleOf
	case a.multipleOf.IsInt() && b.multipleOf.IsInt():
		x, y := a.multipleOf.Num(), b.multipleOf.Num()
		g := new(big.Int).GCD(nil, nil, x, y)
		n.multipleOf = new(big.Rat).SetInt(new(big.Int).Mul(new(big.Int).Quo(x, g), y))
	default:
		return nil, unsupported(b.at["multipleOf"], "multipleOf", "two different non-integer values cannot be combined (allOf)")
	}

	for i := range max(len(a.prefix), len(b.prefix)) {
		n.prefix = append(n.prefix, conj(itemAt(a, i), itemAt(b, i)))
	}
	n.items = conj(a.items, b.items)
	n.minItems = max(a.minItems, b.minItems)
	n.maxItems = minLimit(a.maxItems, b.maxItems)

	if err := c.mergeObjects(n, a, b); err != nil {
		return nil, err
	}
	n.choices = append(append([]choice(nil), a.choices...), b.choices...)
	return n, nil
}

// itemAt is the schema for item i.
func itemAt(n *schemaNode, i int) *schemaNode {
	if i < len(n.prefix) {
		return n.prefix[i]
	}
	return n.items
}

func (c *compiler) mergeObjects(n, a, b *schemaNode) error {
	aRestricts := len(a.patProps) > 0 || a.additional != nil
	bRestricts := len(b.patProps) > 0 || b.additional != nil
	if len(a.patProps) > 0 && len(b.patProps) > 0 {
		return unsupported(b.at["patternProperties"], "patternProperties",
			"two schemas joined by allOf both have patternProperties; a key matching a pattern of one must also satisfy the other's, which a grammar cannot follow")
	}
	// A property declared by one side only is, for the other side, a key
	// its patternProperties or additionalProperties govern.
	for _, p := range a.props {
		q := p.n
		if bp := findProp(b.props, p.name); bp != nil {
			q = conj(q, bp)
		} else if bRestricts {
			k, err := c.keySchema(b, p.name)
			if err != nil {
				return err
			}
			q = conj(q, k)
		}
		n.props = append(n.props, prop{p.name, q})
	}
	for _, p := range b.props {
		if findProp(a.props, p.name) != nil {
			continue
		}
		q := p.n
		if aRestricts {
			k, err := c.keySchema(a, p.name)
			if err != nil {
				return err
			}
			q = conj(k, q)
		}
		n.props = append(n.props, prop{p.name, q})
	}
	for _, r := range a.required {
		n.addRequired(r)
	}
	for _, r := range b.required {
		n.addRequired(r)
	}
	// Keys neither declares: those matching a pattern (of one side only)
	// need its schema and the other side's additionalProperties; the rest
	// need both sides' additionalProperties.
	for _, pp := range a.patProps {
		n.patProps = append(n.patProps, patProp{pp.pattern, pp.ptr, conj(pp.n, b.additional)})
	}
	for _, pp := range b.patProps {
		n.patProps = append(n.patProps, patProp{pp.pattern, pp.ptr, conj(a.additional, pp.n)})
	}
	n.additional = conj(a.additional, b.additional)
	n.minProps = max(a.minProps, b.minProps)
	n.maxProps = minLimit(a.maxProps, b.maxProps)
	return nil
}

// keySchema is the schema that n's patternProperties and
// additionalProperties give an undeclared key; nil is any.
func (c *compiler) keySchema(n *schemaNode, key string) (*schemaNode, error) {
	var out *schemaNode
	matched := false
	for _, pp := range n.patProps {
		ok, err := c.matchPattern(pp.pattern, pp.ptr, key)
		if err != nil {
			return nil, err
		}
		if ok {
			matched = true
			out = conj(out, pp.n)
		}
	}
	if matched {
		return out, nil
	}
	return n.additional, nil
}

func findProp(ps []prop, name string) *schemaNode {
	for _, p := range ps {
		if p.name == name {
			return p.n
		}
	}
	return nil
}

// minLimit is the smaller of two maxima where below 0 means none.
func minLimit(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

func appendNew(a, b []sourced) []sourced {
	out := append([]sourced(nil), a...)
next:
	for _, s := range b {
		for _, t := range out {
			if t.val == s.val {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}
