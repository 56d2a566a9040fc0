package toolcall

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

type wantCall struct{ id, name, args string }

type parseCase struct {
	name      string
	spec      Spec
	opt       Options
	text      string
	content   string
	reasoning string
	calls     []wantCall // id "" means generated
}

var think = Spec{ThinkOpen: "<think>", ThinkClose: "</think>"}

// gemma4 is the Spec Detect gives Gemma 4's templates.
var gemma4 = Spec{Format: Gemma4, ThinkOpen: "<|channel>thought", ThinkClose: "<channel|>"}

func specOf(f Format, open, close string) Spec {
	return Spec{Format: f, ThinkOpen: open, ThinkClose: close}
}

var cases = []parseCase{
	{name: "plain", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text: "안녕하세요 😀 <b>", content: "안녕하세요 😀 <b>"},
	{name: "hermes one", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text:  "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}\n</tool_call>",
		calls: []wantCall{{"", "get_weather", `{"city": "서울"}`}}},
	{name: "hermes two with text", spec: specOf(Hermes, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>\nNeed both.\n</think>\n\nLet me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": [1, {\"y\": \"}\"}]}}\n</tool_call>\n<tool_call>\n{\"arguments\": {}, \"name\": \"b\"}\n</tool_call>",
		reasoning: "\nNeed both.\n", content: "Let me check.\n",
		calls: []wantCall{{"", "a", `{"x": [1, {"y": "}"}]}`}, {"", "b", `{}`}}},
	{name: "hermes string arguments", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text:  `<tool_call>{"name": "f", "arguments": "{\"q\": \"a\\\"b\"}"}</tool_call> done`,
		calls: []wantCall{{"", "f", `{"q": "a\"b"}`}}, content: "done"},
	{name: "hermes without tools", spec: specOf(Hermes, "", ""), opt: Options{},
		text: `<tool_call>{"name": "f", "arguments": {}}</tool_call>`, content: `<tool_call>{"name": "f", "arguments": {}}</tool_call>`},
	{name: "think opened in prompt", spec: think, opt: Options{Reasoning: true, InReasoning: true},
		text: "생각 중…</think>\n\n답: 42", reasoning: "생각 중…", content: "답: 42"},
	{name: "think off keeps markers", spec: think, opt: Options{},
		text: "<think>x</think>y", content: "<think>x</think>y"},
	{name: "think only at start", spec: think, opt: Options{Reasoning: true},
		text: "a <think>b</think>", content: "a <think>b</think>"},
	{name: "unclosed think", spec: think, opt: Options{Reasoning: true},
		text: "<think>still going", reasoning: "still going"},
	{name: "llama3 bare", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text:  `{"name": "get_weather", "parameters": {"location": "Seoul, KR"}}`,
		calls: []wantCall{{"", "get_weather", `{"location": "Seoul, KR"}`}}},
	{name: "llama3 bare type first", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text:  `{"type": "function", "name": "f", "parameters": {"a": 1}}`,
		calls: []wantCall{{"", "f", `{"a": 1}`}}},
	{name: "llama3 json content", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text: `{"answer": 42}`, content: `{"answer": 42}`},
	{name: "llama3 python tag", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text:  `<|python_tag|>{"name": "f", "parameters": {"a": "b"}}<|eom_id|>`,
		calls: []wantCall{{"", "f", `{"a": "b"}`}}},
	{name: "llama3 two bare calls", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text:  `{"name": "f", "parameters": {}}; {"name": "g", "parameters": {"k": null}}`,
		calls: []wantCall{{"", "f", `{}`}, {"", "g", `{"k": null}`}}},
	{name: "llama3 text mentioning json", spec: specOf(Llama3, "", ""), opt: Options{Tools: true},
		text: `Use {"name": 1}`, content: `Use {"name": 1}`},
	{name: "mistral nemo", spec: specOf(Mistral, "", ""), opt: Options{Tools: true},
		text:  `[TOOL_CALLS][{"name": "f", "arguments": {"a": 1}, "id": "abcDEF123"}, {"name": "g", "arguments": {}}]`,
		calls: []wantCall{{"abcDEF123", "f", `{"a": 1}`}, {"", "g", `{}`}}},
	{name: "mistral v11", spec: specOf(MistralV11, "[THINK]", "[/THINK]"), opt: Options{Tools: true, Reasoning: true},
		text:      `[THINK]hmm[/THINK]Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "부산"}[TOOL_CALLS]f[CALL_ID]a1b2c3d4e[ARGS]{}`,
		reasoning: "hmm", content: "Sure.",
		calls: []wantCall{{"", "get_weather", `{"city": "부산"}`}, {"a1b2c3d4e", "f", `{}`}}},
	{name: "deepseek r1", spec: specOf(DeepSeekR1, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true, InReasoning: true},
		text:      "ok</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Tokyo\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		reasoning: "ok",
		calls:     []wantCall{{"", "get_weather", `{"city": "Tokyo"}`}, {"", "g", `{}`}}},
	{name: "deepseek v3.1", spec: specOf(DeepSeekV3, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:    "Calling.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		content: "Calling.",
		calls:   []wantCall{{"", "get_weather", `{"city": "Paris"}`}}},
	{name: "one call at most", spec: specOf(Hermes, "", ""), opt: Options{Tools: true, MaxCalls: 1},
		text:  "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"b\", \"arguments\": {\"x\": 1}}</tool_call>\nok",
		calls: []wantCall{{"", "a", `{}`}}, content: "ok"},
	{name: "granite", spec: specOf(Granite, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>plan</think><|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}, {\"name\": \"get_time\", \"arguments\": {}}]",
		reasoning: "plan",
		calls:     []wantCall{{"", "get_weather", `{"city": "서울"}`}, {"", "get_time", `{}`}}},
	{name: "phi4", spec: specOf(Phi4, "", ""), opt: Options{Tools: true},
		text:  "<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\"}}]<|/tool_call|>after",
		calls: []wantCall{{"", "get_weather", `{"city": "Seoul"}`}}, content: "after"},
	{name: "phi4 other closing", spec: specOf(Phi4, "", ""), opt: Options{Tools: true},
		text:  "<|tool_call|>[{\"name\": \"get_time\", \"arguments\": {}}]</|tool_call|>",
		calls: []wantCall{{"", "get_time", `{}`}}},
	{name: "exaone 4 (hermes)", spec: specOf(Hermes, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>\n도구가 필요하다.\n</think>\n\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>",
		reasoning: "\n도구가 필요하다.\n",
		calls:     []wantCall{{"", "get_weather", `{"city": "서울"}`}, {"", "get_time", `{}`}}},
	{name: "command r7b", spec: Spec{Format: CommandR7B, ThinkOpen: "<|START_THINKING|>", ThinkClose: "<|END_THINKING|>", Strip: []string{"<|START_RESPONSE|>", "<|END_RESPONSE|>"}},
		opt:       Options{Tools: true, Reasoning: true},
		text:      "<|START_THINKING|>I will call.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Seoul\"}}\n]<|END_ACTION|>",
		reasoning: "I will call.",
		calls:     []wantCall{{"0", "get_weather", `{"city": "Seoul"}`}}},
	{name: "command r7b answer", spec: Spec{Format: CommandR7B, ThinkOpen: "<|START_THINKING|>", ThinkClose: "<|END_THINKING|>", Strip: []string{"<|START_RESPONSE|>", "<|END_RESPONSE|>"}},
		opt:  Options{Tools: true, Reasoning: true},
		text: "<|START_RESPONSE|>맑아요.<|END_RESPONSE|>", content: "맑아요."},
	{name: "kimi k2", spec: specOf(KimiK2, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>hm</think>Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Seoul\"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>",
		reasoning: "hm", content: "Checking.",
		calls: []wantCall{{"functions.get_weather:0", "get_weather", `{"city": "Seoul"}`}, {"functions.get_time:1", "get_time", `{}`}}},
	{name: "qwen3 coder", spec: specOf(QwenXML, "", ""), opt: Options{Tools: true, Schemas: []Tool{{Name: "get_weather", Parameters: []byte(`{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}`)}}},
		text:  "<tool_call>\n<function=get_weather>\n<parameter=city>\n123\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
		calls: []wantCall{{"", "get_weather", `{"city": "123", "days": 3}`}}},
	{name: "glm", spec: specOf(GLM, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>x</think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>부산</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>",
		reasoning: "x",
		calls:     []wantCall{{"", "get_weather", `{"city": "부산", "days": 2}`}}},
	{name: "harmony answer", spec: Spec{Format: Harmony}, opt: Options{Tools: true, Reasoning: true},
		text:      "<|channel|>analysis<|message|>User asks 2+2.<|end|><|start|>assistant<|channel|>final<|message|>답은 4입니다.",
		reasoning: "User asks 2+2.", content: "답은 4입니다."},
	{name: "harmony call", spec: Spec{Format: Harmony}, opt: Options{Tools: true, Reasoning: true},
		text:      "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"서울\"}",
		reasoning: "Need weather.",
		calls:     []wantCall{{"", "get_weather", `{"city":"서울"}`}}},
	{name: "harmony call in role", spec: Spec{Format: Harmony}, opt: Options{Tools: true, Reasoning: true},
		text:  "<|start|>assistant to=functions.get_time<|channel|>commentary json<|message|>{}<|call|>",
		calls: []wantCall{{"", "get_time", `{}`}}},
	{name: "harmony preamble", spec: Spec{Format: Harmony}, opt: Options{Tools: true, Reasoning: true},
		text:    "<|channel|>commentary<|message|>Checking now.<|end|><|start|>assistant<|channel|>commentary to=functions.get_time <|constrain|>json<|message|>{}",
		content: "Checking now.", calls: []wantCall{{"", "get_time", `{}`}}},
	{name: "harmony no reasoning", spec: Spec{Format: Harmony}, opt: Options{},
		text: "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>final<|message|>b", content: "ab"},
	{name: "lfm2", spec: specOf(LFM2, "<think>", "</think>"), opt: Options{Tools: true, Reasoning: true},
		text:      "<think>ok</think>Checking.<|tool_call_start|>[get_weather(city=\"서울\", days=3, metric=True), get_time(zone='Asia/Seoul')]<|tool_call_end|>Done.",
		reasoning: "ok", content: "Checking.Done.",
		calls: []wantCall{{"", "get_weather", `{"city": "서울", "days": 3, "metric": true}`}, {"", "get_time", `{"zone": "Asia/Seoul"}`}}},
	{name: "gemma4 one", spec: gemma4, opt: Options{Tools: true, Reasoning: true},
		text:  `<|tool_call>call:get_weather{city:<|"|>London<|"|>}<tool_call|>`,
		calls: []wantCall{{"", "get_weather", `{"city": "London"}`}}},
	{name: "gemma4 thought, text, two calls", spec: gemma4, opt: Options{Tools: true, Reasoning: true},
		text:      "<|channel>thought\n서울과 부산을 본다.\n<channel|>확인할게요.<|tool_call>call:get_weather{city:<|\"|>서울<|\"|>,days:3}<tool_call|><|tool_call>call:get_time{}<tool_call|>",
		reasoning: "서울과 부산을 본다.\n", content: "확인할게요.",
		calls: []wantCall{{"", "get_weather", `{"city": "서울", "days": 3}`}, {"", "get_time", `{}`}}},
	{name: "gemma4 values", spec: gemma4, opt: Options{Tools: true},
		text: "<|tool_call>call:set{config:{theme:<|\"|>dark \"q\" \\ \t\n😀<|\"|>,count:3,ratio:-1.5e3},todos:[<|\"|>buy milk<|\"|>,<|\"|><|\"|>],empty:[],obj:{},on:true,off:false,none:None,nul:null," +
			"nest:[[1,2],[{a:[]}]],<|\"|>quoted key<|\"|>:\"json\", spaced : 1 }<tool_call|>",
		calls: []wantCall{{"", "set", `{"config": {"theme": "dark \"q\" \\ \t\n😀", "count": 3, "ratio": -1.5e3}, "todos": ["buy milk", ""], "empty": [], "obj": {}, "on": true, "off": false, "none": null, "nul": null, ` +
			`"nest": [[1, 2], [{"a": []}]], "quoted key": "json", "spaced": 1}`}}},
	{name: "gemma4 bare words and python literals", spec: gemma4, opt: Options{Tools: true},
		text:  "<|tool_call>call:f{a:True,b:False,c:Seoul,d:01}<tool_call|>",
		calls: []wantCall{{"", "f", `{"a": true, "b": false, "c": "Seoul", "d": "01"}`}}},
	{name: "gemma4 empty thought and stray markers", spec: gemma4, opt: Options{Tools: true, Reasoning: true},
		text: "<|channel><|channel>thought<channel|>Hello, world!<|channel>thought\n<channel|><channel|>", content: "Hello, world!"},
	{name: "gemma4 thought after the answer", spec: gemma4, opt: Options{Reasoning: true},
		text: "맑아요. <|channel>thought\nlate<channel|>", content: "맑아요. ", reasoning: "late"},
	{name: "gemma4 no reasoning asked", spec: gemma4, opt: Options{Tools: true},
		text: "<|channel>thought\nx<channel|>y", content: "<|channel>thought\nx<channel|>y"},
	{name: "gemma4 without tools", spec: gemma4, opt: Options{Reasoning: true},
		text: "<|tool_call>call:f{}<tool_call|>", content: "<|tool_call>call:f{}<tool_call|>"},
	{name: "gemma4 no arguments", spec: gemma4, opt: Options{Tools: true},
		text:  "<|tool_call>call:get_time<tool_call|>",
		calls: []wantCall{{"", "get_time", `{}`}}},
	{name: "gemma4 not a call", spec: gemma4, opt: Options{Tools: true},
		text: "<|tool_call>hello world<tool_call|>", content: "hello world<tool_call|>"},
	{name: "gemma4 broken arguments", spec: gemma4, opt: Options{Tools: true},
		text:  "<|tool_call>call:f{a:[1 x],b:2}",
		calls: []wantCall{{"", "f", `{"a": [1]}`}}, content: "x],b:2}"},
	{name: "gemma4 cut short", spec: gemma4, opt: Options{Tools: true},
		text:  `<|tool_call>call:f{a:<|"|>long`,
		calls: []wantCall{{"", "f", `{"a": "long`}}},
	{name: "gemma4 one call at most", spec: gemma4, opt: Options{Tools: true, MaxCalls: 1},
		text:  "<|tool_call>call:a{}<tool_call|><|tool_call>call:b{x:1}<tool_call|>ok",
		calls: []wantCall{{"", "a", `{}`}}, content: "ok"},
	{name: "gemma4 prompt opened the channel", spec: gemma4, opt: Options{Tools: true, Reasoning: true, InReasoning: true},
		text:      "\n  생각<channel|><|tool_call>call:get_time{}<tool_call|>",
		reasoning: "생각", calls: []wantCall{{"", "get_time", `{}`}}},
	{name: "generic calls", spec: Spec{Format: Generic}, opt: Options{Tools: true},
		text:  `{"tool_calls": [{"name": "get_weather", "arguments": {"city": "서울"}}, {"name": "get_time", "arguments": {}}]}`,
		calls: []wantCall{{"", "get_weather", `{"city": "서울"}`}, {"", "get_time", `{}`}}},
	{name: "generic response", spec: Spec{Format: Generic}, opt: Options{Tools: true},
		text: `{"response": "맑아요 \"정말\""}`, content: `맑아요 "정말"`},
	{name: "generic not json", spec: Spec{Format: Generic}, opt: Options{Tools: true},
		text: `plain words`, content: `plain words`},
	{name: "cut short keeps arguments", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text:  `<tool_call>{"name": "f", "arguments": {"a": "long`,
		calls: []wantCall{{"", "f", `{"a": "long`}}},
	{name: "mistral v11 marker then no name", spec: specOf(MistralV11, "", ""), opt: Options{Tools: true},
		text: `[TOOL_CALLS] {"a": 1}`, content: `{"a": 1}`},
	{name: "hermes marker then no object", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text: "<tool_call> oops", content: "oops"},
	{name: "lookalike marker", spec: specOf(Hermes, "", ""), opt: Options{Tools: true},
		text: "a <tool_cal b <tool", content: "a <tool_cal b <tool"},
}

// chunkings returns ways to cut s: whole, every byte, and every pair of
// cut points (all of them for short texts, a stride for long ones).
func chunkings(s string) [][]string {
	out := [][]string{{s}}
	var bytes []string
	for i := 0; i < len(s); i++ {
		bytes = append(bytes, s[i:i+1])
	}
	out = append(out, bytes)
	step := 1
	if len(s) > 120 {
		step = 3
	}
	for i := 1; i < len(s); i += step {
		for j := i; j < len(s); j += step {
			if j == i {
				out = append(out, []string{s[:i], s[i:]})
				continue
			}
			out = append(out, []string{s[:i], s[i:j], s[j:]})
		}
	}
	return out
}

func TestParseEveryChunking(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, parts := range chunkings(tc.text) {
				ids := 0
				opt := tc.opt
				opt.NewID = func() string { ids++; return fmt.Sprintf("gen%d", ids) }
				m := parseParts(t, tc.spec, opt, parts)
				if m.Content != tc.content || m.Reasoning != tc.reasoning {
					t.Fatalf("cut %q: content %q reasoning %q, want %q and %q", parts, m.Content, m.Reasoning, tc.content, tc.reasoning)
				}
				if len(m.Calls) != len(tc.calls) {
					t.Fatalf("cut %q: calls %+v, want %+v", parts, m.Calls, tc.calls)
				}
				gen := 0
				for i, w := range tc.calls {
					got := m.Calls[i]
					id := w.id
					if id == "" {
						gen++
						id = fmt.Sprintf("gen%d", gen)
					}
					if got.Name != w.name || got.Arguments != w.args || got.ID != id {
						t.Fatalf("cut %q: call %d = %+v, want %+v (id %s)", parts, i, got, w, id)
					}
				}
			}
		})
	}
}

// parseParts parses an output written in parts, checks its events and
// gathers them.
func parseParts(t *testing.T, spec Spec, opt Options, parts []string) Message {
	t.Helper()
	p := spec.NewParser(opt)
	var all []Event
	for _, c := range parts {
		all = append(all, p.Write(c)...)
	}
	all = append(all, p.Close()...)
	checkEvents(t, parts, all)
	return Collect(all)
}

// checkEvents checks what every stream must keep: valid UTF-8 pieces,
// a call's start before its arguments, no empty deltas.
func checkEvents(t *testing.T, parts []string, evs []Event) {
	t.Helper()
	started, ended := map[int]bool{}, map[int]bool{}
	defer func() {
		if len(ended) != len(started) {
			t.Fatalf("cut %q: %d calls started, %d ended", parts, len(started), len(ended))
		}
	}()
	for _, e := range evs {
		if !utf8.ValidString(e.Text) {
			t.Fatalf("cut %q: event %+v is not valid UTF-8", parts, e)
		}
		switch e.Kind {
		case CallStart:
			if started[e.Index] || e.Index != len(started) {
				t.Fatalf("cut %q: call %d started out of order", parts, e.Index)
			}
			started[e.Index] = true
		case CallEnd:
			if !started[e.Index] || ended[e.Index] || e.Index != len(started)-1 {
				t.Fatalf("cut %q: call %d ended out of order", parts, e.Index)
			}
			ended[e.Index] = true
		case CallArgs:
			if !started[e.Index] || ended[e.Index] {
				t.Fatalf("cut %q: arguments of call %d outside it", parts, e.Index)
			}
			fallthrough
		default:
			if e.Text == "" {
				t.Fatalf("cut %q: empty %v event", parts, e.Kind)
			}
		}
	}
}

// Arguments stream as they are generated: a long call's arguments come in
// several events before the call ends.
func TestArgumentsStreamIncrementally(t *testing.T) {
	p := specOf(Hermes, "", "").NewParser(Options{Tools: true})
	text := `<tool_call>{"name": "write", "arguments": {"text": "` + strings.Repeat("가나다 ", 20) + `"}}</tool_call>`
	var args []string
	for i := 0; i < len(text); i += 7 {
		for _, e := range p.Write(text[i:min(i+7, len(text))]) {
			if e.Kind == CallArgs {
				args = append(args, e.Text)
			}
		}
	}
	if len(args) < 10 {
		t.Fatalf("arguments came in %d pieces, want them as generated", len(args))
	}
	if !json.Valid([]byte(strings.Join(args, ""))) {
		t.Fatalf("joined arguments are not JSON: %q", strings.Join(args, ""))
	}
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Spec
	}{
		{`{{'<tool_call>\n'}}`, Spec{Format: Hermes}},
		{`{%- if x %}<think>{% endif %}<tool_call>`, Spec{Format: Hermes, ThinkOpen: "<think>", ThinkClose: "</think>"}},
		{`<|python_tag|>`, Spec{Format: Llama3}},
		{`[TOOL_CALLS]`, Spec{Format: Mistral}},
		{`[TOOL_CALLS]{{name}}[ARGS][THINK]`, Spec{Format: MistralV11, ThinkOpen: "[THINK]", ThinkClose: "[/THINK]"}},
		{`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>`, Spec{Format: DeepSeekR1}},
		{`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>{{name}}<｜tool▁sep｜>`, Spec{Format: DeepSeekV3}},
		{`<|tool_call|>`, Spec{Format: Granite}},
		{`<|tool_call|>x<|/tool_call|>`, Spec{Format: Phi4}},
		{`<|START_THINKING|><|START_ACTION|><|START_RESPONSE|>`, Spec{Format: CommandR7B, ThinkOpen: "<|START_THINKING|>", ThinkClose: "<|END_THINKING|>", Strip: []string{"<|START_RESPONSE|>", "<|END_RESPONSE|>"}}},
		{`<|tool_calls_section_begin|>`, Spec{Format: KimiK2}},
		{`<tool_call><function=x><parameter=y>`, Spec{Format: QwenXML}},
		{`<tool_call>{{name}}<arg_key>k</arg_key><arg_value>`, Spec{Format: GLM}},
		{`<|start|>assistant<|channel|>final<|message|><think>`, Spec{Format: Harmony}},
		{`<|tool_list_start|>x<|tool_call_start|>`, Spec{Format: LFM2}},
		{`{{ '<|tool_call>call:' + name }}<tool_call|><|channel>thought<channel|>`, gemma4},
		{`<|tool_call>call:x<tool_call|>`, Spec{Format: Gemma4}},
		{`{{ messages }}`, Spec{}},
	} {
		if got := Detect(tc.src); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Detect(%q) = %+v, want %+v", tc.src, got, tc.want)
		}
	}
}

// FuzzParser feeds any output, cut anywhere, to every format: no panic,
// no endless loop, and the stream keeps its order rules.
func FuzzParser(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.text, uint8(3))
	}
	var specs []Spec
	for f := range formats {
		specs = append(specs, specOf(f, "<think>", "</think>"))
	}
	specs = append(specs, gemma4, Spec{Format: Harmony}, Spec{Format: Generic}, Spec{Format: CommandR7B, ThinkOpen: "<|START_THINKING|>", ThinkClose: "<|END_THINKING|>", Strip: []string{"<|START_RESPONSE|>", "<|END_RESPONSE|>"}})
	f.Fuzz(func(t *testing.T, text string, cut uint8) {
		if !utf8.ValidString(text) || len(text) > 4096 {
			return
		}
		step := int(cut%16) + 1
		var parts []string
		for i := 0; i < len(text); i += step {
			parts = append(parts, text[i:min(i+step, len(text))])
		}
		for _, s := range specs {
			for _, o := range []Options{{Tools: true, Reasoning: true}, {Tools: true, InReasoning: true, Reasoning: true, MaxCalls: 1}, {}} {
				parseParts(t, s, o, parts)
			}
		}
	})
}

