package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"
)

// fixtureNow is the instant gen_fixtures.py gives strftime_now.
var fixtureNow = time.Date(2026, 2, 5, 14, 30, 9, 0, time.UTC)

type fixture struct {
	Template  string          `json:"template"`
	File      string          `json:"file"`
	Source    string          `json:"source"`
	Case      string          `json:"case"`
	Input     json.RawMessage `json:"input"`
	Expected  *string         `json:"expected"`
	Error     string          `json:"error"`
	ErrorKind string          `json:"error_kind"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	data, err := os.ReadFile("testdata/fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx []fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (f *fixture) source(t testing.TB) string {
	t.Helper()
	if f.File == "" {
		return f.Source
	}
	data, err := os.ReadFile(f.File)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// input decodes a fixture input into an Input, and checks that each message
// becomes the same dict as the one Python rendered.
func (f *fixture) input(t testing.TB) Input {
	t.Helper()
	var raw struct {
		Messages            []json.RawMessage `json:"messages"`
		AddGenerationPrompt bool              `json:"add_generation_prompt"`
		BOSToken            string            `json:"bos_token"`
		EOSToken            string            `json:"eos_token"`
		Tools               json.RawMessage   `json:"tools"`
		Kwargs              json.RawMessage   `json:"kwargs"`
	}
	if err := json.Unmarshal(f.Input, &raw); err != nil {
		t.Fatal(err)
	}
	in := Input{
		AddGenerationPrompt: raw.AddGenerationPrompt,
		BOSToken:            raw.BOSToken,
		EOSToken:            raw.EOSToken,
		Now:                 fixtureNow,
	}
	for _, rm := range raw.Messages {
		var m Message
		if err := json.Unmarshal(rm, &m); err != nil {
			t.Fatal(err)
		}
		got, err := m.value()
		if err != nil {
			t.Fatal(err)
		}
		want, err := toValue(rm)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := compactJSON(t, got), compactJSON(t, want); g != w {
			t.Fatalf("message converts to\n%s\nwant\n%s", g, w)
		}
		in.Messages = append(in.Messages, m)
	}
	if len(raw.Tools) > 0 {
		v, err := ParseJSON(raw.Tools)
		if err != nil {
			t.Fatal(err)
		}
		in.Tools = v.([]any)
	}
	if len(raw.Kwargs) > 0 {
		v, err := ParseJSON(raw.Kwargs)
		if err != nil {
			t.Fatal(err)
		}
		in.Kwargs = map[string]any{}
		for _, m := range v.(Object) {
			in.Kwargs[m.Key] = m.Value
		}
	}
	return in
}

func compactJSON(t testing.TB, v jinja.Value) string {
	t.Helper()
	s, err := tojsonFilter([]jinja.Value{v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.AsString()
}

// TestFixtures renders every case of testdata/fixtures.json and requires
// the output (or error) Python's jinja2 produced.
func TestFixtures(t *testing.T) {
	fx := loadFixtures(t)
	passed := map[string]int{}
	total := map[string]int{}
	compiled := map[string]*Template{}
	for _, f := range fx {
		total[f.Template]++
		ok := t.Run(f.Template+"/"+f.Case, func(t *testing.T) {
			src := f.source(t)
			tmpl, err := compiled[src], error(nil)
			if tmpl == nil {
				tmpl, err = Parse(src)
				if err == nil {
					compiled[src] = tmpl
				}
			}
			if f.ErrorKind == "syntax" {
				if err == nil {
					t.Fatalf("Parse succeeded, want a syntax error like %q", f.Error)
				}
				if !strings.HasPrefix(err.Error(), "chat: template:") {
					t.Fatalf("Parse error %q does not start with %q", err, "chat: template:")
				}
				t.Logf("jinja2: %s\nours:   %v", f.Error, err)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := tmpl.Render(f.input(t))
			if f.ErrorKind == "raise" {
				var re *RaiseError
				if !errors.As(err, &re) {
					t.Fatalf("Render = %q, %v; want raise_exception(%q)", got, err, f.Error)
				}
				if re.Message != f.Error {
					t.Fatalf("raise_exception message %q, want %q", re.Message, f.Error)
				}
				if !strings.Contains(err.Error(), f.Error) {
					t.Fatalf("error %q does not contain the message", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if want := *f.Expected; got != want {
				t.Fatalf("output differs from jinja2 at byte %d\ngot:  %q\nwant: %q", firstDiff(got, want), got, want)
			}
		})
		if ok {
			passed[f.Template]++
		}
	}
	names := make([]string, 0, len(total))
	for n := range total {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%-45s %2d/%2d\n", n, passed[n], total[n])
	}
	t.Logf("fixtures passed per template:\n%s", b.String())
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFixtureTemplatesCovered makes sure the fixtures cover every template
// file and every fallback.
func TestFixtureTemplatesCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range loadFixtures(t) {
		seen[f.File] = true
	}
	files, _ := os.ReadDir("testdata/templates")
	for _, e := range files {
		if name := "testdata/templates/" + e.Name(); !seen[name] {
			t.Errorf("%s has no fixtures", name)
		}
	}
	for _, n := range fallbackNames {
		if name := "fallback/" + n + ".jinja"; !seen[name] {
			t.Errorf("%s has no fixtures", name)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a\n{% if x %}never closed", "chat: template:"},
		{"a\nb {{ x ", "chat: template: line 2, col 3: unexpected end of template"},
		{"{{ 'abc }}", "chat: template: line 1, col 4: unterminated string literal"},
		{"x\n{{ (1 ] }}", "chat: template: line 2, col 7: unexpected ']', expected ')'"},
		{"{# open comment", "chat: template: line 1, col 1: missing end of comment tag"},
		{"{% raw %}no end", "chat: template: line 1, col 1: missing end of raw directive"},
		{"1\n2\n3\n{% frobnicate %}", "chat: template: line 4: unknown statement \"frobnicate\""},
		{"{%- if true -%}\n\n  \n{# x\n #}\n{% frobnicate %}{% endif %}", "chat: template: line 6: unknown statement \"frobnicate\""},
		{"a{{ }}b", "chat: template: line 1, col 2: expected an expression"},
		{"{%- -%}", "chat: template: line 1, col 1: tag name expected"},
		{"{{ '\\x4' }}", "chat: template: line 1, col 5: invalid \\x escape in string literal"},
	} {
		_, err := Parse(tc.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tc.src)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T, want *SyntaxError", tc.src, err)
		}
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %q, want prefix %q", tc.src, err, tc.want)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	gemma := mustParseFile(t, "testdata/templates/google-gemma-2-2b-it.jinja")
	_, err := gemma.Render(Input{Messages: []Message{{Role: "assistant", Content: "hi"}}})
	var re *RaiseError
	if !errors.As(err, &re) || re.Message != "Conversation roles must alternate user/assistant/user/assistant/..." {
		t.Fatalf("err = %v", err)
	}
	if want := "chat: template raised an exception: Conversation roles must alternate"; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %q, want prefix %q", err, want)
	}

	tmpl, err := Parse("{{ messages[0].content | tojson }}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(Input{})
	if err == nil || !strings.HasPrefix(err.Error(), "chat: render template: tojson: Object of type Undefined") {
		t.Fatalf("err = %v", err)
	}

	for _, k := range []string{"messages", "tools", "documents", "add_generation_prompt", tojsonName} {
		if _, err := tmpl.Render(Input{Kwargs: map[string]any{k: 1}}); err == nil {
			t.Errorf("kwarg %q accepted", k)
		}
	}
	if _, err := tmpl.Render(Input{Kwargs: map[string]any{"x": make(chan int)}}); err == nil {
		t.Errorf("chan kwarg accepted")
	}

	// A panic inside the engine comes back as an error.
	boom, err := Parse("{{ 'a' * -1 }}")
	if err != nil {
		t.Fatal(err)
	}
	var ie *internalError
	if _, err := boom.Render(Input{}); err != nil && !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
}

// dictsort beyond the fixtures' synthetic case: what jinja2 (3.1.6) gives
// for integers past float64's precision and mixed numbers, and the errors
// it raises (FilterArgumentError, TypeError).
func TestDictsort(t *testing.T) {
	for _, tc := range []struct{ src, want, err string }{
		{`{% for k, v in {'a': 9007199254740993, 'b': 9007199254740992, 'c': true, 'd': 0.5} | dictsort(by='value') %}{{ k }}{% endfor %}`, "dcba", ""},
		{`{% for k, v in {'b': 1, 'A': 2, 'a': 3} | dictsort(false, 'key', true) %}{{ k }}{% endfor %}`, "bAa", ""},
		{`{% for k, v in none | dictsort %}{{ k }}{% endfor %}`, "", ""}, // jinja2 raises; lenient, as the engine's filter
		{`{% for k, v in {'a': 1} | dictsort(by='size') %}{% endfor %}`, "", `you can only sort by either "key" or "value"`},
		{`{% for k, v in {'a': 1, 'b': 'x'} | dictsort(by='value') %}{% endfor %}`, "", "'<' not supported between"},
	} {
		tmpl, err := Parse(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(Input{})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %q, %v; want an error with %q", tc.src, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}

func TestKwargsOverrideAndTypes(t *testing.T) {
	tmpl, err := Parse("{{ bos_token }}|{{ n }}|{{ f }}|{{ u }}|{{ m | tojson }}|{{ s | tojson }}|{{ o | tojson }}|{{ nilslice }}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(Input{BOSToken: "<s>", Kwargs: map[string]any{
		"bos_token": "<override>",
		"n":         int32(7),
		"f":         float32(0.5),
		"u":         uint8(9),
		"m":         map[string]int{"b": 1, "a": 2},
		"s":         []string{"x", "y"},
		"o":         Object{{"z", 1}, {"a", Object{{"k", []any{true, nil}}}}},
		"nilslice":  []string(nil),
	}})
	if err != nil {
		t.Fatal(err)
	}
	// Go maps have no order: their keys are sorted.
	want := `<override>|7|0.5|9|{"a": 2, "b": 1}|["x", "y"]|{"z": 1, "a": {"k": [true, null]}}|None`
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestParseJSON(t *testing.T) {
	v, err := ParseJSON([]byte(`{"b": 1, "a": [1.0, 2, 1e2, "s", null, true, {}], "b": 3, "big": 123456789012345678901}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Object{{"b", int64(3)}, {"a", []any{1.0, int64(2), 100.0, "s", nil, true, Object{}}}, {"big", 123456789012345678901.0}}
	if fmt.Sprint(v) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", v, want)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"b":3,"a":[1,2,100,"s",null,true,{}],"big":123456789012345680000}` {
		t.Fatalf("MarshalJSON = %s", b)
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `[1,]`} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) succeeded", bad)
		}
	}
	var o Object
	if err := json.Unmarshal([]byte(`{"y": 1, "x": 2}`), &o); err != nil || len(o) != 2 || o[0].Key != "y" {
		t.Fatalf("Unmarshal = %v, %v", o, err)
	}
	if x, ok := o.Get("x"); !ok || x != int64(2) {
		t.Fatalf("Get = %v, %v", x, ok)
	}
	if err := json.Unmarshal([]byte(`[1]`), &o); err == nil {
		t.Fatal("array into Object accepted")
	}
}

