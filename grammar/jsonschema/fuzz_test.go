package jsonschema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// FuzzCompile checks that no input makes Compile panic, that every error is
// an *Error that is not an internal one, and that every grammar it returns
// compiles.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{}`, `true`, `false`, `{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`,
		`{"$defs":{"n":{"properties":{"x":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`,
		`{"patternProperties":{"^a":{"type":"string"},"b$":{"maxLength":2}},"minProperties":1,"maxProperties":3}`,
		`{"items":[{"enum":[1,"a",{"k":null}]}],"additionalItems":{"anyOf":[{"type":"null"},{"minimum":1}]}}`,
		`{"allOf":[{"$ref":"#"}]}`, `{"type":"string","minLength":3000}`, `{"oneOf":[{"type":"string"},{"type":"array"}]}`,
	} {
		f.Add([]byte(s))
	}
	if dir, err := testdata.Find(); err == nil {
		names, _ := filepath.Glob(filepath.Join(dir, "jsonschema", "draft7", "*.json"))
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				continue
			}
			if doc, err := decode(data); err == nil {
				for _, g := range doc.arr {
					if s := g.get("schema"); s != nil {
						f.Add([]byte(s.text()))
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, schema []byte) {
		for _, strict := range []bool{false, true} {
			src, err := Compile(schema, Options{Strict: strict})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Compile(%s): %v is not an *Error", schema, err)
				}
				if strings.Contains(e.Msg, "does not compile") && !strings.Contains(e.Msg, "larger than") {
					t.Fatalf("Compile(%s): %v", schema, err)
				}
				continue
			}
			if _, err := grammar.Parse(src); err != nil {
				t.Fatalf("Compile(%s) gave a grammar that does not compile: %v\n%s", schema, err, src)
			}
		}
	})
}
