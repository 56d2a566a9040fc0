package toolcall

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/internal/testtok"
)

var gemma4Templates = []string{
	"../chat/testdata/templates/google-gemma-4-31B-it.jinja",
	"../chat/testdata/templates/google-gemma-4-31B-it-interleaved.jinja",
}

func parseTemplate(t *testing.T, file string) *chat.Template {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// sameJSON reports whether two JSON texts hold the same value (object key
// order aside).
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// Calls rendered into the conversation by Gemma 4's templates (as jinja2
// renders them: chat's fixtures check that) come back from the parser as
// they went in: name, arguments of every JSON type, reasoning and content.
// The arguments' notation is also the one gemmaNotation (Example) writes.
func TestGemma4RoundTripThroughTemplates(t *testing.T) {
	turns := []struct {
		reasoning, content string
		calls              [][2]string // name, arguments
	}{
		{reasoning: "서울 날씨를 찾아야 한다.", calls: [][2]string{{"get_weather", `{"location": "서울", "unit": "celsius"}`}}},
		{content: "확인해 볼게요.", calls: [][2]string{
			{"set_reminder", `{"text": "우산 \"꼭\" 챙기기\n\t😀 \\ done", "when": {"hour": 8, "date": "2026-02-06"}, "tags": ["rain", "오늘", ""], ` +
				`"attendees": [{"name": "Kim", "email": null}], "Repeat": false, "urgent": true, "ratio": 0.5, "tiny": 1e-07, "neg": -3, "big": 12345678901234567, "none": [], "empty": {}}`},
			{"get_time", `{}`},
		}},
	}
	for _, file := range gemma4Templates {
		tmpl := parseTemplate(t, file)
		spec := Detect(tmpl.Source())
		if !reflect.DeepEqual(spec, gemma4) {
			t.Fatalf("%s: Detect = %+v, want %+v", file, spec, gemma4)
		}
		for i, turn := range turns {
			var calls []chat.ToolCall
			for j, c := range turn.calls {
				calls = append(calls, chat.ToolCall{ID: "call" + string(rune('a'+j)), Function: chat.ToolCallFunction{Name: c[0], Arguments: json.RawMessage(c[1])}})
			}
			out, err := tmpl.Render(chat.Input{BOSToken: "<bos>", Messages: []chat.Message{
				{Role: "user", Content: "안녕하세요, 오늘 날씨 어때요?"},
				{Role: "assistant", Content: turn.content, ReasoningContent: turn.reasoning, ToolCalls: calls},
			}})
			if err != nil {
				t.Fatal(err)
			}
			// The model's turn, up to where the model stops: the tool
			// response (31B) or the end of the turn (interleaved).
			_, turnText, ok := strings.Cut(out, "<|turn>model\n")
			if !ok {
				t.Fatalf("%s: no model turn in %q", file, out)
			}
			turnText, _, _ = strings.Cut(turnText, "<|tool_response>")
			turnText = strings.TrimSuffix(turnText, "<turn|>\n")
			for _, c := range turn.calls {
				g, _ := gemmaNotation([]byte(c[1]))
				if written := "<|tool_call>call:" + c[0] + g + "<tool_call|>"; !strings.Contains(turnText, written) {
					t.Errorf("%s: the template does not write %q as gemmaNotation does:\n%s", file, written, turnText)
				}
			}
			for _, parts := range [][]string{{turnText}, strings.SplitAfter(turnText, "")} {
				m := parseParts(t, spec, Options{Tools: true, Reasoning: true}, parts)
				if strings.TrimSpace(m.Reasoning) != turn.reasoning || m.Content != turn.content {
					t.Errorf("%s turn %d: reasoning %q, content %q; want %q, %q", file, i, m.Reasoning, m.Content, turn.reasoning, turn.content)
				}
				if len(m.Calls) != len(turn.calls) {
					t.Fatalf("%s turn %d: calls %+v from %q", file, i, m.Calls, turnText)
				}
				for j, c := range turn.calls {
					if m.Calls[j].Name != c[0] || !sameJSON(t, m.Calls[j].Arguments, c[1]) {
						t.Errorf("%s turn %d: call %d = %+v, want %s %s", file, i, j, m.Calls[j], c[0], c[1])
					}
				}
			}
		}
	}
}

// Both templates take tools, in a format ondo knows, and think.
func TestGemma4Supports(t *testing.T) {
	for _, file := range gemma4Templates {
		if tools, thinking := Supports(parseTemplate(t, file)); !tools || !thinking {
			t.Errorf("%s: Supports = %v, %v; want true, true", file, tools, thinking)
		}
	}
}

// Example writes the template's notation and parses back.
func TestGemma4Example(t *testing.T) {
	for _, tc := range []struct{ args, want string }{
		{`{}`, `<|tool_call>call:f{}<tool_call|>`},
		{`{"b": [1, "x"], "A": {"z": null, "y": true}, "a": 1.5}`, `<|tool_call>call:f{A:{y:true,z:None},a:1.5,b:[1,<|"|>x<|"|>]}<tool_call|>`},
		{`{ARGUMENTS}`, `<|tool_call>call:f{KEY:<|"|>VALUE<|"|>}<tool_call|>`},
	} {
		got := gemma4.Example("f", tc.args)
		if got != tc.want {
			t.Errorf("Example(%s) = %q, want %q", tc.args, got, tc.want)
		}
		if m := gemma4.Parse(got, Options{Tools: true}); len(m.Calls) != 1 || json.Valid([]byte(tc.args)) && !sameJSON(t, m.Calls[0].Arguments, tc.args) {
			t.Errorf("%q parses to %+v", got, m.Calls)
		}
	}
}

// Arguments stream as they are generated, strings included, and join to
// the JSON of the whole.
func TestGemma4ArgumentsStreamIncrementally(t *testing.T) {
	long := strings.Repeat("가나다 \"q\" ", 20)
	text := `<|tool_call>call:write{path:<|"|>a.txt<|"|>,text:<|"|>` + long + `<|"|>,n:[1,2]}<tool_call|>`
	p := gemma4.NewParser(Options{Tools: true})
	var args []string
	for i := 0; i < len(text); i += 7 {
		for _, e := range p.Write(text[i:min(i+7, len(text))]) {
			if e.Kind == CallArgs {
				args = append(args, e.Text)
			}
		}
	}
	p.Close()
	if len(args) < 10 {
		t.Fatalf("arguments came in %d pieces, want them as generated", len(args))
	}
	want, _ := json.Marshal(map[string]any{"path": "a.txt", "text": long, "n": []int{1, 2}})
	if got := strings.Join(args, ""); !sameJSON(t, got, string(want)) {
		t.Fatalf("joined arguments %q, want %s", got, want)
	}
}

// gemmaTools have the schemas gemmaValue handles one by one.
var gemmaTools = []Tool{{Name: "plan", Parameters: json.RawMessage(`{"type": "object", "properties": {
	"unit": {"type": "string", "enum": ["섭씨", "F"]},
	"when": {"type": "object", "properties": {"hour": {"type": "integer", "minimum": 0, "maximum": 23}, "date": {"type": "string"}}, "required": ["date"]},
	"people": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string", "nullable": true}}, "required": ["name"]}, "minItems": 1, "maxItems": 2},
	"note": {"type": ["string", "null"]},
	"Score": {"type": "number"},
	"kind": {"const": "x"},
	"extra": {}
}, "required": ["unit", "people"]}`)}}

func TestGemma4GrammarSchemas(t *testing.T) {
	tk := testtok.Load(t, "llama3")
	c, src := bindGrammar(t, gemma4, GrammarOptions{Tools: gemmaTools, Token: vocabToken(tk)}, grammar.NewIndex(tk))
	q := func(s string) string { return `<|"|>` + s + `<|"|>` }
	call := func(args string) string { return "<|tool_call>call:plan{" + args + "}<tool_call|>" }
	for _, tc := range []struct {
		args string
		ok   bool
	}{
		{"people:[{name:" + q("Kim") + "}],unit:" + q("섭씨"), true},
		{"extra:{a:[None]},kind:" + q("x") + ",note:None,people:[{email:null,name:" + q("") + "},{email:" + q("k@x") + ",name:" + q("Lee") + "}],Score:-1.5e2,unit:" + q("F") + ",when:{date:" + q("2026-02-06") + ",hour:23}", true},
		{"note:" + q("n") + ",people:[{name:" + q("a") + "}],unit:" + q("F"), true},
		{"people:[],unit:" + q("F"), false},                                                                  // minItems
		{"people:[{name:" + q("a") + "},{name:" + q("b") + "},{name:" + q("c") + "}],unit:" + q("F"), false}, // maxItems
		{"people:[{name:" + q("a") + "}],unit:" + q("C"), false},                                             // enum
		{"people:[{name:" + q("a") + "}],unit:" + q("F") + ",when:{hour:24,date:" + q("d") + "}", false},     // order, maximum
		{"people:[{name:" + q("a") + "}],unit:" + q("F") + ",when:{hour:3}", false},                          // required date
		{"people:[{email:5,name:" + q("a") + "}],unit:" + q("F"), false},                                     // string or null
		{"kind:" + q("y") + ",people:[{name:" + q("a") + "}],unit:" + q("F"), false},                         // const
		{"people:[{name:" + q("a") + "}],Score:true,unit:" + q("F"), false},                                  // number
		{"people:[{name:\"a\"}],unit:" + q("F"), false},                                                      // JSON's quotes
	} {
		if got := accepts(t, tk, c, call(tc.args)); got != tc.ok {
			t.Errorf("%s: accepted %v, want %v\n%s", tc.args, got, tc.ok, src)
		}
		if tc.ok {
			if m := gemma4.Parse(call(tc.args), Options{Tools: true}); len(m.Calls) != 1 || !json.Valid([]byte(m.Calls[0].Arguments)) {
				t.Errorf("%s: parsed %+v", tc.args, m.Calls)
			}
		}
	}
}

// With Gemma 4's own vocabulary (when the shared test data has it) the
// markers are its control tokens, which the grammar names as such.
func TestGemma4GrammarTokens(t *testing.T) {
	dir, err := testdata.Find()
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer", "ggml-vocab-gemma-4.gguf")); err != nil {
		t.Skip("no Gemma 4 vocabulary in the shared test data")
	}
	tk := testtok.Load(t, "gemma-4")
	token := vocabToken(tk)
	for _, m := range []string{g4CallOpen, g4CallClose, g4Quote, g4Channel, g4ChannelEnd} {
		if _, ok := token(m); !ok {
			t.Fatalf("%q is not one token", m)
		}
	}
	ix := grammar.NewIndex(tk)
	for _, lazy := range []bool{false, true} {
		c, src := bindGrammar(t, gemma4, GrammarOptions{Tools: testTools, Reasoning: true, Lazy: lazy, Token: token}, ix)
		good := "<|channel>thought\n생각 <tool_call|><channel|><|tool_call>call:get_weather{city:<|\"|>서울 <|tool_call><|\"|>,days:2}<tool_call|>"
		if !accepts(t, tk, c, good) {
			t.Errorf("lazy=%v: refuses %q\n%s", lazy, good, src)
		}
		for _, bad := range []string{
			"<|tool_call>call:get_weather{city:<|\"|>a<|\"|>,days:9}<tool_call|>",
			"<|tool_call>call:get_weather{city:\"a\"}<tool_call|>",
		} {
			if accepts(t, tk, c, bad) {
				t.Errorf("lazy=%v: accepts %q", lazy, bad)
			}
		}
	}
}

