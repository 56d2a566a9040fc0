package jsonschema

import (
	"errors"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/grammar"
)

// compile compiles a schema and parses its grammar, failing the test on
// any error.
func compile(t *testing.T, schema string, opts Options) *grammar.Grammar {
	t.Helper()
	src, err := Compile([]byte(schema), opts)
	if err != nil {
		t.Fatalf("Compile(%s): %v", schema, err)
	}
	g, err := grammar.Parse(src)
	if err != nil {
		t.Fatalf("Compile(%s) gave a grammar that does not parse: %v\n%s", schema, err, src)
	}
	return g
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name   string
		schema string
		strict bool
		accept []string
		reject []string
	}{
		{name: "any", schema: `{}`,
			accept: []string{`1`, `"x"`, `{"a":[1,{"b":null}]}`, `[]`, `true`, `null`, `-0.5e+3`},
			reject: []string{``, `{`, `01`, `[1,]`, `'x'`, ` 1`}},
		{name: "true", schema: `true`, accept: []string{`{}`, `0`}},
		{name: "object spacing", schema: `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"array","items":{"type":"integer"}}},"required":["a","b"]}`,
			accept: []string{`{"a":1,"b":[1,2]}`, `{"a": 1, "b": [1, 2]}`, "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}", "{\n\t\"a\": 1,\n\t\"b\": []\n}"},
			reject: []string{`{"b":[1,2],"a":1}`, `{"a":1}`, `{"a":1,"b":[1,2],"c":3}` + "x", `{"a":1,  "b":[]}`, "{\"a\":1,\"b\":[]}\n", `{"a":1.5,"b":[]}`}},
		{name: "whitespace is bounded", schema: `{"type":"array"}`,
			accept: []string{"[\n" + strings.Repeat(" ", 20) + "1]"},
			reject: []string{"[\n" + strings.Repeat(" ", 21) + "1]", "[  1]"}},
		{name: "optional properties", schema: `{"properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"boolean"}},"additionalProperties":false}`,
			accept: []string{`{}`, `{"a":1}`, `{"b":"x"}`, `{"c":true}`, `{"a":1,"c":false}`, `{"a":1,"b":"","c":true}`, `"not an object"`},
			reject: []string{`{"b":"x","a":1}`, `{"d":1}`, `{,"a":1}`, `{"a":1,}`, `{"a":1,"a":2}`}},
		{name: "additional properties after declared", schema: `{"properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}`,
			accept: []string{`{"a":1,"x":"y"}`, `{"x":"y","ab":"z"}`, `{"":"e"}`, `{"é":"é"}`},
			reject: []string{`{"a":"s"}`, `{"x":1}`, `{"x":"y","a":1}`}},
		{name: "strict", schema: `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":["string","null"]}}}`, strict: true,
			accept: []string{`{"a":1,"b":null}`, `{"a":1,"b":"x"}`},
			reject: []string{`{"a":1}`, `{"a":1,"b":null,"c":2}`}},
		{name: "strict keeps additionalProperties", schema: `{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":true}`, strict: true,
			accept: []string{`{"a":1,"b":2}`}, reject: []string{`{}`}},
		{name: "min and max properties", schema: `{"properties":{"a":{},"b":{},"c":{}},"additionalProperties":{"type":"integer"},"minProperties":2,"maxProperties":3,"type":"object"}`,
			accept: []string{`{"a":1,"b":2}`, `{"a":1,"c":2}`, `{"a":1,"b":2,"c":3}`, `{"x":1,"y":2}`, `{"b":1,"x":2,"y":3}`},
			reject: []string{`{}`, `{"a":1}`, `{"x":1}`, `{"a":1,"b":2,"c":3,"x":4}`, `{"x":1,"y":2,"z":3,"w":4}`}},
		{name: "required but not declared", schema: `{"required":["z"],"additionalProperties":{"type":"integer"}}`,
			accept: []string{`{"z":1}`, `{"z":1,"a":2}`, `5`},
			reject: []string{`{}`, `{"a":2}`, `{"z":"s"}`, `{"z":1,"z":2}`}},
		{name: "pattern properties", schema: `{"patternProperties":{"^x-":{"type":"integer"},"y$":{"type":"string"}},"additionalProperties":{"type":"boolean"}}`,
			accept: []string{`{"x-a":1,"ay":"s","b":true}`},
			reject: []string{`{"x-a":"s"}`, `{"ay":true}`, `{"b":1}`, `{"x-y":1}`, `{"x-y":"s"}`}}, // x-y needs both
		{name: "prefixItems", schema: `{"prefixItems":[{"type":"integer"},{"type":"string"}],"items":{"type":"boolean"},"minItems":1,"maxItems":3}`,
			accept: []string{`[1]`, `[1,"a"]`, `[1,"a",true]`, `{}`},
			reject: []string{`[]`, `["a"]`, `[1,2]`, `[1,"a",true,false]`, `[1,"a","b"]`}},
		{name: "draft 7 tuple", schema: `{"items":[{"const":1}],"additionalItems":false}`,
			accept: []string{`[]`, `[1]`},
			reject: []string{`[1,1]`, `[2]`}},
		{name: "string length counts code points", schema: `{"type":"string","minLength":2,"maxLength":3}`,
			accept: []string{`"ab"`, `"abc"`, `"\n\t"`, `"é😀"`, `"\u00e9\ud83d\ude00"`, `"\"\\/"`},
			reject: []string{`"a"`, `"abcd"`, `"😀"`, `"\ud83d\ude00"`, `"\ud83dab"`}},
		{name: "lengths implied by a format or pattern", schema: `{"type":"object","properties":{"d":{"type":"string","format":"date","minLength":10,"maxLength":10},"zip":{"type":"string","pattern":"^[0-9]{5}$","maxLength":5},"id":{"type":"string","format":"uuid","maxLength":40}}}`,
			accept: []string{`{"d":"2026-12-07","zip":"04524","id":"123e4567-e89b-12d3-a456-426614174000"}`, `{}`},
			reject: []string{`{"zip":"0452"}`, `{"d":"2026-1-07"}`}},
		{name: "long strings", schema: `{"type":"string","maxLength":2500}`,
			accept: []string{`"` + strings.Repeat("a", 2500) + `"`, `"` + strings.Repeat("a", 1000) + `"`, `""`},
			reject: []string{`"` + strings.Repeat("a", 2501) + `"`}},
		{name: "integer", schema: `{"type":"integer"}`,
			accept: []string{`0`, `-0`, `12`, `9999999999999999`},
			reject: []string{`1.5`, `01`, `1.`, `"1"`, `1e2`, `1.0`, `10000000000000000`}},
		{name: "bounded integer", schema: `{"type":"integer","minimum":-3,"exclusiveMaximum":10}`,
			accept: []string{`-3`, `0`, `9`},
			reject: []string{`-4`, `10`, `11`, `1.5`}},
		{name: "draft 4 exclusive bounds", schema: `{"type":"integer","minimum":0,"exclusiveMinimum":true,"maximum":3,"exclusiveMaximum":true}`,
			accept: []string{`1`, `2`}, reject: []string{`0`, `3`}},
		{name: "multipleOf integer", schema: `{"type":"integer","multipleOf":3,"minimum":0,"maximum":10}`,
			accept: []string{`0`, `3`, `9`}, reject: []string{`1`, `12`, `-3`}},
		{name: "multipleOf decimal", schema: `{"type":"number","multipleOf":0.01}`,
			accept: []string{`1`, `1.5`, `1.25`, `1.250`, `-0.01`}, reject: []string{`1.255`, `1e2`}},
		{name: "number bounds", schema: `{"type":"number","minimum":-1.5,"maximum":2}`,
			accept: []string{`-1.5`, `0`, `1.99`, `2`, `2.000`}, reject: []string{`-1.6`, `2.01`}},
		{name: "nullable", schema: `{"type":"string","nullable":true}`,
			accept: []string{`"x"`, `null`}, reject: []string{`1`}},
		{name: "enum", schema: `{"enum":["a",1,null,{"k":[1,2]},[true]]}`,
			accept: []string{`"a"`, `1`, `null`, `{"k":[1,2]}`, `{"k": [1, 2]}`, `[true]`},
			reject: []string{`"b"`, `2`, `{"k":[1]}`, `[false]`}},
		{name: "enum filtered by type", schema: `{"type":"string","enum":["a",1]}`,
			accept: []string{`"a"`}, reject: []string{`1`}},
		{name: "const escapes", schema: `{"const":"a\"b\\c\nd\u0001é"}`,
			accept: []string{`"a\"b\\c\nd\u0001é"`}, reject: []string{`"a\"b\\c\u000ad\u0001é"`}},
		{name: "anyOf", schema: `{"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]}`,
			accept: []string{`1`, `"a"`}, reject: []string{`"ab"`, `1.5`}},
		{name: "oneOf with a discriminator", schema: `{"type":"object","oneOf":[{"properties":{"kind":{"const":"a"},"x":{"type":"integer"}},"required":["kind"]},{"properties":{"kind":{"const":"b"},"y":{"type":"string"}},"required":["kind"]}]}`,
			accept: []string{`{"kind":"a","x":1}`, `{"kind":"b","y":"s"}`},
			reject: []string{`{"kind":"c"}`, `{"kind":"a","x":"s"}`}},
		{name: "allOf merges", schema: `{"allOf":[{"type":"object","properties":{"a":{"type":"integer","minimum":0}},"required":["a"]},{"properties":{"a":{"maximum":5},"b":{"type":"string"}},"required":["b"]}]}`,
			accept: []string{`{"a":0,"b":""}`, `{"a":5,"b":"x"}`},
			reject: []string{`{"a":6,"b":""}`, `{"a":1}`, `{"b":""}`}},
		{name: "allOf with additionalProperties false", schema: `{"allOf":[{"properties":{"a":{}}},{"properties":{"b":{}},"additionalProperties":false}]}`,
			accept: []string{`{}`, `{"b":1}`}, reject: []string{`{"a":1}`, `{"c":1}`}},
		{name: "$defs and recursion", schema: `{"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},"next":{"$ref":"#/$defs/node"}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/node"}`,
			accept: []string{`{"v":1}`, `{"v":1,"next":{"v":2,"next":{"v":3}}}`},
			reject: []string{`{"v":1,"next":{}}`, `{}`}},
		{name: "an empty recursive branch", schema: `{"anyOf":[{"type":"integer"},{"$ref":"#/definitions/loop"}],"definitions":{"loop":{"type":"object","properties":{"a":{"$ref":"#/definitions/loop"}},"required":["a"]}}}`,
			accept: []string{`1`}, reject: []string{`{"a":{}}`, `{}`}},
		{name: "a rule that matches nothing", schema: `{"anyOf":[{"$ref":"#/$defs/x"},{"$ref":"#/$defs/y"}],"$defs":{"x":{"type":"object","properties":{"y":{"$ref":"#/$defs/y"},"z":false},"required":["y","z"]},"y":{"type":"array","items":{"$ref":"#/$defs/x"}}}}`,
			accept: []string{`[]`}, reject: []string{`[{}]`, `{"y":[]}`}},
		{name: "definitions and escaped pointers", schema: `{"definitions":{"a/b":{"type":"integer"},"c~d":{"type":"string"},"e%f":{"type":"null"}},"items":[{"$ref":"#/definitions/a~1b"},{"$ref":"#/definitions/c~0d"},{"$ref":"#/definitions/e%25f"}]}`,
			accept: []string{`[1,"x",null]`}, reject: []string{`["x"]`, `[1,1]`, `[1,"x",1]`}},
		{name: "$ref siblings in 2020-12", schema: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"a":{"type":"array"}},"$ref":"#/$defs/a","maxItems":1}`,
			accept: []string{`[]`, `[1]`}, reject: []string{`[1,2]`, `{}`}},
		{name: "$ref siblings in draft 7", schema: `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"a":{"type":"array"}},"$ref":"#/definitions/a","maxItems":1}`,
			accept: []string{`[1,2]`}, reject: []string{`{}`}},
		{name: "$id and anchors", schema: `{"$id":"http://example.com/root.json","definitions":{"A":{"$id":"#foo","type":"integer"},"B":{"$id":"other.json","type":"string"},"C":{"$anchor":"bar","type":"null"}},"items":[{"$ref":"#foo"},{"$ref":"other.json"},{"$ref":"#bar"}]}`,
			accept: []string{`[1,"s",null]`}, reject: []string{`["s"]`}},
		{name: "uniqueItems false and if alone", schema: `{"uniqueItems":false,"if":{"type":"string"},"type":"array"}`,
			accept: []string{`[1,1]`}},
		{name: "annotations", schema: `{"title":"t","description":"d","default":1,"examples":[1],"$comment":"c","readOnly":true,"deprecated":false,"x-vendor":{"anything":1},"type":"integer"}`,
			accept: []string{`1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := compile(t, tt.schema, Options{Strict: tt.strict})
			for _, s := range tt.accept {
				if !g.MatchString(s) {
					t.Errorf("rejects %s", s)
				}
			}
			for _, s := range tt.reject {
				if g.MatchString(s) {
					t.Errorf("accepts %s", s)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		schema, keyword, pointer, msg string
	}{
		{`{"uniqueItems":true}`, "uniqueItems", "", `jsonschema: (root): keyword "uniqueItems" is not supported`},
		{`{"properties":{"a":{"not":{}}}}`, "not", "/properties/a", `jsonschema: /properties/a: keyword "not" is not supported`},
		{`{"contains":{}}`, "contains", "", ""},
		{`{"if":{},"then":{}}`, "if", "", ""},
		{`{"dependentRequired":{}}`, "dependentRequired", "", ""},
		{`{"propertyNames":{}}`, "propertyNames", "", ""},
		{`{"unevaluatedProperties":false}`, "unevaluatedProperties", "", ""},
		{`{"contentEncoding":"base64"}`, "contentEncoding", "", ""},
		{`{"minLenght":1}`, "minLenght", "", `unknown keyword "minLenght"`},
		{`{"minLength":-1}`, "minLength", "", "non-negative integer"},
		{`{"maxItems":1.5}`, "maxItems", "", ""},
		{`{"type":"foo"}`, "type", "", `unknown type "foo"`},
		{`{"type":["string",1]}`, "type", "", ""},
		{`{"multipleOf":0}`, "multipleOf", "", ""},
		{`{"$ref":"#/definitions/missing"}`, "$ref", "", "points to nothing"},
		{`{"$ref":"#nowhere"}`, "$ref", "", "anchor"},
		{`{"items":{"$ref":"http://example.com/s.json"}}`, "$ref", "/items", `"http://example.com/s.json"`},
		{`{"definitions":{"a":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}`, "$ref", "/definitions/a", "loop"},
		{`{"definitions":{"a":{"type":"array"}},"properties":{"x":{"$ref":"#/definitions/a","maxItems":1}}}`, "$ref", "/properties/x", `"maxItems" beside "$ref"`},
		{`{"type":"string","pattern":"^a","minLength":2}`, "pattern", "", `"minLength"`},
		{`{"type":"string","format":"date","maxLength":9}`, "format", "", "lengths from 10 to 10"},
		{`{"type":"string","pattern":"^[0-9]+$","maxLength":5}`, "pattern", "", "any length from 1"},
		{`{"type":"string","pattern":"^[가-힣]{2}$","maxLength":2}`, "pattern", "", "printable ASCII"},
		{`{"oneOf":[{"type":"integer"},{"minimum":2}]}`, "oneOf", "", "branches 0 and 1"},
		{`{"type":"number","multipleOf":1.5}`, "multipleOf", "", ""},
		{`{"allOf":[{"pattern":"a"},{"pattern":"b"}],"type":"string"}`, "pattern", "/allOf/1", "intersect"},
		{`{"pattern":"(?=a)"}`, "pattern", "", ""},
		{`{"format":"hostname"}`, "format", "", ""},
		{`{"anyOf":"x"}`, "anyOf", "", ""},
		{`{"properties":{"a":3}}`, "", "/properties/a", "object or a boolean"},
		{`{"a":`, "", "", "not valid JSON"},
		{`{"a":1} x`, "", "", "not valid JSON"},
		{`{"a":1,"a":2}`, "", "", "twice"},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(tt.schema), Options{})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Compile(%s): %v, want an *Error", tt.schema, err)
			continue
		}
		if e.Keyword != tt.keyword || e.Pointer != tt.pointer {
			t.Errorf("Compile(%s): keyword %q at %q, want %q at %q (%v)", tt.schema, e.Keyword, e.Pointer, tt.keyword, tt.pointer, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Compile(%s): %q does not say %q", tt.schema, err, tt.msg)
		}
		if tt.keyword != "" && !strings.Contains(err.Error(), `"`+tt.keyword+`"`) {
			t.Errorf("Compile(%s): %q does not name the keyword", tt.schema, err)
		}
	}
}

