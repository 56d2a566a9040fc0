package jsonschema

import (
	"net/url"
	"strconv"
	"strings"
)

// A compiler turns one schema document into rules.
type compiler struct {
	*ruleSet
	doc   *value
	opts  Options
	draft dialect

	schemas map[string]*value   // every schema the walk found, by pointer
	base    map[string]*url.URL // its base URI
	ids     map[string]string   // absolute URI (no fragment) → pointer
	anchors map[string]string   // absolute URI with a plain-name fragment → pointer
	targets []string            // pointers that $refs name, resolved

	nodes    map[string]*schemaNode // built nodes, by pointer
	building map[string]bool        // nodes being built, against allOf cycles
	resolved map[string]*schemaNode // resolve's results, by node id
	exprs    map[string]genResult
	inGen    map[string]*pending
	patterns map[string]string // pattern → its GBNF expression
	matchers map[string]matcher
}

// dialect is how keywords beside $ref are read.
type dialect uint8

const (
	dialectUnknown dialect = iota // no $schema: keywords beside $ref are refused
	dialectDraft7                 // draft 4 to 7: they are ignored
	dialect2019                   // 2019-09 and later: they apply
)

// rootURI stands for the document's address when it has no $id.
const rootURI = "urn:ondo:schema"

func newCompiler(doc *value, opts Options) (*compiler, error) {
	c := &compiler{
		ruleSet:  newRuleSet(),
		doc:      doc,
		opts:     opts,
		schemas:  map[string]*value{},
		base:     map[string]*url.URL{},
		ids:      map[string]string{},
		anchors:  map[string]string{},
		nodes:    map[string]*schemaNode{},
		building: map[string]bool{},
		resolved: map[string]*schemaNode{},
		exprs:    map[string]genResult{},
		inGen:    map[string]*pending{},
		patterns: map[string]string{},
		matchers: map[string]matcher{},
	}
	if s := doc.get("$schema"); s != nil {
		if s.kind != kindString {
			return nil, invalid("", "$schema", "must be a string")
		}
		switch {
		case strings.Contains(s.str, "draft-0"):
			c.draft = dialectDraft7
		case strings.Contains(s.str, "/draft/20"):
			c.draft = dialect2019
		}
	}
	root, _ := url.Parse(rootURI)
	c.ids[rootURI] = ""
	if err := c.walk(doc, "", root); err != nil {
		return nil, err
	}
	// Learn every $ref's target first: a keyword JSON Schema does not know
	// is accepted as a container of schemas when some $ref points into it.
	for ptr, v := range c.schemas {
		if r := v.get("$ref"); r != nil && r.kind == kindString {
			c.resolveRef(ptr, r.str) // errors come again where the $ref is compiled
		}
	}
	return c, nil
}

// Keywords whose values are schemas, maps of schemas or lists of schemas:
// the places $id and $anchor are looked for.
var (
	schemaKeywords = map[string]bool{"additionalProperties": true, "additionalItems": true, "items": true,
		"contains": true, "propertyNames": true, "not": true, "if": true, "then": true, "else": true,
		"unevaluatedItems": true, "unevaluatedProperties": true, "contentSchema": true}
	schemaMapKeywords = map[string]bool{"properties": true, "patternProperties": true, "definitions": true,
		"$defs": true, "dependentSchemas": true, "dependencies": true}
	schemaListKeywords = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true, "items": true}
)

