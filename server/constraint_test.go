package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/internal/schematest"
)

// personSchema is schematest.Person (see there).
const personSchema = schematest.Person

// validateJSON checks that out is one JSON text that validates against
// schema, with an independent validator.
func validateJSON(t testing.TB, schema, out string) {
	t.Helper()
	schematest.Validate(t, schema, out)
}

// constraintRequest is a greedy request to one of the four generation
// endpoints with the constraint fields in extra.
func constraintRequest(path string, stream bool, maxTokens int, extra map[string]any) map[string]any {
	body := map[string]any{"model": "stories", "stream": stream}
	switch path {
	case "/v1/chat/completions":
		body["messages"] = []map[string]string{{"role": "user", "content": "Tell me about a person as JSON."}}
	case "/v1/completions", "/api/generate":
		body["prompt"] = "Once upon a time"
	case "/api/chat":
		body["messages"] = []map[string]string{{"role": "user", "content": "Tell me about a person as JSON."}}
	}
	if strings.HasPrefix(path, "/v1/") {
		body["max_tokens"] = maxTokens
		body["temperature"] = 0
	} else {
		body["options"] = map[string]any{"num_predict": maxTokens, "temperature": 0}
	}
	if path == "/api/generate" {
		body["raw"] = true
	}
	for k, v := range extra {
		body[k] = v
	}
	return body
}

// generated sends a request and returns the generated text, streamed or
// not, and the finish reason of a non-streamed one ("" when streamed).
func (ts *testServer) generated(t testing.TB, path string, body map[string]any) (text, finish string) {
	t.Helper()
	if body["stream"] == true {
		text, err := streamText(context.Background(), ts.URL, path, body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return text, ""
	}
	r := ts.do(t, "POST", path, body)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", path, r.status, r.body)
	}
	m := r.json(t)
	switch path {
	case "/v1/chat/completions":
		c := m["choices"].([]any)[0].(map[string]any)
		return c["message"].(map[string]any)["content"].(string), c["finish_reason"].(string)
	case "/v1/completions":
		c := m["choices"].([]any)[0].(map[string]any)
		return c["text"].(string), c["finish_reason"].(string)
	case "/api/chat":
		return m["message"].(map[string]any)["content"].(string), m["done_reason"].(string)
	}
	return m["response"].(string), m["done_reason"].(string)
}

var generationPaths = []string{"/v1/chat/completions", "/v1/completions", "/api/chat", "/api/generate"}

