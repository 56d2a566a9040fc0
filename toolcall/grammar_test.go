package toolcall

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testtok"
	"github.com/ondo-ai/ondo/tokenizer"
)

var testTools = []Tool{
	{Name: "get_weather", Parameters: json.RawMessage(`{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city"], "additionalProperties": false}`)},
	{Name: "get_time", Parameters: nil},
}

// accepts reports whether the grammar takes text whole, tokenized as the
// model would write it (control tokens included).
func accepts(t *testing.T, tk *tokenizer.Tokenizer, c *grammar.Constraint, text string) bool {
	t.Helper()
	m := c.NewMatcher()
	for _, id := range tk.Encode(text, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off}) {
		if m.Accept(id) != nil {
			return false
		}
	}
	return m.Complete()
}

// bindGrammar compiles spec's grammar for opt and binds it to ix; it
// returns the grammar's source too, for messages.
func bindGrammar(t *testing.T, spec Spec, opt GrammarOptions, ix *grammar.Index) (*grammar.Constraint, string) {
	t.Helper()
	src, err := spec.Grammar(opt)
	if err != nil {
		t.Fatalf("%s: %v", spec.Format, err)
	}
	g, err := grammar.Parse(src)
	if err != nil {
		t.Fatalf("%s: %v\n%s", spec.Format, err, src)
	}
	c, err := g.Bind(ix)
	if err != nil {
		t.Fatalf("%s: %v", spec.Format, err)
	}
	return c, src
}

func vocabToken(tk *tokenizer.Tokenizer) func(string) (int32, bool) {
	return func(s string) (int32, bool) {
		ids := tk.Encode(s, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off})
		if len(ids) == 1 && tk.Piece(ids[0]) == s {
			return ids[0], true
		}
		return 0, false
	}
}

