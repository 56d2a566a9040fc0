package jsonschema_test

import (
	"fmt"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
)

func ExampleCompile() {
	schema := `{
		"type": "object",
		"properties": {
			"name": {"type": "string", "maxLength": 20},
			"age": {"type": "integer", "minimum": 0, "maximum": 150}
		},
		"required": ["name", "age"],
		"additionalProperties": false
	}`
	src, err := jsonschema.Compile([]byte(schema), jsonschema.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	g, err := grammar.Parse(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, text := range []string{
		`{"name":"Ada","age":36}`,
		`{"name": "Ada", "age": 36}`,
		`{"name":"Ada","age":151}`,
		`{"age":36,"name":"Ada"}`, // members come in schema order
	} {
		fmt.Println(g.MatchString(text), text)
	}
	// Output:
	// true {"name":"Ada","age":36}
	// true {"name": "Ada", "age": 36}
	// false {"name":"Ada","age":151}
	// false {"age":36,"name":"Ada"}
}

func ExampleCompile_error() {
	_, err := jsonschema.Compile([]byte(`{"type":"array","uniqueItems":true}`), jsonschema.Options{})
	fmt.Println(err)
	// Output:
	// jsonschema: (root): keyword "uniqueItems" is not supported: a grammar cannot compare items
}

func ExampleJSONObject() {
	g, err := grammar.Parse(jsonschema.JSONObject())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.MatchString(`{"any": ["json", 1]}`), g.MatchString(`[1]`))
	// Output: true false
}