// Every endpoint, streamed or not, constrained by every field that asks
// for a JSON schema, gives JSON that validates; the same schema is
// compiled once.
func TestStructuredOutputSchema(t *testing.T) {
	ts := start(t, Config{})
	schema := json.RawMessage(personSchema)
	fields := map[string]map[string]any{
		"response_format": {"response_format": map[string]any{"type": "json_schema",
			"json_schema": map[string]any{"name": "person", "schema": schema, "strict": true}}},
		"json_schema":               {"json_schema": schema},
		"json_object with schema":   {"response_format": map[string]any{"type": "json_object", "schema": schema}},
		"format":                    {"format": schema},
		"response_format no strict": {"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "person", "schema": schema}}},
	}
	var first string
	for _, path := range generationPaths {
		for name, extra := range fields {
			if strings.HasPrefix(path, "/v1/") == (name == "format") {
				continue
			}
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s %s stream=%v", path, name, stream), func(t *testing.T) {
					out, finish := ts.generated(t, path, constraintRequest(path, stream, 200, extra))
					validateJSON(t, personSchema, out)
					if !stream && finish != "stop" {
						t.Errorf("finish reason %q, want stop: the grammar ends the text", finish)
					}
					if path == "/v1/completions" {
						// Greedy and the same prompt: the same text
						// whichever field asked for the schema.
						if first == "" {
							first = out
						} else if out != first {
							t.Errorf("output %q, want %q as for the other fields", out, first)
						}
					}
				})
			}
		}
	}
	// Each field spelled the same schema: one compiled grammar (the strict
	// and non-strict ones may differ).
	if n := ts.grammars.len(); n > 2 {
		t.Errorf("%d grammars cached for one schema", n)
	}
	// The grammar's share of each token is measured.
	r := ts.do(t, "GET", "/metrics", nil)
	if !regexp.MustCompile(`(?m)^ondo_grammar_seconds_count\{model="stories"\} [1-9]`).Match(r.body) {
		t.Errorf("/metrics has no ondo_grammar_seconds observations for stories:\n%s", grep(r.body, "ondo_grammar"))
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// JSON mode: OpenAI's json_object and Ollama's "json" give a JSON object.
func TestStructuredOutputJSONObject(t *testing.T) {
	ts := start(t, Config{})
	for _, path := range generationPaths {
		extra := map[string]any{"response_format": map[string]any{"type": "json_object"}}
		if !strings.HasPrefix(path, "/v1/") {
			extra = map[string]any{"format": "json"}
		}
		for _, stream := range []bool{false, true} {
			out, finish := ts.generated(t, path, constraintRequest(path, stream, 64, extra))
			if !strings.HasPrefix(out, "{") {
				t.Errorf("%s stream=%v: %q does not start a JSON object", path, stream, out)
			}
			// The model may not close the object within max_tokens;
			// when it stopped on its own, the object is whole.
			if finish == "stop" {
				var v map[string]any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("%s: finished %q is not a JSON object: %v", path, out, err)
				}
			}
		}
	}
	// "text", "" and null mean no constraint: the same as leaving it out.
	plain, _ := ts.generated(t, "/v1/completions", constraintRequest("/v1/completions", false, 12, nil))
	for _, extra := range []map[string]any{
		{"response_format": map[string]any{"type": "text"}},
		{"response_format": nil, "grammar": "", "json_schema": nil},
	} {
		if out, _ := ts.generated(t, "/v1/completions", constraintRequest("/v1/completions", false, 12, extra)); out != plain {
			t.Errorf("%v: %q, want %q as without it", extra, out, plain)
		}
	}
	plainOllama, _ := ts.generated(t, "/api/generate", constraintRequest("/api/generate", false, 12, nil))
	for _, f := range []any{"", nil} {
		if out, _ := ts.generated(t, "/api/generate", constraintRequest("/api/generate", false, 12, map[string]any{"format": f})); out != plainOllama {
			t.Errorf("format %v: %q, want %q as without it", f, out, plainOllama)
		}
	}
}

// A GBNF grammar (llama.cpp's "grammar" field) shapes the text.
func TestStructuredOutputGrammar(t *testing.T) {
	ts := start(t, Config{})
	const gbnf = `root ::= "Once" [a-z ]{1,20} "."`
	re := regexp.MustCompile(`^Once[a-z ]{1,20}\.$`)
	for _, path := range []string{"/v1/completions", "/v1/chat/completions"} {
		for _, stream := range []bool{false, true} {
			out, finish := ts.generated(t, path, constraintRequest(path, stream, 64, map[string]any{"grammar": gbnf}))
			if !re.MatchString(out) {
				t.Errorf("%s stream=%v: %q does not match %s", path, stream, out, gbnf)
			}
			if !stream && finish != "stop" {
				t.Errorf("%s: finish reason %q, want stop", path, finish)
			}
		}
	}
}