func TestGrammarPerFormat(t *testing.T) {
	tk := testtok.Load(t, "llama3")
	ix := grammar.NewIndex(tk)
	for _, tc := range []struct {
		spec Spec
		opt  GrammarOptions
		good []string
		bad  []string
	}{
		{specOf(Hermes, "<think>", "</think>"), GrammarOptions{Reasoning: true},
			[]string{
				"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}\n</tool_call>",
				"<think>\n생각\n</think>\n\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"a\", \"days\": 7}}\n</tool_call>",
			},
			[]string{
				"Sure! <tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",                          // text first: not lazy
				"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"a\", \"days\": 8}}\n</tool_call>", // maximum
				"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>",                             // required
				"<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>",                                   // unknown tool
				"",
			}},
		{specOf(Hermes, "<think>", "</think>"), GrammarOptions{Lazy: true, Reasoning: true, MaxCalls: 1},
			[]string{
				"",
				"그냥 답합니다. <tool 없이",
				"<think>x</think>Let me see.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
			},
			[]string{
				"Let me see.\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": [1]}\n</tool_call>",                                                 // not an object
				"<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>", // one call
			}},
		{specOf(Hermes, "<think>", "</think>"), GrammarOptions{InReasoning: true},
			[]string{"reasoning</think>\n\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>"},
			[]string{"<tool_call>{\"name\": \"get_time\", \"arguments\": {}}</tool_call>"}},
		{specOf(Llama3, "", ""), GrammarOptions{Lazy: true},
			[]string{
				`{"name": "get_weather", "parameters": {"city": "Busan"}}`,
				`<|python_tag|>{"name": "get_time", "parameters": {}}`,
				"The weather is fine.",
			},
			[]string{`{"answer": 1}`, `{"name": "get_weather", "parameters": {"town": "x"}}`}},
		{specOf(Mistral, "", ""), GrammarOptions{},
			[]string{`[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Jeju"}, "id": "a1B2c3D4e"}, {"name": "get_time", "arguments": {}}]`},
			[]string{`[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Jeju"}, "id": "short"}]`}},
		{specOf(MistralV11, "[THINK]", "[/THINK]"), GrammarOptions{Lazy: true, Reasoning: true},
			[]string{`[THINK]hmm[/THINK]Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "부산"}[TOOL_CALLS]get_time[ARGS]{}`, "no calls"},
			[]string{`[TOOL_CALLS]get_weather[ARGS]{"city": 5}`}},
		{specOf(DeepSeekR1, "<think>", "</think>"), GrammarOptions{},
			[]string{"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Tokyo\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
			[]string{"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"}},
		{specOf(DeepSeekV3, "<think>", "</think>"), GrammarOptions{Lazy: true},
			[]string{"Calling.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"},
			[]string{"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}<｜tool▁call▁end｜>"}},
		{specOf(Granite, "<think>", "</think>"), GrammarOptions{Lazy: true, Reasoning: true},
			[]string{"<think>plan</think><|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}, {\"name\": \"get_time\", \"arguments\": {}}]", "그냥 답"},
			[]string{"<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {}}]"}},
		{specOf(Phi4, "", ""), GrammarOptions{},
			[]string{"<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\"}}]<|/tool_call|>"},
			[]string{"<|tool_call|>[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\"}}]"}},
		{Spec{Format: CommandR7B, ThinkOpen: "<|START_THINKING|>", ThinkClose: "<|END_THINKING|>"}, GrammarOptions{Reasoning: true},
			[]string{"<|START_THINKING|>I will call.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Seoul\"}}\n]<|END_ACTION|>"},
			[]string{"<|START_ACTION|>[{\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"town\": \"Seoul\"}}]<|END_ACTION|>"}},
		{specOf(KimiK2, "<think>", "</think>"), GrammarOptions{Lazy: true},
			[]string{"Checking.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Seoul\"}<|tool_call_end|><|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>"},
			[]string{"<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"days\": 1}<|tool_call_end|><|tool_calls_section_end|>"}},
		{specOf(QwenXML, "", ""), GrammarOptions{},
			[]string{"<tool_call>\n<function=get_weather>\n<parameter=city>\n서울 </x>\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
				"<tool_call>\n<function=get_time>\n</function>\n</tool_call>"},
			[]string{"<tool_call>\n<function=get_weather>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>", // city is required
				"<tool_call>\n<function=get_weather>\n<parameter=city>\nx\n</parameter>\n<parameter=days>\n9\n</parameter>\n</function>\n</tool_call>"}},
		{specOf(GLM, "<think>", "</think>"), GrammarOptions{Lazy: true, Reasoning: true},
			[]string{"<think>x</think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>부산</arg_value>\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"},
			[]string{"<tool_call>get_weather\n<arg_key>days</arg_key>\n<arg_value>2</arg_value>\n</tool_call>"}},
		{Spec{Format: Harmony}, GrammarOptions{Lazy: true},
			[]string{"<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":\"서울\"}",
				"<|channel|>final<|message|>답은 4입니다."},
			[]string{"<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"town\":\"서울\"}"}},
		{specOf(LFM2, "<think>", "</think>"), GrammarOptions{Lazy: true, Reasoning: true},
			[]string{"Checking.<|tool_call_start|>[get_weather(city=\"서울\", days=3), get_time()]<|tool_call_end|>",
				"<|tool_call_start|>[get_weather(city=\"x\")]<|tool_call_end|>"},
			[]string{"<|tool_call_start|>[get_weather(days=3)]<|tool_call_end|>", "<|tool_call_start|>[get_weather(, city=\"x\")]<|tool_call_end|>",
				"<|tool_call_start|>[get_weather(city=\"x\", days=8)]<|tool_call_end|>"}},
		{gemma4, GrammarOptions{Reasoning: true},
			[]string{
				"<|tool_call>call:get_weather{city:<|\"|>서울<|\"|>}<tool_call|>",
				"<|channel>thought\n생각<channel|><|tool_call>call:get_weather{city:<|\"|>a \"b\"<|\"|>,days:7}<tool_call|><|tool_call>call:get_time{}<tool_call|>",
				"<|tool_call>call:get_time{a:[1,<|\"|>x<|\"|>],b:{c:None,d:-2.5e3}}<tool_call|>", // no parameters: any dict
			},
			[]string{
				"Sure <|tool_call>call:get_time{}<tool_call|>",                                    // text first: not lazy
				"<|tool_call>call:get_weather{city:<|\"|>a<|\"|>,days:8}<tool_call|>",             // maximum
				"<|tool_call>call:get_weather{days:3}<tool_call|>",                                // required
				"<|tool_call>call:get_weather{days:3,city:<|\"|>a<|\"|>}<tool_call|>",             // dictsort order
				"<|tool_call>call:get_weather{city:\"a\"}<tool_call|>",                            // JSON's quotes
				"<|tool_call>call:get_weather{city:<|\"|>a<|\"|>,town:<|\"|>b<|\"|>}<tool_call|>", // not declared
				"<|tool_call>call:other{}<tool_call|>",                                            // unknown tool
				"<|tool_call>call:get_time{}",                                                     // not closed
			}},
		{gemma4, GrammarOptions{Lazy: true, Reasoning: true, MaxCalls: 1},
			[]string{"", "그냥 답합니다.", "<|channel>thought\nx<channel|>Let me see.<|tool_call>call:get_time{}<tool_call|>"},
			[]string{"<|tool_call>call:get_time{}<tool_call|><|tool_call>call:get_time{}<tool_call|>", // one call
				"<|tool_call>call:get_time[]<tool_call|>"}},
		{Spec{Format: Generic}, GrammarOptions{Lazy: true},
			[]string{`{"tool_calls": [{"name": "get_weather", "arguments": {"city": "서울"}}]}`, `{"response": "안녕"}`},
			[]string{`{"tool_calls": [{"name": "get_weather", "arguments": {}}]}`, `hello`}},
		{Spec{Format: Generic}, GrammarOptions{MaxCalls: 1},
			[]string{`{"tool_calls": [{"name": "get_time", "arguments": {}}]}`},
			[]string{`{"response": "안녕"}`, `{"tool_calls": [{"name": "get_time", "arguments": {}}, {"name": "get_time", "arguments": {}}]}`}},
	} {
		tc.opt.Tools = testTools
		tc.opt.Token = vocabToken(tk)
		c, src := bindGrammar(t, tc.spec, tc.opt, ix)
		for _, s := range tc.good {
			if !accepts(t, tk, c, s) {
				t.Errorf("%s %+v: refuses %q\n%s", tc.spec.Format, tc.opt.Lazy, s, src)
			}
			// What the grammar takes, the parser reads back.
			if m := tc.spec.Parse(s, Options{Tools: true, Reasoning: tc.opt.Reasoning, InReasoning: tc.opt.InReasoning, Schemas: testTools}); strings.Contains(s, "get_") && len(m.Calls) == 0 {
				t.Errorf("%s: the parser finds no call in %q", tc.spec.Format, s)
			}
		}
		for _, s := range tc.bad {
			if accepts(t, tk, c, s) {
				t.Errorf("%s lazy=%v: accepts %q", tc.spec.Format, tc.opt.Lazy, s)
			}
		}
	}
}

func TestGrammarBadTool(t *testing.T) {
	_, err := Spec{Format: Hermes}.Grammar(GrammarOptions{Tools: []Tool{{Name: "f", Parameters: json.RawMessage(`{"type": "object", "not": {}}`)}}})
	if err == nil || !strings.Contains(err.Error(), `tool "f"`) || !strings.Contains(err.Error(), "not") {
		t.Fatalf("err = %v, want one naming the tool and the keyword", err)
	}
}

func TestWrapKeepsReasoningOutsideTheFormat(t *testing.T) {
	tk := testtok.Load(t, "llama3")
	ix := grammar.NewIndex(tk)
	body := "root ::= \"{\" \"}\"\n"
	src := specOf(Hermes, "<think>", "</think>").Wrap(body, GrammarOptions{Reasoning: true, Token: vocabToken(tk)})
	g, err := grammar.Parse(src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	c, _ := g.Bind(ix)
	for s, want := range map[string]bool{"{}": true, "<think>any {text}</think>\n{}": true, "<think>x</think>[]": false, "x{}": false} {
		if accepts(t, tk, c, s) != want {
			t.Errorf("%q: accepted %v, want %v", s, !want, want)
		}
	}
}