// Long arguments streamed in small pieces are read once, not again with
// every piece: the time per byte stays flat as they grow.
func BenchmarkLongArguments(b *testing.B) {
	text := `<tool_call>{"name": "write", "arguments": {"text": "` + strings.Repeat("가나다 abc ", 8000) + `"}}</tool_call>`
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		p := specOf(Hermes, "", "").NewParser(Options{Tools: true})
		for i := 0; i < len(text); i += 4 {
			p.Write(text[i:min(i+4, len(text))])
		}
		p.Close()
	}
}

// Detect on the real templates of chat's test data.
func TestDetectTemplates(t *testing.T) {
	for file, want := range map[string]Format{
		"templates/meta-llama-Llama-3.1-8B-Instruct.jinja":                 Llama3,
		"templates/meta-llama-Llama-3.2-3B-Instruct.jinja":                 Llama3,
		"templates/meta-llama-Llama-3.3-70B-Instruct.jinja":                Llama3,
		"templates/Qwen-Qwen2.5-7B-Instruct.jinja":                         Hermes,
		"templates/Qwen-Qwen3-0.6B.jinja":                                  Hermes,
		"templates/mistralai-Mistral-Nemo-Instruct-2407.jinja":             Mistral,
		"templates/Mistral-Small-3.2-24B-Instruct-2506.jinja":              MistralV11,
		"templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja":         DeepSeekR1,
		"templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja":         DeepSeekR1,
		"templates/google-gemma-3-4b-it.jinja":                             None,
		"templates/microsoft-Phi-3.5-mini-instruct.jinja":                  None,
		"captemplates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja":   Hermes,
		"captemplates/Qwen3-Coder.jinja":                                   QwenXML,
		"captemplates/deepseek-ai-DeepSeek-V3.1.jinja":                     DeepSeekV3,
		"captemplates/openai-gpt-oss-120b.jinja":                           Harmony,
		"captemplates/ibm-granite-granite-3.3-2B-Instruct.jinja":           Granite,
		"captemplates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja": CommandR7B,
		"captemplates/moonshotai-Kimi-K2.jinja":                            KimiK2,
		"captemplates/GLM-4.6.jinja":                                       GLM,
		"captemplates/LFM2-8B-A1B.jinja":                                   LFM2,
		"captemplates/mistralai-Ministral-3-14B-Reasoning-2512.jinja":      MistralV11,
		"captemplates/meetkai-functionary-medium-v3.2.jinja":               None,
		"templates/google-gemma-4-31B-it.jinja":                            Gemma4,
		"templates/google-gemma-4-31B-it-interleaved.jinja":                Gemma4,
	} {
		src, err := os.ReadFile(filepath.Join("..", "chat", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(string(src)).Format; got != want {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
}

// Every format has an example call (ToolsInstruction shows it).
func TestExampleEveryFormat(t *testing.T) {
	for f := range formats {
		if (Spec{Format: f}).Example("get_time", "{}") == "" {
			t.Errorf("%s: no example", f)
		}
	}
	for _, f := range []Format{Harmony, Generic} {
		if (Spec{Format: f}).Example("get_time", "{}") == "" {
			t.Errorf("%s: no example", f)
		}
	}
}
