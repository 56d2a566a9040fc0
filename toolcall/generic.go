package toolcall

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ondo-ai/ondo/grammar"
)

// The generic format, for templates that take tools but whose call format
// ondo does not know: the output is a JSON object, either
//
//	{"tool_calls": [{"name": …, "arguments": {…}}, …]}
//
// or {"response": "…"}, held to it by the grammar; the model is told so
// by GenericInstruction in the conversation. Its events come when the
// object is complete.

// GenericInstruction tells the model how to answer in the generic format.
const GenericInstruction = `Respond with a JSON object: to call tools, {"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}; otherwise {"response": "<your answer>"}.`

// generic reads the whole output once it is complete (at the end).
func (p *Parser) generic(final bool) bool {
	if !final {
		return false
	}
	text := strings.TrimSpace(string(p.buf))
	p.buf = p.buf[:0]
	var out struct {
		Response  *string `json:"response"`
		ToolCalls []struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"tool_calls"`
	}
	if json.Unmarshal([]byte(text), &out) != nil || out.Response == nil && out.ToolCalls == nil {
		p.emit(Content, text) // not the format: the text is the answer
		return false
	}
	if out.Response != nil {
		p.emit(Content, *out.Response)
	}
	for _, c := range out.ToolCalls {
		if !p.opt.Tools || p.opt.MaxCalls > 0 && p.calls >= p.opt.MaxCalls {
			break
		}
		p.calls++
		p.out = append(p.out, Event{Kind: CallStart, Index: p.calls - 1, ID: p.opt.NewID(), Name: c.Name})
		args := strings.TrimSpace(string(c.Arguments))
		if args == "" || args == "null" {
			args = "{}"
		}
		p.emit(CallArgs, args)
		p.out = append(p.out, Event{Kind: CallEnd, Index: p.calls - 1})
	}
	return false
}

// genericRoot is the generic format's output: calls, or (lazy) either.
func genericRoot(g *gbnf, call string, o GrammarOptions) string {
	list := fmt.Sprintf(`%s ( "," js %s )*`, call, call)
	if o.MaxCalls == 1 {
		list = call
	} else if o.MaxCalls > 1 {
		list = fmt.Sprintf(`%s ( "," js %s ){0,%d}`, call, call, o.MaxCalls-1)
	}
	calls := fmt.Sprintf(`"{" js %s js ":" js "[" %s "]" js "}"`, grammar.Quote(`"tool_calls"`), list)
	if !o.Lazy {
		return calls
	}
	g.add("g-str", jsonAnyString)
	return fmt.Sprintf(`( %s | "{" js %s js ":" js g-str js "}" )`, calls, grammar.Quote(`"response"`))
}

const jsonAnyString = `"\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""`

// Example writes one call of name with arguments args (JSON) in the
// format, as a model of the family writes it.
func (s Spec) Example(name, args string) string {
	jn := mustJSON(name)
	switch s.Format {
	case Hermes:
		return "<tool_call>\n{\"name\": " + jn + ", \"arguments\": " + args + "}\n</tool_call>"
	case Llama3:
		return "{\"name\": " + jn + ", \"parameters\": " + args + "}"
	case Mistral:
		return "[TOOL_CALLS][{\"name\": " + jn + ", \"arguments\": " + args + "}]"
	case MistralV11:
		return "[TOOL_CALLS]" + name + "[ARGS]" + args
	case DeepSeekR1:
		return "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>" + name + "\n```json\n" + args + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
	case DeepSeekV3:
		return "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + name + "<｜tool▁sep｜>" + args + "<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
	case Granite:
		return "<|tool_call|>[{\"name\": " + jn + ", \"arguments\": " + args + "}]"
	case Phi4:
		return "<|tool_call|>[{\"name\": " + jn + ", \"arguments\": " + args + "}]<|/tool_call|>"
	case CommandR7B:
		return "<|START_ACTION|>[\n    {\"tool_call_id\": \"0\", \"tool_name\": " + jn + ", \"parameters\": " + args + "}\n]<|END_ACTION|>"
	case KimiK2:
		return "<|tool_calls_section_begin|><|tool_call_begin|>functions." + name + ":0<|tool_call_argument_begin|>" + args + "<|tool_call_end|><|tool_calls_section_end|>"
	case Harmony:
		return "<|channel|>commentary to=functions." + name + " <|constrain|>json<|message|>" + args
	case Generic:
		return "{\"tool_calls\": [{\"name\": " + jn + ", \"arguments\": " + args + "}]}"
	case QwenXML:
		return "<tool_call>\n<function=" + name + ">\n<parameter=KEY>\nVALUE\n</parameter>\n</function>\n</tool_call>"
	case GLM:
		return "<tool_call>" + name + "\n<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n</tool_call>"
	case LFM2:
		return "<|tool_call_start|>[" + name + "(KEY=VALUE)]<|tool_call_end|>"
	case Gemma4:
		g, ok := gemmaNotation([]byte(args))
		if !ok {
			g = "{KEY:" + g4Quote + "VALUE" + g4Quote + "}"
		}
		return g4CallOpen + g4CallPrefix + name + g + g4CallClose
	}
	return ""
}

// ToolsInstruction tells a model whose template does not write tools
// (DeepSeek-R1's, DeepSeek-V3.1's) which tools it has and how to call
// them in its format; tools are the offered definitions as JSON.
func (s Spec) ToolsInstruction(tools []json.RawMessage) string {
	var b strings.Builder
	b.WriteString("You can call these tools:\n")
	for _, t := range tools {
		b.Write(t)
		b.WriteByte('\n')
	}
	if s.Format == Generic {
		b.WriteString(GenericInstruction)
	} else {
		b.WriteString("To call one, write: " + s.Example("NAME", "{ARGUMENTS}"))
	}
	return b.String()
}