func TestUnsatisfiable(t *testing.T) {
	for _, schema := range []string{
		`false`,
		`{"allOf":[{"type":"string"},{"type":"integer"}]}`,
		`{"type":"string","minLength":3,"maxLength":2}`,
		`{"enum":[1,2],"type":"string"}`,
		`{"type":"integer","minimum":1.2,"maximum":1.8}`,
		`{"type":"array","items":false,"minItems":1}`,
		`{"type":"object","properties":{"a":false},"required":["a"]}`,
		`{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]}`,
		`{"oneOf":[true,true]}`,
	} {
		_, err := Compile([]byte(schema), Options{})
		if !errors.Is(err, ErrUnsatisfiable) {
			t.Errorf("Compile(%s): %v, want ErrUnsatisfiable", schema, err)
		}
	}
}

func TestDedupe(t *testing.T) {
	// Identical subschemas share one rule.
	src, err := Compile([]byte(`{"properties":{"a":{"type":"array","items":{"type":"string","maxLength":4}},"b":{"type":"array","items":{"type":"string","maxLength":4}}}}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(src, `char{0,4}`); n != 1 {
		t.Errorf("the string rule appears %d times, want 1:\n%s", n, src)
	}
}

func TestJSONObject(t *testing.T) {
	g, err := grammar.Parse(JSONObject())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`{}`, `{"a":1}`, `{"a": [1, {"b": null}], "c": "\u00e9"}`} {
		if !g.MatchString(s) {
			t.Errorf("rejects %s", s)
		}
	}
	for _, s := range []string{`[]`, `1`, `{"a"}`, `"x"`} {
		if g.MatchString(s) {
			t.Errorf("accepts %s", s)
		}
	}
}
