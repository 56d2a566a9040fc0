package jsonschema

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// The official JSON-Schema-Test-Suite (draft 7): every schema either
// compiles to a grammar that accepts exactly the valid instances, or is
// refused with an *Error that names the keyword.

// accepts is the check that a grammar accepts a text. The token-level
// harness swaps in one that feeds the text token by token through a
// Matcher.
var accepts = func(g *grammar.Grammar, text string) bool { return g.MatchString(text) }

type suiteGroup struct {
	file, description string
	schema            *value
	tests             []suiteTest
}

type suiteTest struct {
	description string
	data        *value
	valid       bool
}

// suiteFiles reads the suite's draft 7 files that TestSuite runs.
func suiteFiles(t *testing.T, patterns ...string) map[string][]suiteGroup {
	root := filepath.Join(testdata.Dir(t), "jsonschema", "draft7")
	if len(patterns) == 0 {
		patterns = []string{"*.json", filepath.Join("optional", "format", "*.json")}
	}
	var names []string
	for _, pat := range patterns {
		m, err := filepath.Glob(filepath.Join(root, pat))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	if len(names) == 0 {
		t.Fatalf("no suite files in %s", root)
	}
	out := map[string][]suiteGroup{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rel, _ := filepath.Rel(root, name)
		for _, g := range doc.arr {
			sg := suiteGroup{file: rel, description: g.get("description").str, schema: g.get("schema")}
			for _, c := range g.get("tests").arr {
				sg.tests = append(sg.tests, suiteTest{c.get("description").str, c.get("data"), c.get("valid").b})
			}
			out[rel] = append(out[rel], sg)
		}
	}
	return out
}

func TestSuite(t *testing.T) { runSuite(t, suiteFiles(t)) }

// TestSuiteOptional runs the suite's other optional files. Two of them are
// left out by design: bignum.json and zeroTerminatedFloats.json hold valid
// numbers that generated JSON never has (more than 16 digits; an integer
// written 1.0, which would not decode into an integer type): see
// maxDigits16. The test checks that those are rejected.
func TestSuiteOptional(t *testing.T) {
	runSuite(t, suiteFiles(t, filepath.Join("optional", "content.json"), filepath.Join("optional", "ecmascript-regex.json")))
	for _, c := range []struct{ schema, text string }{
		{`{"type":"integer"}`, "12345678910111213141516171819202122232425262728293031"},
		{`{"type":"number"}`, "98249283749234923498293171823948729348710298301928331"},
		{`{"type":"integer"}`, "1.0"},
	} {
		src, err := Compile([]byte(c.schema), Options{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := grammar.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		if g.MatchString(c.text) {
			t.Errorf("%s accepts %s", c.schema, c.text)
		}
	}
}

func runSuite(t *testing.T, files map[string][]suiteGroup) {
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		passed, refused := 0, 0
		var keywords []string
		for _, sg := range files[name] {
			out, err := Compile([]byte(draft7(sg.schema).text()), Options{})
			var se *Error
			switch {
			case errors.Is(err, ErrUnsatisfiable):
				// Nothing to generate: right when nothing is valid.
				for _, tc := range sg.tests {
					if tc.valid {
						t.Errorf("%s: %s: refused as unsatisfiable, but %q is valid", name, sg.description, tc.description)
					}
				}
				passed += len(sg.tests)
				continue
			case errors.As(err, &se):
				refused += len(sg.tests)
				kw := se.Keyword
				if kw == "" {
					kw = se.Msg
				}
				if !slices.Contains(keywords, kw) {
					keywords = append(keywords, kw)
				}
				t.Logf("%s: %s: refused: %v", name, sg.description, err)
				continue
			case err != nil:
				t.Errorf("%s: %s: Compile: %v (not an *Error)", name, sg.description, err)
				continue
			}
			g, err := grammar.Parse(out)
			if err != nil {
				t.Errorf("%s: %s: the grammar does not parse: %v\n%s", name, sg.description, err, out)
				continue
			}
			canon, err := newCanonicalizer(draft7(sg.schema))
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range checkGroup(g, canon, sg.tests) {
				t.Errorf("%s: %s: %s\n%s", name, sg.description, msg, out)
			}
			passed += len(sg.tests)
		}
		line := name + ": " + strconv.Itoa(passed) + " passed, " + strconv.Itoa(refused) + " refused"
		if len(keywords) > 0 {
			line += " (" + strings.Join(keywords, ", ") + ")"
		}
		t.Log(line)
	}
}

// draft7 says in a schema without $schema that it is draft 7, as the suite's
// folder does: there keywords beside $ref are ignored. (Compile refuses
// them when the dialect is not said: the drafts disagree.)
func draft7(schema *value) *value {
	if schema.kind != kindObject || schema.get("$schema") != nil {
		return schema
	}
	m := member{"$schema", &value{kind: kindString, str: "http://json-schema.org/draft-07/schema#"}}
	return &value{kind: kindObject, obj: append([]member{m}, schema.obj...)}
}

// checkGroup runs a group's tests against its grammar and returns what went
// wrong: a valid instance the grammar rejects, or an invalid one it accepts.
func checkGroup(g *grammar.Grammar, canon *canonicalizer, tests []suiteTest) []string {
	var bad []string
	for _, tc := range tests {
		cands := canon.candidates(tc.data)
		if tc.valid {
			ok := false
			for _, c := range cands {
				if accepts(g, compact(c)) && accepts(g, spaced(c)) {
					ok = true
					break
				}
			}
			if !ok {
				bad = append(bad, "valid instance rejected: "+tc.description+": "+compact(cands[0])+" / "+spaced(cands[0]))
			}
			continue
		}
		for _, c := range cands {
			for _, text := range []string{compact(c), spaced(c)} {
				if accepts(g, text) {
					bad = append(bad, "invalid instance accepted: "+tc.description+": "+text)
				}
			}
		}
	}
	return bad
}

// compact is a value's JSON text without spaces; spaced is Python's
// json.dumps spacing. Both keep non-ASCII text as UTF-8 and escape only
// what JSON requires.
func compact(v *value) string {
	var b strings.Builder
	v.write(&b, "", "")
	return b.String()
}

func spaced(v *value) string {
	var b strings.Builder
	v.write(&b, " ", " ")
	return b.String()
}

// A canonicalizer reorders an instance's object members into the order the
// grammar writes them. The grammar fixes property order by design (a
// model's output is steered into the schema's order; a grammar allowing
// every order would grow with the factorial of the property count), while
// JSON Schema ignores order: so the suite's instances, written in any
// order, are put in the grammar's order before matching. That order is
// the declared properties in schema order (after following $ref and
// merging allOf), then required properties not declared, then the rest in
// their original order; where anyOf or oneOf offers branches with
// different orders, each branch gives a candidate. It works from the
// compiler's own reading of the schema, so it sees $ref and allOf exactly
// as the grammar does.
type canonicalizer struct {
	c    *compiler
	root *schemaNode
}

func newCanonicalizer(schema *value) (*canonicalizer, error) {
	c, err := newCompiler(schema, Options{})
	if err != nil {
		return nil, err
	}
	n, err := c.nodeAt("")
	if err != nil {
		return nil, err
	}
	return &canonicalizer{c, n}, nil
}

// maxCandidates bounds the orderings tried for one instance.
const maxCandidates = 32

func (k *canonicalizer) candidates(v *value) []*value {
	out := k.order(k.root, v, 0)
	if len(out) == 0 {
		return []*value{v}
	}
	return out
}

func (k *canonicalizer) order(n *schemaNode, v *value, depth int) []*value {
	if n == nil || depth > 64 || v.kind != kindObject && v.kind != kindArray {
		return []*value{v}
	}
	r, err := k.c.resolve(n)
	if err != nil {
		return []*value{v}
	}
	if r.hasEnum {
		for _, e := range r.enum {
			if equal(e, v) {
				return []*value{e}
			}
		}
	}
	if len(r.choices) > 0 {
		// Each branch of every choice, merged with the rest, as the
		// grammar multiplies them out.
		base := *r
		base.choices = nil
		base.id = r.id + "|"
		branches := []*schemaNode{&base}
		for _, ch := range r.choices {
			var next []*schemaNode
			for _, b := range branches {
				for _, a := range ch.alts {
					next = append(next, conj(b, a))
				}
			}
			branches = next
		}
		var out []*value
		for _, b := range branches {
			for _, cand := range k.order(b, v, depth+1) {
				if !slices.ContainsFunc(out, func(o *value) bool { return compact(o) == compact(cand) }) {
					out = append(out, cand)
				}
			}
		}
		return cap32(out)
	}
	if v.kind == kindArray {
		outs := []*value{{kind: kindArray, arr: []*value{}}}
		for i, e := range v.arr {
			outs = product(outs, k.order(itemAt(r, i), e, depth+1), func(o *value, c *value) *value {
				return &value{kind: kindArray, arr: append(slices.Clone(o.arr), c)}
			})
		}
		return outs
	}
	var keys []string
	for _, p := range r.props {
		if v.get(p.name) != nil {
			keys = append(keys, p.name)
		}
	}
	for _, name := range r.required {
		if v.get(name) != nil && !slices.Contains(keys, name) {
			keys = append(keys, name)
		}
	}
	for _, m := range v.obj {
		if !slices.Contains(keys, m.key) {
			keys = append(keys, m.key)
		}
	}
	outs := []*value{{kind: kindObject, obj: []member{}}}
	for _, key := range keys {
		s, err := k.c.propSchema(r, key)
		if err != nil {
			s = nil
		}
		outs = product(outs, k.order(s, v.get(key), depth+1), func(o *value, c *value) *value {
			return &value{kind: kindObject, obj: append(slices.Clone(o.obj), member{key, c})}
		})
	}
	return outs
}

func product(outs, cands []*value, join func(o, c *value) *value) []*value {
	var next []*value
	for _, o := range outs {
		for _, c := range cands {
			next = append(next, join(o, c))
		}
	}
	return cap32(next)
}

func cap32(vs []*value) []*value {
	if len(vs) > maxCandidates {
		return vs[:maxCandidates]
	}
	return vs
}

// TestSuiteCanFail shows that the suite catches a broken grammar: maxItems
// compiled one too high must fail maxItems.json.
func TestSuiteCanFail(t *testing.T) {
	sg := suiteFiles(t)["maxItems.json"][0]
	canon, err := newCanonicalizer(sg.schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{0, 1} {
		c, err := newCompiler(sg.schema, Options{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.nodeAt("")
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.resolve(n)
		if err != nil {
			t.Fatal(err)
		}
		r.maxItems += off
		e, _, err := c.gen(r, "root")
		if err != nil {
			t.Fatal(err)
		}
		g, err := grammar.Parse(c.output(e))
		if err != nil {
			t.Fatal(err)
		}
		bad := checkGroup(g, canon, sg.tests)
		switch {
		case off == 0 && len(bad) > 0:
			t.Errorf("the correct grammar fails: %v", bad)
		case off == 1 && len(bad) == 0:
			t.Errorf("maxItems one too high goes unnoticed")
		case off == 1:
			t.Logf("maxItems one too high: %v", bad)
		}
	}
}