// walk records the schemas of the document with their base URIs, $ids and
// anchors.
func (c *compiler) walk(v *value, ptr string, base *url.URL) error {
	if v.kind != kindObject {
		if v.kind == kindBool {
			c.schemas[ptr] = v
			c.base[ptr] = base
		}
		return nil
	}
	c.schemas[ptr] = v
	if id := v.get("$id"); id != nil && id.kind == kindString {
		u, err := url.Parse(id.str)
		if err != nil {
			return invalid(ptr, "$id", "%v", err)
		}
		abs := base.ResolveReference(u)
		if abs.Fragment != "" && abs.Fragment[0] != '/' {
			c.anchors[abs.String()] = ptr // draft 7 names an anchor with $id: "#name"
		}
		abs.Fragment = ""
		if id.str != "" && id.str[0] != '#' {
			base = abs
			c.ids[abs.String()] = ptr
		}
	}
	c.base[ptr] = base
	if a := v.get("$anchor"); a != nil && a.kind == kindString {
		u := *base
		u.Fragment = a.str
		c.anchors[u.String()] = ptr
	}
	for _, m := range v.obj {
		p := ptr + "/" + escapePointer(m.key)
		switch {
		case schemaKeywords[m.key] && (m.val.kind == kindObject || m.val.kind == kindBool):
			if err := c.walk(m.val, p, base); err != nil {
				return err
			}
		case schemaListKeywords[m.key] && m.val.kind == kindArray:
			for i, e := range m.val.arr {
				if err := c.walk(e, p+"/"+strconv.Itoa(i), base); err != nil {
					return err
				}
			}
		case schemaMapKeywords[m.key] && m.val.kind == kindObject:
			for _, e := range m.val.obj {
				if err := c.walk(e.val, p+"/"+escapePointer(e.key), base); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// resolveRef returns the pointer that the $ref value ref, standing in the
// schema at ptr, names.
func (c *compiler) resolveRef(ptr, ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", invalid(ptr, "$ref", "%q is not a URI reference: %v", ref, err)
	}
	base := c.base[ptr]
	if base == nil {
		base = c.baseOf(ptr)
	}
	abs := base.ResolveReference(u)
	frag := abs.Fragment
	abs.Fragment = ""
	doc, ok := c.ids[abs.String()]
	if !ok {
		return "", &Error{Keyword: "$ref", Pointer: ptr,
			Msg: `keyword "$ref": ` + strconv.Quote(ref) + " names a document other than this one; remote references are not supported"}
	}
	target := doc
	switch {
	case frag == "":
	case frag[0] == '/':
		target = doc + frag
	default:
		abs.Fragment = frag
		if target, ok = c.anchors[abs.String()]; !ok {
			return "", invalid(ptr, "$ref", "%q: no schema has the anchor %q", ref, frag)
		}
	}
	if c.lookup(target) == nil {
		return "", invalid(ptr, "$ref", "%q points to nothing in the document", ref)
	}
	c.targets = append(c.targets, target)
	return target, nil
}

// baseOf returns the base URI in force at ptr, which the walk may not have
// reached (a $ref may point anywhere in the document): the nearest
// ancestor's.
func (c *compiler) baseOf(ptr string) *url.URL {
	for {
		if b, ok := c.base[ptr]; ok {
			return b
		}
		i := strings.LastIndexByte(ptr, '/')
		if i < 0 {
			return c.base[""]
		}
		ptr = ptr[:i]
	}
}

// lookup returns the value at a JSON pointer, or nil.
func (c *compiler) lookup(ptr string) *value {
	if v, ok := c.schemas[ptr]; ok {
		return v
	}
	v := c.doc
	if ptr == "" {
		return v
	}
	if ptr[0] != '/' {
		return nil
	}
	for _, seg := range strings.Split(ptr[1:], "/") {
		seg = unescapePointer(seg)
		switch v.kind {
		case kindObject:
			if v = v.get(seg); v == nil {
				return nil
			}
		case kindArray:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v.arr) || seg != strconv.Itoa(i) {
				return nil
			}
			v = v.arr[i]
		default:
			return nil
		}
	}
	return v
}

// isContainer reports whether ptr holds values that $refs point into
// (like definitions, but under a name JSON Schema does not know).
func (c *compiler) isContainer(ptr string) bool {
	for _, t := range c.targets {
		if t == ptr || strings.HasPrefix(t, ptr+"/") {
			return true
		}
	}
	return false
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func unescapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
}