func TestMessageJSON(t *testing.T) {
	for _, s := range []string{
		`{"role":"user","content":"hi"}`,
		`{"role":"user","content":[{"type":"image"},{"type":"text","text":"what?"}]}`,
		`{"role":"assistant","content":"","tool_calls":[{"id":"call12345","type":"function","function":{"name":"f","arguments":{"b":1,"a":2}}}]}`,
		`{"role":"tool","content":"42","tool_call_id":"call12345","name":"f"}`,
	} {
		var m Message
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != s {
			t.Errorf("round trip\n got %s\nwant %s", b, s)
		}
	}
	var m Message
	if err := json.Unmarshal([]byte(`{"role":"assistant","content":null}`), &m); err != nil || m.Content != "" || m.Parts != nil {
		t.Fatalf("null content: %+v, %v", m, err)
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2024, 1, 1, 0, 5, 9, 123456000, time.UTC) // a Monday
	for format, want := range map[string]string{
		"%d %b %Y":          "01 Jan 2024",
		"%-d/%-m %I%p %f":   "1/1 12AM 123456",
		"%U %W %V %G %u %w": "00 01 01 2024 1 1",
		"%^a %_H %Q %":      "MON  0 %Q %",
		"%z%Z|%k|%l|%P":     "| 0|12|am",
	} {
		if got := strftime(format, tm); got != want {
			t.Errorf("strftime(%q) = %q, want %q", format, got, want)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", -0.5: "-0.5", math.Inf(1): "inf", math.Inf(-1): "-inf", math.Copysign(0, -1): "-0.0", 1e-7: "1e-07", 1e16: "1e+16", 1e15: "1000000000000000.0",
		0.0001: "0.0001", 0.00001: "1e-05", 123.456: "123.456", 1e300: "1e+300", 2.5e-300: "2.5e-300",
	} {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		tokens []string
		want   string
	}{
		{[]string{"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}, "llama3"},
		{[]string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, "chatml"},
		{[]string{"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}, "gemma"},
		{[]string{"<unk>", "<s>", "</s>", "[INST]", "[/INST]"}, "mistral"},
		{[]string{"<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"}, "mistral-v7"},
		{[]string{"<s>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>"}, "phi3"},
		{[]string{"a", "b"}, "chatml"},
		{nil, "chatml"},
	} {
		tmpl := Fallback(tc.tokens)
		if tmpl.Name() != tc.want {
			t.Errorf("Fallback(%q) = %s, want %s", tc.tokens, tmpl.Name(), tc.want)
		}
		src, err := fallbackFS.ReadFile("fallback/" + tc.want + ".jinja")
		if err != nil || tmpl.Source() != string(src) {
			t.Errorf("Fallback %s source mismatch (%v)", tc.want, err)
		}
	}

	got, err := Fallback(nil).Render(Input{
		Messages:            []Message{{Role: "system", Content: "Be nice."}, {Role: "user", Content: "Hi"}},
		AddGenerationPrompt: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"; got != want {
		t.Fatalf("ChatML fallback = %q, want %q", got, want)
	}

	tmpl, err := ForModel("", []string{"<start_of_turn>", "<end_of_turn>"})
	if err != nil || tmpl.Name() != "gemma" {
		t.Fatalf("ForModel without template = %v, %v", tmpl, err)
	}
	tmpl, err = ForModel("{{ messages | length }}", []string{"<start_of_turn>", "<end_of_turn>"})
	if err != nil || tmpl.Name() != "" {
		t.Fatalf("ForModel with template = %v, %v", tmpl, err)
	}
	if _, err := ForModel("{% if %}", nil); err == nil {
		t.Fatal("ForModel accepted a broken template")
	}
}

// TestPreprocessKeepsLines checks that rewritten templates keep every tag
// on its original line, so that the library's line numbers stay right.
func TestPreprocessKeepsLines(t *testing.T) {
	files, err := os.ReadDir("testdata/templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range files {
		data, err := os.ReadFile("testdata/templates/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		src := normalizeNewlines(string(data))
		out, err := preprocess(src)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if got, want := strings.Count(out, "\n"), strings.Count(src, "\n"); got != want {
			t.Errorf("%s: %d lines after preprocessing, want %d", e.Name(), got+1, want+1)
		}
	}
}

// TestConcurrentRender renders one template from many goroutines (run with
// -race).
func TestConcurrentRender(t *testing.T) {
	tmpl := mustParseFile(t, "testdata/templates/Qwen-Qwen3-0.6B.jinja")
	in := Input{Messages: benchMessages(6), AddGenerationPrompt: true}
	want, err := tmpl.Render(in)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			for range 20 {
				got, err := tmpl.Render(in)
				if err == nil && got != want {
					err = fmt.Errorf("concurrent render differs")
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func mustParseFile(t testing.TB, path string) *Template {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Parse(string(data))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func benchMessages(n int) []Message {
	msgs := []Message{{Role: "system", Content: "You are a helpful assistant."}}
	for i := 1; i < n; i++ {
		if i%2 == 1 {
			msgs = append(msgs, Message{Role: "user", Content: fmt.Sprintf("Question %d: what is %d + %d? 답해 주세요.", i, i, i)})
		} else {
			msgs = append(msgs, Message{Role: "assistant", Content: fmt.Sprintf("The answer is %d.", 2*i-2)})
		}
	}
	return msgs
}

func TestToolsRawJSON(t *testing.T) {
	tmpl, err := Parse("{{ tools | tojson }}|{{ tools is none }}")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(Input{Tools: []any{json.RawMessage(`{"type":"function","function":{"name":"f","parameters":{"b":1.0,"a":[]}}}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"type": "function", "function": {"name": "f", "parameters": {"b": 1.0, "a": []}}}]|False`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got, _ := tmpl.Render(Input{}); got != "null|True" {
		t.Fatalf("no tools: %s", got)
	}
}