// Long Gemma 4 arguments streamed in small pieces are read once.
func BenchmarkLongArgumentsGemma4(b *testing.B) {
	text := `<|tool_call>call:write{text:<|"|>` + strings.Repeat("가나다 abc ", 8000) + `<|"|>}<tool_call|>`
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p := gemma4.NewParser(Options{Tools: true})
		for i := 0; i < len(text); i += 4 {
			p.Write(text[i:min(i+4, len(text))])
		}
		p.Close()
	}
}

// FuzzGemma4 checks, for any JSON object whose keys and strings Gemma's
// notation can hold, that the notation (as Example writes it) parses back
// to the same value, whole and cut at every byte.
func FuzzGemma4(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": 1, "B": [true, null, "x\n\"y\""], "c": {"d": -1.5e-3, "e": []}}`, `{"k": "가나다 😀", "n": 0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, js string) {
		var v map[string]any
		if json.Unmarshal([]byte(js), &v) != nil || v == nil || !gemmaHolds(v) {
			return
		}
		text := gemma4.Example("f", js)
		for _, parts := range [][]string{{text}, strings.SplitAfter(text, "")} {
			m := parseParts(t, gemma4, Options{Tools: true, Reasoning: true}, parts)
			if len(m.Calls) != 1 || m.Content != "" || !sameJSON(t, m.Calls[0].Arguments, js) {
				t.Fatalf("%q: %+v, content %q", text, m.Calls, m.Content)
			}
		}
	})
}

// gemmaHolds reports whether Gemma's notation can write v: no key with
// the notation's punctuation, no string with its quote.
func gemmaHolds(v any) bool {
	switch x := v.(type) {
	case string:
		return !strings.Contains(x, g4Quote) && utf8.ValidString(x)
	case []any:
		for _, e := range x {
			if !gemmaHolds(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range x {
			if k == "" || strings.TrimSpace(k) != k || strings.ContainsAny(k, ":{}[],<\n") || !utf8.ValidString(k) || !gemmaHolds(e) {
				return false
			}
		}
	}
	return true
}
