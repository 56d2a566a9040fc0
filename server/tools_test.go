package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ollama "github.com/ollama/ollama/api"
	openai "github.com/sashabaranov/go-openai"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/internal/schematest"
	"github.com/ondo-ai/ondo/internal/scripted"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/internal/testvocab"
)

// A scripted model (internal/scripted) generates a fixed text whatever the
// prompt: each format's output goes through the real engine and server,
// and the answers are checked field by field.

var (
	llama3VocabOnce sync.Once
	llama3VocabPath string
)

// llama3Vocab is the Llama 3 vocabulary as a GGUF, written once per run.
func llama3Vocab(t *testing.T) string {
	llama3VocabOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ondo-vocab-")
		if err != nil {
			t.Fatal(err)
		}
		src := testvocab.Llama3(t)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		llama3VocabPath = filepath.Join(dir, "llama3-vocab.gguf")
		if err := os.WriteFile(llama3VocabPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	return llama3VocabPath
}

func readTemplate(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "templates", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type toolCase struct {
	name      string
	template  string // file in chat/testdata/templates
	script    string
	content   string
	reasoning string
	calls     [][2]string // name, arguments
	noTools   bool        // the template takes none: ask without
	think     bool        // ask for thinking (it is off by default)
}

var weatherTool = map[string]any{"type": "function", "function": map[string]any{
	"name": "get_weather", "description": "Weather in a city",
	"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
}}

var timeTool = map[string]any{"type": "function", "function": map[string]any{
	"name": "get_time", "parameters": map[string]any{"type": "object", "properties": map[string]any{}},
}}

var toolCases = []toolCase{
	{name: "hermes", template: "Qwen-Qwen2.5-7B-Instruct.jinja",
		script:  "날씨를 볼게요.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
		content: "날씨를 볼게요.\n",
		calls:   [][2]string{{"get_weather", `{"city": "서울"}`}, {"get_time", `{}`}}},
	{name: "qwen3 thinking", template: "Qwen-Qwen3-0.6B.jinja",
		script:    "<think>\n사용자가 서울 날씨를 묻는다.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Seoul\"}}\n</tool_call>",
		reasoning: "\n사용자가 서울 날씨를 묻는다.\n",
		calls:     [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "llama3", template: "meta-llama-Llama-3.1-8B-Instruct.jinja",
		script: `{"name": "get_weather", "parameters": {"city": "Busan"}}`,
		calls:  [][2]string{{"get_weather", `{"city": "Busan"}`}}},
	{name: "mistral nemo", template: "mistralai-Mistral-Nemo-Instruct-2407.jinja",
		script: `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Jeju"}, "id": "a1B2c3D4e"}]`,
		calls:  [][2]string{{"get_weather", `{"city": "Jeju"}`}}},
	{name: "mistral small 3.2", template: "Mistral-Small-3.2-24B-Instruct-2506.jinja",
		script: `[TOOL_CALLS]get_weather[ARGS]{"city": "Daegu"}`,
		calls:  [][2]string{{"get_weather", `{"city": "Daegu"}`}}},
	{name: "qwen3 coder", template: "../captemplates/Qwen3-Coder.jinja",
		script: "<tool_call>\n<function=get_weather>\n<parameter=city>\n서울\n</parameter>\n</function>\n</tool_call>",
		calls:  [][2]string{{"get_weather", `{"city": "서울"}`}}},
	{name: "glm", template: "../captemplates/GLM-4.6.jinja",
		script:    "<think>날씨 도구.</think>\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Busan</arg_value>\n</tool_call>",
		reasoning: "날씨 도구.",
		calls:     [][2]string{{"get_weather", `{"city": "Busan"}`}}},
	{name: "kimi k2", template: "../captemplates/moonshotai-Kimi-K2.jinja",
		script:  "Let me check.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{\"city\": \"Seoul\"}<|tool_call_end|><|tool_calls_section_end|>",
		content: "Let me check.",
		calls:   [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "command r7b", template: "../captemplates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
		script:    "<|START_THINKING|>I should look it up.<|END_THINKING|><|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Seoul\"}}\n]<|END_ACTION|>",
		reasoning: "I should look it up.",
		calls:     [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "granite", template: "../captemplates/ibm-granite-granite-3.3-2B-Instruct.jinja",
		script: `<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Seoul"}}]`,
		calls:  [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "gpt-oss", template: "../captemplates/openai-gpt-oss-120b.jinja",
		script:    "<|channel|>analysis<|message|>Need the weather tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": \"Seoul\"}",
		reasoning: "Need the weather tool.",
		calls:     [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "lfm2", template: "../captemplates/LFM2-8B-A1B.jinja",
		script: `<|tool_call_start|>[get_weather(city="Seoul")]<|tool_call_end|>`,
		calls:  [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "gemma4", template: "google-gemma-4-31B-it.jinja", think: true,
		script:    "<|channel>thought\n서울 날씨를 찾는다.<channel|><|tool_call>call:get_weather{city:<|\"|>서울<|\"|>}<tool_call|>",
		reasoning: "서울 날씨를 찾는다.",
		calls:     [][2]string{{"get_weather", `{"city": "서울"}`}}},
	{name: "generic", template: "../captemplates/meetkai-functionary-medium-v3.2.jinja",
		script: `{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Seoul"}}]}`,
		calls:  [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "deepseek v3.1", template: "../captemplates/deepseek-ai-DeepSeek-V3.1.jinja",
		script:  "Calling.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Seoul\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		content: "Calling.",
		calls:   [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "deepseek r1 tools", template: "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
		script:    "Need the tool.\n</think>\n\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Seoul\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
		reasoning: "Need the tool.\n",
		calls:     [][2]string{{"get_weather", `{"city": "Seoul"}`}}},
	{name: "exaone 4", template: "../shapes/exaone4-shape.jinja", think: true,
		script:    "도구가 필요하다.\n</think>\n\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"서울\"}}</tool_call>",
		reasoning: "도구가 필요하다.\n",
		calls:     [][2]string{{"get_weather", `{"city": "서울"}`}}},
	{name: "phi4 mini", template: "../shapes/phi4-mini-shape.jinja",
		script: `<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Seoul"}}, {"name": "get_time", "arguments": {}}]<|/tool_call|>`,
		calls:  [][2]string{{"get_weather", `{"city": "Seoul"}`}, {"get_time", `{}`}}},
	{name: "deepseek r1 distill", template: "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
		script:    "Plain reasoning.\n</think>\n\nThe answer is 4.",
		reasoning: "Plain reasoning.\n", content: "The answer is 4.", noTools: true, think: true},
}

// toolServer serves one scripted model per case, named after the case.
func toolServer(t *testing.T, cases []toolCase) *testServer {
	t.Helper()
	dir := t.TempDir()
	vocab := llama3Vocab(t)
	for _, tc := range cases {
		scripted.Write(t, vocab, filepath.Join(dir, modelName(tc.name)+".gguf"), readTemplate(t, tc.template), tc.script)
	}
	return start(t, Config{ModelsDir: dir, Parallel: 2})
}

func modelName(s string) string { return strings.NewReplacer(" ", "-", ".", "-").Replace(s) }

// chatBody is a chat request for case tc on path's API.
func chatBody(tc toolCase, path string, stream bool, extra map[string]any) map[string]any {
	b := map[string]any{"model": modelName(tc.name), "stream": stream,
		"messages": []map[string]any{{"role": "user", "content": "서울 날씨 어때?"}}}
	if !tc.noTools {
		b["tools"] = []any{weatherTool, timeTool}
	}
	if tc.think && strings.HasPrefix(path, "/v1/") {
		b["chat_template_kwargs"] = map[string]any{"enable_thinking": true}
	} else if tc.think {
		b["think"] = true
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestToolCallsOpenAI(t *testing.T) {
	ts := toolServer(t, toolCases)
	for _, tc := range toolCases {
		t.Run(tc.name, func(t *testing.T) {
			// Whole.
			r := ts.ok(t, "/v1/chat/completions", chatBody(tc, "/v1/", false, nil))
			resp := decodeReply(t, r)
			msg := resp.Choices[0].Message
			content := ""
			if msg.Content != nil {
				content = *msg.Content
			} else if len(tc.calls) == 0 {
				t.Errorf("content is null without tool calls")
			}
			if content != tc.content || msg.ReasoningContent != tc.reasoning || msg.Reasoning != tc.reasoning {
				t.Errorf("content %q, reasoning %q / %q; want %q, %q", content, msg.ReasoningContent, msg.Reasoning, tc.content, tc.reasoning)
			}
			if len(msg.ToolCalls) != len(tc.calls) {
				t.Fatalf("tool calls %+v, want %v", msg.ToolCalls, tc.calls)
			}
			ids := map[string]bool{}
			for i, c := range msg.ToolCalls {
				if c.Type != "function" || c.Function.Name != tc.calls[i][0] || c.Function.Arguments != tc.calls[i][1] || c.ID == "" || ids[c.ID] {
					t.Errorf("call %d = %+v, want %v with a fresh id", i, c, tc.calls[i])
				}
				ids[c.ID] = true
			}
			wantFinish := "stop"
			if len(tc.calls) > 0 {
				wantFinish = "tool_calls"
			}
			if resp.Choices[0].FinishReason != wantFinish {
				t.Errorf("finish_reason %q, want %q", resp.Choices[0].FinishReason, wantFinish)
			}

			// Streamed: deltas put back together give the same message.
			chunks := sseChunks(t, ts, chatBody(tc, "/v1/", true, nil))
			var sc, sr strings.Builder
			type acc struct{ id, name, args string }
			var calls []acc
			finish := ""
			for _, ch := range chunks {
				var c struct {
					Choices []struct {
						Delta struct {
							Content          *string `json:"content"`
							ReasoningContent string  `json:"reasoning_content"`
							ToolCalls        []struct {
								Index    *int   `json:"index"`
								ID       string `json:"id"`
								Type     string `json:"type"`
								Function struct {
									Name      string  `json:"name"`
									Arguments *string `json:"arguments"`
								} `json:"function"`
							} `json:"tool_calls"`
						} `json:"delta"`
						FinishReason *string `json:"finish_reason"`
					} `json:"choices"`
				}
				if err := json.Unmarshal(ch, &c); err != nil {
					t.Fatal(err)
				}
				d := c.Choices[0].Delta
				if d.Content != nil {
					sc.WriteString(*d.Content)
				}
				sr.WriteString(d.ReasoningContent)
				for _, tcd := range d.ToolCalls {
					if tcd.Index == nil {
						t.Fatalf("a tool call delta without index: %s", ch)
					}
					i := *tcd.Index
					switch {
					case i == len(calls):
						if tcd.ID == "" || tcd.Function.Name == "" || tcd.Type != "function" {
							t.Fatalf("the first delta of call %d lacks id, type or name: %s", i, ch)
						}
						calls = append(calls, acc{id: tcd.ID, name: tcd.Function.Name})
					case i == len(calls)-1:
						if tcd.ID != "" || tcd.Function.Name != "" {
							t.Fatalf("a later delta of call %d repeats id or name: %s", i, ch)
						}
					default:
						t.Fatalf("call index %d out of order: %s", i, ch)
					}
					if tcd.Function.Arguments != nil {
						calls[i].args += *tcd.Function.Arguments
					}
				}
				if f := c.Choices[0].FinishReason; f != nil {
					finish = *f
				}
			}
			if sc.String() != tc.content || sr.String() != tc.reasoning {
				t.Errorf("streamed content %q, reasoning %q; want %q, %q", sc.String(), sr.String(), tc.content, tc.reasoning)
			}
			if len(calls) != len(tc.calls) {
				t.Fatalf("streamed calls %+v, want %v", calls, tc.calls)
			}
			for i, c := range calls {
				if c.name != tc.calls[i][0] || c.args != tc.calls[i][1] {
					t.Errorf("streamed call %d = %+v, want %v", i, c, tc.calls[i])
				}
			}
			if finish != wantFinish {
				t.Errorf("streamed finish_reason %q, want %q", finish, wantFinish)
			}
		})
	}
}

func TestToolCallsOllama(t *testing.T) {
	ts := toolServer(t, toolCases)
	for _, tc := range toolCases {
		t.Run(tc.name, func(t *testing.T) {
			type ocall struct {
				ID       string `json:"id"`
				Function struct {
					Index     int             `json:"index"`
					Name      string          `json:"name"`
					Arguments json.RawMessage `json:"arguments"`
				} `json:"function"`
			}
			type omsg struct {
				Content   string  `json:"content"`
				Thinking  string  `json:"thinking"`
				ToolCalls []ocall `json:"tool_calls"`
			}
			check := func(how string, m omsg) {
				t.Helper()
				if m.Content != tc.content || m.Thinking != tc.reasoning {
					t.Errorf("%s: content %q, thinking %q; want %q, %q", how, m.Content, m.Thinking, tc.content, tc.reasoning)
				}
				if len(m.ToolCalls) != len(tc.calls) {
					t.Fatalf("%s: tool calls %+v, want %v", how, m.ToolCalls, tc.calls)
				}
				for i, c := range m.ToolCalls {
					var got, want any
					json.Unmarshal(c.Function.Arguments, &got)
					json.Unmarshal([]byte(tc.calls[i][1]), &want)
					gb, _ := json.Marshal(got)
					wb, _ := json.Marshal(want)
					if c.Function.Name != tc.calls[i][0] || !bytes.Equal(gb, wb) || c.Function.Index != i {
						t.Errorf("%s: call %d = %+v, want %v", how, i, c, tc.calls[i])
					}
				}
			}
			r := ts.ok(t, "/api/chat", chatBody(tc, "/api/", false, nil))
			var resp struct {
				Message omsg `json:"message"`
			}
			json.Unmarshal(r.body, &resp)
			check("whole", resp.Message)

			var all omsg
			for _, line := range ndjsonLines(t, ts, chatBody(tc, "/api/", true, nil)) {
				var c struct {
					Message omsg `json:"message"`
				}
				json.Unmarshal(line, &c)
				all.Content += c.Message.Content
				all.Thinking += c.Message.Thinking
				all.ToolCalls = append(all.ToolCalls, c.Message.ToolCalls...)
			}
			check("streamed", all)
		})
	}
}

// sseChunks posts a streaming OpenAI request and returns its data
// payloads before [DONE].
func sseChunks(t *testing.T, ts *testServer, body any) [][]byte {
	t.Helper()
	r := ts.ok(t, "/v1/chat/completions", body)
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		p, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if p == "[DONE]" {
			return out
		}
		out = append(out, []byte(p))
	}
	t.Fatalf("no [DONE] in %s", r.body)
	return nil
}

// ndjsonLines posts a streaming Ollama chat request and returns its lines.
func ndjsonLines(t *testing.T, ts *testServer, body any) [][]byte {
	t.Helper()
	r := ts.ok(t, "/api/chat", body)
	var out [][]byte
	for _, l := range bytes.Split(r.body, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// ok posts body to path and fails the test unless the answer is 200.
func (ts *testServer) ok(t *testing.T, path string, body any) response {
	t.Helper()
	r := ts.do(t, "POST", path, body)
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, r.status, r.body)
	}
	return r
}

// A random-weight model with tool_choice "required" writes calls whose
// arguments validate, in every format: the grammar holds it to the
// format and to the parameters, and the parser reads the calls back.
func TestRequiredToolCallsRandomModel(t *testing.T) {
	dir := t.TempDir()
	random := testdata.Path(t, "gguf", "llama-2-tiny-random.gguf")
	formats := map[string]string{
		"hermes":      "Qwen-Qwen2.5-7B-Instruct.jinja",
		"qwen3":       "Qwen-Qwen3-0.6B.jinja",
		"llama3":      "meta-llama-Llama-3.1-8B-Instruct.jinja",
		"mistral":     "mistralai-Mistral-Nemo-Instruct-2407.jinja",
		"mistral-v11": "Mistral-Small-3.2-24B-Instruct-2506.jinja",
		"qwen3-coder": "../captemplates/Qwen3-Coder.jinja",
		"glm":         "../captemplates/GLM-4.6.jinja",
		"kimi-k2":     "../captemplates/moonshotai-Kimi-K2.jinja",
		"command-r7b": "../captemplates/CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja",
		"granite":     "../captemplates/ibm-granite-granite-3.3-2B-Instruct.jinja",
		"gpt-oss":     "../captemplates/openai-gpt-oss-120b.jinja",
		"lfm2":        "../captemplates/LFM2-8B-A1B.jinja",
		"generic":     "../captemplates/meetkai-functionary-medium-v3.2.jinja",
		"deepseek-v3": "../captemplates/deepseek-ai-DeepSeek-V3.1.jinja",
		"deepseek-r1": "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja",
		"phi4":        "../shapes/phi4-mini-shape.jinja",
		"exaone4":     "../shapes/exaone4-shape.jinja",
	}
	for name, tmpl := range formats {
		withTemplate(t, random, filepath.Join(dir, name+".gguf"), readTemplate(t, tmpl))
	}
	ts := start(t, Config{ModelsDir: dir, Parallel: 2})
	// Bounded tools, so that random weights finish: strings of a few
	// characters, and no free-form object.
	bounded := []map[string]any{
		{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{
			"type": "object", "properties": map[string]any{
				"city": map[string]any{"type": "string", "maxLength": 4},
				"unit": map[string]any{"enum": []string{"섭씨", "F"}},
				"days": map[string]any{"type": "integer", "minimum": 1, "maximum": 7}},
			"required": []string{"city", "unit"}, "additionalProperties": false}}},
		{"type": "function", "function": map[string]any{"name": "get_time", "parameters": map[string]any{
			"type": "object", "properties": map[string]any{}, "additionalProperties": false}}},
	}
	params := map[string]string{}
	for _, tool := range bounded {
		fn := tool["function"].(map[string]any)
		b, _ := json.Marshal(fn["parameters"])
		params[fn["name"].(string)] = string(b)
	}
	finished := 0
	for name := range formats {
		mine := 0
		for seed := range 8 {
			choice := any("required")
			if seed%2 == 1 {
				choice = map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}
			}
			body := map[string]any{"model": name, "seed": seed, "temperature": 1.0, "max_tokens": 300,
				"messages":    []map[string]any{{"role": "user", "content": "서울 날씨?"}},
				"tools":       []any{bounded[0], bounded[1]},
				"tool_choice": choice, "parallel_tool_calls": seed%3 != 0}
			r := ts.ok(t, "/v1/chat/completions", body)
			resp := decodeReply(t, r)
			ch := resp.Choices[0]
			if ch.FinishReason == "length" {
				t.Logf("%s seed %d: cut short after %d calls", name, seed, len(ch.Message.ToolCalls))
				continue // cut short: nothing to check
			}
			finished++
			mine++
			if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) == 0 {
				t.Fatalf("%s seed %d: finish %q, calls %+v, content %v", name, seed, ch.FinishReason, ch.Message.ToolCalls, ch.Message.Content)
			}
			if seed%3 == 0 && len(ch.Message.ToolCalls) != 1 {
				t.Errorf("%s seed %d: %d calls with parallel_tool_calls false", name, seed, len(ch.Message.ToolCalls))
			}
			for _, c := range ch.Message.ToolCalls {
				p, ok := params[c.Function.Name]
				if !ok || seed%2 == 1 && c.Function.Name != "get_weather" {
					t.Fatalf("%s seed %d: call of %q", name, seed, c.Function.Name)
				}
				if msg := schematest.Check(schematest.Compile(t, p), c.Function.Arguments); msg != "" {
					t.Errorf("%s seed %d: arguments %q of %s: %s", name, seed, c.Function.Arguments, c.Function.Name, msg)
				}
			}
		}
		if mine == 0 {
			t.Errorf("%s: no output finished within 300 tokens: nothing checked", name)
		}
	}
	t.Logf("%d of %d outputs finished and were checked", finished, 8*len(formats))
}

func TestToolRequestErrors(t *testing.T) {
	ts := toolServer(t, toolCases[:1])
	model := modelName(toolCases[0].name)
	call := map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city": "Seoul"}`}}
	for _, tc := range []struct {
		name  string
		path  string
		extra map[string]any
		want  string
	}{
		{"duplicate names", "/v1/chat/completions", map[string]any{"tools": []any{weatherTool, weatherTool}}, `two tools are named "get_weather"`},
		{"bad parameters", "/v1/chat/completions", map[string]any{"tools": []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "f", "parameters": map[string]any{"type": "object", "not": map[string]any{}}}}}}, `the parameters of tool "f"`},
		{"unknown named choice", "/v1/chat/completions", map[string]any{"tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "nope"}}}, `"nope", which is not among the tools`},
		{"bad choice", "/v1/chat/completions", map[string]any{"tool_choice": "sometimes"}, `tool_choice "sometimes"`},
		{"required without tools", "/v1/chat/completions", map[string]any{"tools": nil, "tool_choice": "required"}, `needs tools`},
		{"unknown tool result", "/v1/chat/completions", map[string]any{"messages": []any{
			map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "assistant", "content": "", "tool_calls": []any{call}},
			map[string]any{"role": "tool", "tool_call_id": "call_2", "content": "sunny"}}}, `tool call "call_2", which no earlier assistant message made`},
		{"format and tools", "/v1/chat/completions", map[string]any{"response_format": map[string]any{"type": "json_object"}}, `"response_format" and tools both constrain`},
		{"think without thinking", "/api/chat", map[string]any{"think": true}, `does not support thinking`},
		{"bad think", "/api/chat", map[string]any{"think": "very"}, `think must be`},
		{"unknown tool name (ollama)", "/api/chat", map[string]any{"messages": []any{
			map[string]any{"role": "user", "content": "hi"},
			map[string]any{"role": "tool", "tool_name": "get_moon", "content": "full"}}}, `tool "get_moon", which no earlier assistant message called`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := chatBody(toolCases[0], tc.path, false, tc.extra)
			body["model"] = model
			for k, v := range tc.extra {
				if v == nil {
					delete(body, k)
				}
			}
			r := ts.do(t, "POST", tc.path, body)
			var e struct {
				Error json.RawMessage `json:"error"`
			}
			json.Unmarshal(r.body, &e)
			var msg struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(e.Error, &msg) != nil {
				json.Unmarshal(e.Error, &msg.Message) // Ollama's error is a string
			}
			if r.status != http.StatusBadRequest || !strings.Contains(msg.Message, tc.want) {
				t.Fatalf("status %d %s, want 400 with %q", r.status, r.body, tc.want)
			}
		})
	}
	// The model stays loaded and keeps serving.
	ts.ok(t, "/v1/chat/completions", chatBody(toolCases[0], "/v1/", false, nil))
}

// tool_choice "none" renders without tools and parses nothing: the call
// text is the answer.
func TestToolChoiceNone(t *testing.T) {
	ts := toolServer(t, toolCases[:1])
	r := ts.ok(t, "/v1/chat/completions", chatBody(toolCases[0], "/v1/", false, map[string]any{"tool_choice": "none"}))
	var resp struct {
		Choices []struct {
			Message struct {
				Content   string `json:"content"`
				ToolCalls []any  `json:"tool_calls"`
			} `json:"message"`
		} `json:"choices"`
	}
	json.Unmarshal(r.body, &resp)
	if m := resp.Choices[0].Message; len(m.ToolCalls) != 0 || m.Content != toolCases[0].script {
		t.Fatalf("message %+v, want the script as content", m)
	}
}

// chatReply is a whole chat completion as a client reads it.
type chatReply struct {
	Choices []struct {
		Message struct {
			Content          *string `json:"content"`
			ReasoningContent string  `json:"reasoning_content"`
			Reasoning        string  `json:"reasoning"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

func decodeReply(t *testing.T, r response) chatReply {
	t.Helper()
	var c chatReply
	if err := json.Unmarshal(r.body, &c); err != nil || len(c.Choices) != 1 {
		t.Fatalf("not a chat completion (%v): %s", err, r.body)
	}
	return c
}

// Arguments go to each template the way it writes them: Functionary's
// joins them as text, so it gets the JSON string; Qwen's writes them with
// tojson, so it gets the object. Either way the prompt holds the JSON.
func TestAdaptMessagesArguments(t *testing.T) {
	msgs := []chat.Message{
		{Role: "user", Content: "날씨?"},
		{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: "call_1", Type: "function", Function: chat.ToolCallFunction{Name: "get_weather", Arguments: json.RawMessage(`"{\"city\": \"서울\"}"`)}}}},
		{Role: "tool", ToolCallID: "call_1", Content: "맑음"},
	}
	for _, tc := range []struct{ file, want, not string }{
		{"../chat/testdata/captemplates/meetkai-functionary-medium-v3.2.jinja", `{"city": "서울"}`, `'city'`},
		{"../chat/testdata/templates/Qwen-Qwen2.5-7B-Instruct.jinja", `"arguments": {"city": "서울"}`, `"{\"city\"`},
	} {
		src, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := chat.Parse(string(src))
		if err != nil {
			t.Fatal(err)
		}
		out, err := tmpl.Render(chat.Input{Messages: adaptMessages(msgs, tmpl.Caps()), AddGenerationPrompt: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
			t.Errorf("%s: prompt lacks %s or has %s:\n%s", filepath.Base(tc.file), tc.want, tc.not, out)
		}
	}
	if string(msgs[1].ToolCalls[0].Function.Arguments) != `"{\"city\": \"서울\"}"` {
		t.Error("adaptMessages changed its input")
	}
}

// The real Go clients read calls and reasoning, whole and streamed.
func TestToolCallsGoClients(t *testing.T) {
	tc := toolCases[1] // qwen3: reasoning, then a call
	ts := toolServer(t, []toolCase{tc})
	ctx := context.Background()
	model := modelName(tc.name)
	params, _ := json.Marshal(weatherTool["function"].(map[string]any)["parameters"])

	oc := openaiClient(ts, "unused")
	req := openai.ChatCompletionRequest{Model: model,
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "서울 날씨?"}},
		Tools:    []openai.Tool{{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{Name: "get_weather", Parameters: json.RawMessage(params)}}}}
	resp, err := oc.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Choices[0].Message
	if resp.Choices[0].FinishReason != openai.FinishReasonToolCalls || m.ReasoningContent != tc.reasoning ||
		len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != tc.calls[0][0] || m.ToolCalls[0].Function.Arguments != tc.calls[0][1] {
		t.Fatalf("go-openai: %+v", resp.Choices[0])
	}
	stream, err := oc.CreateChatCompletionStream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var reasoning strings.Builder
	var calls []openai.ToolCall
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk.Choices) == 0 {
			continue
		}
		d := chunk.Choices[0].Delta
		reasoning.WriteString(d.ReasoningContent)
		for _, c := range d.ToolCalls {
			if *c.Index == len(calls) {
				calls = append(calls, c)
			} else {
				calls[*c.Index].Function.Arguments += c.Function.Arguments
			}
		}
	}
	stream.Close()
	if reasoning.String() != tc.reasoning || len(calls) != 1 || calls[0].ID == "" || calls[0].Function.Name != tc.calls[0][0] || calls[0].Function.Arguments != tc.calls[0][1] {
		t.Fatalf("go-openai stream: reasoning %q, calls %+v", reasoning.String(), calls)
	}

	ol := ollamaClient(t, ts, "")
	var tool ollama.Tool
	raw, _ := json.Marshal(weatherTool)
	if err := json.Unmarshal(raw, &tool); err != nil {
		t.Fatal(err)
	}
	for _, streamed := range []bool{false, true} {
		var got ollama.Message
		err := ol.Chat(ctx, &ollama.ChatRequest{Model: model, Stream: &streamed, Tools: ollama.Tools{tool},
			Messages: []ollama.Message{{Role: "user", Content: "서울 날씨?"}}}, func(r ollama.ChatResponse) error {
			got.Content += r.Message.Content
			got.Thinking += r.Message.Thinking
			got.ToolCalls = append(got.ToolCalls, r.Message.ToolCalls...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Thinking != tc.reasoning || len(got.ToolCalls) != 1 || got.ToolCalls[0].Function.Name != tc.calls[0][0] {
			t.Fatalf("ollama (stream %v): %+v", streamed, got)
		}
		if v, _ := got.ToolCalls[0].Function.Arguments.Get("city"); v != "Seoul" {
			t.Fatalf("ollama (stream %v): arguments %v", streamed, got.ToolCalls[0].Function.Arguments)
		}
	}
}

func TestWithInstruction(t *testing.T) {
	user := chat.Message{Role: "user", Content: "hi"}
	sys := chat.Message{Role: "system", Content: "Be brief."}
	for _, tc := range []struct {
		in     []chat.Message
		system bool
		want   []chat.Message
	}{
		{[]chat.Message{sys, user}, true, []chat.Message{{Role: "system", Content: "Be brief.\n\nX"}, user}},
		{[]chat.Message{user}, true, []chat.Message{{Role: "system", Content: "X"}, user}},
		{[]chat.Message{user}, false, []chat.Message{{Role: "user", Content: "X\n\nhi"}}},
	} {
		got := withInstruction(tc.in, "X", tc.system)
		if len(got) != len(tc.want) {
			t.Fatalf("%+v: got %+v", tc.in, got)
		}
		for i := range got {
			if got[i].Role != tc.want[i].Role || got[i].Content != tc.want[i].Content {
				t.Errorf("%+v: got %+v, want %+v", tc.in, got, tc.want)
			}
		}
	}
	if user.Content != "hi" || sys.Content != "Be brief." {
		t.Error("withInstruction changed its input")
	}
}

// /api/show lists what the template lets a model do.
func TestShowCapabilities(t *testing.T) {
	cases := []toolCase{toolCases[1], {name: "plain-llama", template: "meta-llama-Llama-3.2-3B-Instruct.jinja", script: "hi"},
		{name: "gemma", template: "google-gemma-2-2b-it.jinja", script: "hi"}}
	ts := toolServer(t, cases)
	for name, want := range map[string][]string{
		modelName(cases[0].name): {"completion", "tools", "thinking"},
		"plain-llama":            {"completion", "tools"},
		"gemma":                  {"completion"},
	} {
		var resp struct {
			Capabilities []string `json:"capabilities"`
		}
		json.Unmarshal(ts.ok(t, "/api/show", map[string]any{"model": name}).body, &resp)
		if strings.Join(resp.Capabilities, " ") != strings.Join(want, " ") {
			t.Errorf("%s: capabilities %v, want %v", name, resp.Capabilities, want)
		}
	}
}

// A response format constrains the answer after the reasoning section,
// not the reasoning (ollama#10929).
func TestFormatAfterThinking(t *testing.T) {
	tc := toolCase{name: "thinker", template: "Qwen-Qwen3-0.6B.jinja", script: "<think>\n먼저 생각.\n</think>\n\n{\"a\": 1}", noTools: true}
	ts := toolServer(t, []toolCase{tc})
	r := decodeReply(t, ts.ok(t, "/v1/chat/completions", chatBody(tc, "/v1/", false, map[string]any{"response_format": map[string]any{"type": "json_object"}})))
	m := r.Choices[0].Message
	if m.Content == nil || *m.Content != `{"a": 1}` || m.ReasoningContent != "\n먼저 생각.\n" {
		t.Errorf("openai: content %v, reasoning %q", m.Content, m.ReasoningContent)
	}
	var o struct {
		Message struct{ Content, Thinking string }
	}
	json.Unmarshal(ts.ok(t, "/api/chat", chatBody(tc, "/api/", false, map[string]any{"format": "json", "think": true})).body, &o)
	if o.Message.Content != `{"a": 1}` || o.Message.Thinking != "\n먼저 생각.\n" {
		t.Errorf("ollama: %+v", o.Message)
	}
}

// Ollama's /api/generate splits the thinking off too.
func TestGenerateThinking(t *testing.T) {
	tc := toolCase{name: "thinker", template: "Qwen-Qwen3-0.6B.jinja", script: "<think>\n생각.\n</think>\n\n답.", noTools: true}
	ts := toolServer(t, []toolCase{tc})
	body := map[string]any{"model": "thinker", "prompt": "질문", "think": true, "stream": false}
	var o struct{ Response, Thinking string }
	json.Unmarshal(ts.ok(t, "/api/generate", body).body, &o)
	if o.Response != "답." || o.Thinking != "\n생각.\n" {
		t.Errorf("whole: %+v", o)
	}
	body["stream"] = true
	var resp, thinking string
	for _, l := range bytes.Split(ts.ok(t, "/api/generate", body).body, []byte("\n")) {
		var c struct{ Response, Thinking string }
		json.Unmarshal(l, &c)
		resp += c.Response
		thinking += c.Thinking
	}
	if resp != "답." || thinking != "\n생각.\n" {
		t.Errorf("streamed: %q, %q", resp, thinking)
	}
	body["raw"] = true
	if r := ts.do(t, "POST", "/api/generate", body); r.status != http.StatusBadRequest {
		t.Errorf("think with raw: %d %s", r.status, r.body)
	}
}
