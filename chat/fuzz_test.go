package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fuzzTemplates are rendered by FuzzRender.
var fuzzTemplates = []string{
	"testdata/templates/google-gemma-2-2b-it.jinja",
	"testdata/templates/Qwen-Qwen3-0.6B.jinja",
	"testdata/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
	"testdata/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja",
	"testdata/templates/google-gemma-3-4b-it.jinja",
}

// FuzzRender renders real templates with random conversations: Render may
// fail (raise_exception, a template's own checks) but must not panic, which
// Render reports as an internalError.
func FuzzRender(f *testing.F) {
	f.Add(uint8(0), "uuau", "Hello\x00Hi there\x00How are you?\x00", true, `{"a": 1}`)
	f.Add(uint8(1), "sutaut", "sys\x00<think>\nx\n</think>\n\ny\x00{{ x }}\x00", false, `"str"`)
	f.Add(uint8(2), "tuat", "\x00\x00  \n\x00", true, `[1, 2]`)
	f.Add(uint8(3), "ua", "[INST]\x00안녕", true, ``)
	f.Add(uint8(4), "sui", "a\x00b\x00c", true, `null`)
	tmpls := make([]*Template, len(fuzzTemplates))
	for i, p := range fuzzTemplates {
		tmpls[i] = mustParseFile(f, p)
	}
	f.Fuzz(func(t *testing.T, which uint8, roles, contents string, agp bool, args string) {
		tmpl := tmpls[int(which)%len(tmpls)]
		parts := strings.Split(contents, "\x00")
		var msgs []Message
		for i := 0; i < len(roles) && i < 16; i++ {
			m := Message{Content: parts[i%len(parts)]}
			switch roles[i] % 6 {
			case 0:
				m.Role = "system"
			case 1:
				m.Role = "user"
			case 2:
				m.Role = "assistant"
			case 3:
				m.Role = "assistant"
				m.ToolCalls = []ToolCall{{ID: "call12345", Function: ToolCallFunction{Name: m.Content, Arguments: json.RawMessage(args)}}}
			case 4:
				m.Role = "tool"
				m.ToolCallID = "call12345"
			case 5:
				m.Role = "user"
				m.Parts = []ContentPart{{Type: "image"}, {Type: "text", Text: m.Content}}
			}
			msgs = append(msgs, m)
		}
		in := Input{Messages: msgs, AddGenerationPrompt: agp, BOSToken: "<s>", EOSToken: "</s>", Now: fixtureNow}
		if roles != "" && roles[0]%2 == 0 {
			in.Tools = []any{Object{{"type", "function"}, {"function", Object{{"name", "f"}, {"description", contents}}}}}
			in.Kwargs = map[string]any{"enable_thinking": agp}
		}
		_, err := tmpl.Render(in)
		var ie *internalError
		if errors.As(err, &ie) {
			t.Fatalf("%s: %v", fuzzTemplates[int(which)%len(tmpls)], err)
		}
	})
}

// FuzzParse compiles random templates: Parse and Render may fail but must
// not panic (engine panics come back as errors).
func FuzzParse(f *testing.F) {
	f.Add("{% for m in messages %}{{ m.content | trim }}{% endfor %}")
	f.Add("{%- if x -%}\n  {{ 'a\\x41' ~ y | tojson(indent=2) }}{%+ endif +%}{# c #}{% raw %}{{{% endraw %}")
	f.Add("{{ (1 ] }}")
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Parse(src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "chat: template") {
				t.Fatalf("error %q lacks the prefix", err)
			}
			return
		}
		_, _ = tmpl.Render(Input{Messages: []Message{{Role: "user", Content: "hi"}}})
	})
}