// Every way a constraint can be wrong is a 400 that names the field and
// says why, never a 500 or a server path; the server goes on serving and
// the model stays loaded.
func TestStructuredOutputErrors(t *testing.T) {
	ts := start(t, Config{})
	// Load the model first: errors must not unload it.
	if out, _ := ts.generated(t, "/v1/completions", constraintRequest("/v1/completions", false, 2, nil)); out == "" {
		t.Fatal("no output")
	}
	schemaField := func(path string, schema string) map[string]any {
		if strings.HasPrefix(path, "/v1/") {
			return map[string]any{"response_format": map[string]any{"type": "json_schema",
				"json_schema": map[string]any{"name": "x", "schema": json.RawMessage(schema)}}}
		}
		return map[string]any{"format": json.RawMessage(schema)}
	}
	schemaParam := func(path string) string {
		if strings.HasPrefix(path, "/v1/") {
			return "response_format.json_schema.schema"
		}
		return "format"
	}
	type tc struct {
		name  string
		paths []string
		extra func(path string) map[string]any
		param func(path string) string
		want  []string // in the message
	}
	fixed := func(s string) func(string) string { return func(string) string { return s } }
	extraOf := func(m map[string]any) func(string) map[string]any { return func(string) map[string]any { return m } }
	openai := []string{"/v1/chat/completions", "/v1/completions"}
	cases := []tc{
		{"invalid schema", generationPaths, func(p string) map[string]any {
			return schemaField(p, `{"type":"object","properties":{"age":{"type":"integr"}}}`)
		}, schemaParam, []string{"/properties/age", "integr"}},
		{"schema not JSON", []string{"/v1/completions"}, extraOf(map[string]any{"json_schema": "{not json"}), fixed("json_schema"), []string{"json_schema"}},
		{"unsupported keyword", generationPaths, func(p string) map[string]any {
			return schemaField(p, `{"type":"object","properties":{"tags":{"type":"array","uniqueItems":true}}}`)
		}, schemaParam, []string{"/properties/tags", "uniqueItems"}},
		{"invalid pattern", generationPaths, func(p string) map[string]any {
			return schemaField(p, `{"type":"object","properties":{"id":{"type":"string","pattern":"(ab"}}}`)
		}, schemaParam, []string{"/properties/id", "pattern"}},
		{"GBNF syntax", openai, extraOf(map[string]any{"grammar": "root ::= \"a\"\nitem ::= \"abc"}), fixed("grammar"), []string{"line 2, column 10", "not closed"}},
		{"grammar matches nothing", openai, extraOf(map[string]any{"grammar": `root ::= "a" root`}), fixed("grammar"), []string{"line 1", "matches no string"}},
		{"unknown token", openai, extraOf(map[string]any{"grammar": `root ::= "a" <|nonexistent|>`}), fixed("grammar"), []string{"line 1, column 14", "not in the vocabulary", "stories"}},
		{"two constraints", openai, extraOf(map[string]any{"grammar": `root ::= "a"`, "response_format": map[string]any{"type": "json_object"}}), fixed("grammar"), []string{"response_format", "grammar", "only one"}},
		{"grammar and json_schema", openai, extraOf(map[string]any{"grammar": `root ::= "a"`, "json_schema": map[string]any{"type": "object"}}), fixed("json_schema"), []string{"only one"}},
		{"response_format type", openai, extraOf(map[string]any{"response_format": map[string]any{"type": "yaml"}}), fixed("response_format.type"), []string{`"yaml"`, "json_schema"}},
		{"json_schema missing", openai, extraOf(map[string]any{"response_format": map[string]any{"type": "json_schema"}}), fixed("response_format.json_schema"), []string{"json_schema"}},
		{"response_format not an object", openai, extraOf(map[string]any{"response_format": "json"}), fixed("response_format"), []string{"response_format"}},
		{"format string", []string{"/api/chat", "/api/generate"}, extraOf(map[string]any{"format": "yaml"}), fixed("format"), []string{`"yaml"`, "JSON schema"}},
		{"format number", []string{"/api/chat", "/api/generate"}, extraOf(map[string]any{"format": 5}), fixed("format"), []string{"format"}},
	}
	for _, c := range cases {
		for _, path := range c.paths {
			t.Run(c.name+" "+path, func(t *testing.T) {
				body := constraintRequest(path, false, 8, c.extra(path))
				r := ts.do(t, "POST", path, body)
				if r.status != 400 {
					t.Fatalf("status %d, want 400: %s", r.status, r.body)
				}
				msg, param := errorOf(t, path, r)
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
				if want := c.param(path); !strings.Contains(msg, want) {
					t.Errorf("message %q does not name the field %q", msg, want)
				}
				if strings.HasPrefix(path, "/v1/") && param != c.param(path) {
					t.Errorf("param %q, want %q", param, c.param(path))
				}
				if strings.Contains(msg, ts.dir) || strings.Contains(msg, ".go:") {
					t.Errorf("message %q shows a server path", msg)
				}
			})
		}
	}
	if got := ts.running(t); len(got) != 1 || got[0] != "stories" {
		t.Errorf("loaded after the errors: %v, want [stories]", got)
	}
	out, _ := ts.generated(t, "/v1/completions", constraintRequest("/v1/completions", false, 200, map[string]any{"json_schema": json.RawMessage(personSchema)}))
	validateJSON(t, personSchema, out)
}

