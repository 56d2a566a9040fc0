// Package schematest validates generated JSON against a JSON schema with an
// independent validator (santhosh-tekuri/jsonschema, formats asserted), for
// the tests of structured output in several packages.
package schematest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Person is a small schema that bounds every value, so that a tiny model's
// answer under it is a whole JSON text well within a test's token limits.
const Person = `{
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "happy": {"type": "boolean"}
  },
  "required": ["name", "age", "happy"],
  "additionalProperties": false
}`

// Compile compiles a schema for Check.
func Compile(tb testing.TB, schema string) *jsonschema.Schema {
	tb.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// Check returns what is wrong with text as an instance of s: not one JSON
// text, or invalid; "" when it validates.
func Check(s *jsonschema.Schema, text string) string {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return fmt.Sprintf("not JSON: %v", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Sprintf("invalid: %v", err)
	}
	return ""
}

// Validate reports an error on tb when out does not validate against schema.
func Validate(tb testing.TB, schema, out string) {
	tb.Helper()
	if msg := Check(Compile(tb, schema), out); msg != "" {
		tb.Errorf("output %q: %s", out, msg)
	}
}