// errorOf reads an error response's message and, for OpenAI's shape, param.
func errorOf(t testing.TB, path string, r response) (msg, param string) {
	t.Helper()
	if strings.HasPrefix(path, "/v1/") {
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
			} `json:"error"`
		}
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Error.Type != "invalid_request_error" {
			t.Errorf("error type %q", e.Error.Type)
		}
		if e.Error.Param != nil {
			param = *e.Error.Param
		}
		return e.Error.Message, param
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	return e.Error, ""
}

// The cache keeps the most recently used grammars and shares one compiled
// grammar between concurrent requests for it.
func TestGrammarCache(t *testing.T) {
	c := newGrammarCache(2)
	src := func(i int) string { return fmt.Sprintf("root ::= \"%d\"", i) }
	g0, err := c.get(src(0))
	if err != nil {
		t.Fatal(err)
	}
	c.get(src(1))
	if g, _ := c.get(src(0)); g != g0 {
		t.Error("a cached grammar was compiled again")
	}
	c.get(src(2)) // evicts 1, the least recently used
	if g, _ := c.get(src(0)); g != g0 {
		t.Error("the most recently used grammar was evicted")
	}
	if c.len() != 2 {
		t.Errorf("%d grammars kept, want 2", c.len())
	}
	if _, err := c.get(`root ::= "`); err == nil || c.len() != 2 {
		t.Errorf("bad grammar: %v, %d kept", err, c.len())
	}
	var wg sync.WaitGroup
	got := make([]any, 8)
	for i := range got {
		wg.Go(func() {
			g, err := c.get(src(3))
			if err != nil {
				t.Error(err)
			}
			got[i] = g
		})
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatal("concurrent requests for one grammar got different ones")
		}
	}
}

// The constraint fields are read as the APIs define them.
func TestConstraintSpecs(t *testing.T) {
	for _, c := range []struct {
		body  string
		field string // "" for no constraint
		obj   bool
	}{
		{`{}`, "", false},
		{`{"response_format":{"type":"text"}}`, "", false},
		{`{"response_format":{"type":"json_object"}}`, "response_format", true},
		{`{"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`, "response_format.json_schema", true},
		{`{"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`, "response_format.json_schema.schema", false},
		{`{"grammar":"root ::= \"a\""}`, "grammar", false},
		{`{"json_schema":{"type":"object"}}`, "json_schema", false},
		{`{"json_schema":null,"grammar":""}`, "", false},
	} {
		var oc oaiConstraints
		if err := json.NewDecoder(bytes.NewReader([]byte(c.body))).Decode(&oc); err != nil {
			t.Fatal(err)
		}
		spec, err := oc.spec()
		if err != nil {
			t.Errorf("%s: %v", c.body, err)
			continue
		}
		switch {
		case c.field == "" && spec != nil:
			t.Errorf("%s: constraint %+v, want none", c.body, spec)
		case c.field != "" && (spec == nil || spec.field != c.field || spec.object != c.obj):
			t.Errorf("%s: constraint %+v, want field %s, object %v", c.body, spec, c.field, c.obj)
		}
	}
	for raw, want := range map[string]string{`null`: "", `""`: "", `"json"`: "object", `{"type":"object"}`: "schema", ` "json" `: "object"} {
		spec, err := ollamaFormat(json.RawMessage(raw))
		got := ""
		switch {
		case err != nil:
			got = err.Error()
		case spec == nil:
		case spec.object:
			got = "object"
		case spec.schema != nil:
			got = "schema"
		}
		if got != want {
			t.Errorf("format %s: %q, want %q", raw, got, want)
		}
	}
}
