package server

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/tokenizer"
	"github.com/ondo-ai/ondo/toolcall"
)

// Tools, tool choice and reasoning for the chat endpoints: what the
// request offers is checked and rendered into the prompt, and the output
// is split by the model family's toolcall format.

// toolDef is one offered function.
type toolDef struct {
	Name       string
	Parameters json.RawMessage // a JSON Schema; {} when none
}

// parseTools reads tools in the OpenAI shape (Ollama's is the same):
// {"type": "function", "function": {"name", "description", "parameters"}}.
// Each function's parameters must be a schema ondo can enforce.
func parseTools(raw []json.RawMessage) ([]toolDef, error) {
	var defs []toolDef
	seen := map[string]bool{}
	for i, r := range raw {
		var t struct {
			Type     string `json:"type"`
			Function *struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		if err := json.Unmarshal(r, &t); err != nil || t.Function == nil {
			return nil, badRequest("tools", "tools[%d] must be {\"type\": \"function\", \"function\": {\"name\": …, \"parameters\": {…}}}", i)
		}
		if t.Type != "" && t.Type != "function" {
			return nil, badRequest("tools", "tools[%d] has type %q: only \"function\" tools are supported", i, t.Type)
		}
		name := t.Function.Name
		if name == "" {
			return nil, badRequest("tools", "tools[%d] has no function name", i)
		}
		if seen[name] {
			return nil, badRequest("tools", "two tools are named %q: tool names must be unique", name)
		}
		seen[name] = true
		params := t.Function.Parameters
		if p := strings.TrimSpace(string(params)); p == "" || p == "null" {
			params = json.RawMessage(`{}`)
		}
		if err := toolcall.CheckParameters(params); err != nil {
			return nil, badRequest("tools", "the parameters of tool %q: %v", name, err)
		}
		defs = append(defs, toolDef{Name: name, Parameters: params})
	}
	return defs, nil
}

// toolChoice is OpenAI's tool_choice: "auto" (the default with tools),
// "none", "required", or one named function.
type toolChoice struct {
	mode string // "auto", "none", "required" or "function"
	name string
}

func parseToolChoice(raw json.RawMessage, tools []toolDef) (toolChoice, error) {
	c := toolChoice{mode: "auto"}
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return c, nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch mode {
		case "auto", "none", "required":
			c.mode = mode
		default:
			return c, badRequest("tool_choice", "tool_choice %q is not one of \"auto\", \"none\" and \"required\" (or {\"type\": \"function\", \"function\": {\"name\": …}})", mode)
		}
	} else {
		var named struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &named); err != nil || named.Function.Name == "" {
			return c, badRequest("tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}")
		}
		c.mode, c.name = "function", named.Function.Name
	}
	if c.mode == "required" || c.mode == "function" {
		if len(tools) == 0 {
			return c, badRequest("tool_choice", "tool_choice %q needs tools", c.mode)
		}
	}
	if c.mode == "function" {
		found := false
		for _, t := range tools {
			found = found || t.Name == c.name
		}
		if !found {
			return c, badRequest("tool_choice", "tool_choice names function %q, which is not among the tools", c.name)
		}
	}
	return c, nil
}

// checkToolHistory refuses a tool result that answers no call made
// before it: a tool_call_id no earlier assistant call has, or (Ollama's
// tool_name) a name no earlier call used.
func checkToolHistory(msgs []chat.Message) error {
	ids, names := map[string]bool{}, map[string]bool{}
	for i, m := range msgs {
		for _, tc := range m.ToolCalls {
			if tc.ID != "" {
				ids[tc.ID] = true
			}
			names[tc.Function.Name] = true
		}
		if m.Role != "tool" {
			continue
		}
		if m.ToolCallID != "" && !ids[m.ToolCallID] {
			return badRequest("messages", "messages[%d] answers tool call %q, which no earlier assistant message made", i, m.ToolCallID)
		}
		if m.ToolCallID == "" && m.Name != "" && !names[m.Name] {
			return badRequest("messages", "messages[%d] answers a call of tool %q, which no earlier assistant message called", i, m.Name)
		}
	}
	return nil
}

// thinkSetting is whether a request asks for reasoning: unset, on, off,
// or an effort ("low", "medium", "high").
type thinkSetting struct {
	set    bool
	on     bool
	effort string
}

// parseOllamaThink reads Ollama's think: a boolean or "low", "medium",
// "high".
func parseOllamaThink(raw json.RawMessage) (thinkSetting, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return thinkSetting{}, nil
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return thinkSetting{set: true, on: b}, nil
	}
	var e string
	if json.Unmarshal(raw, &e) == nil {
		switch e {
		case "low", "medium", "high":
			return thinkSetting{set: true, on: true, effort: e}, nil
		}
	}
	return thinkSetting{}, badRequest("think", "think must be true, false, \"low\", \"medium\" or \"high\"")
}

// chatPlan is a chat request's prompt and how its output is split.
type chatPlan struct {
	prompt string
	spec   toolcall.Spec
	opt    toolcall.Options
	tools  []toolDef
	choice toolChoice
}

// planChat checks the tools, tool choice and reasoning settings of a chat
// request and renders its prompt with tmpl (the model's when nil).
func (m *runner) planChat(tmpl *chat.Template, msgs []chat.Message, rawTools []json.RawMessage, rawChoice json.RawMessage, think thinkSetting, kwargs map[string]any) (*chatPlan, error) {
	tools, err := parseTools(rawTools)
	if err != nil {
		return nil, err
	}
	choice, err := parseToolChoice(rawChoice, tools)
	if err != nil {
		return nil, err
	}
	if err := checkToolHistory(msgs); err != nil {
		return nil, err
	}
	if tmpl == nil {
		tmpl = m.tmpl
	}
	caps := tmpl.Caps()
	msgs = adaptMessages(msgs, caps)
	p := &chatPlan{spec: toolcall.Detect(tmpl.Source()), tools: tools, choice: choice}
	if think.set {
		if think.on && !caps.Thinking {
			return nil, badRequest("think", "model %q does not support thinking: its chat template has no reasoning section", m.name)
		}
		kw := map[string]any{}
		for k, v := range kwargs {
			kw[k] = v
		}
		if caps.ThinkingKwarg != "" {
			kw[caps.ThinkingKwarg] = think.on
		}
		if think.effort != "" {
			kw["reasoning_effort"] = think.effort
		}
		kwargs = kw
	}
	calling := len(tools) > 0 && choice.mode != "none"
	if calling && !caps.Tools && p.spec.Format == toolcall.None {
		return nil, badRequest("tools", "model %q does not support tools: its chat template neither writes them into the prompt nor calls them in a format ondo knows", m.name)
	}
	var offered []any
	switch {
	case !calling:
	case !caps.Tools:
		// The template calls tools in a known format but does not list
		// them (DeepSeek-R1's, V3.1's): the conversation says which.
		msgs = withInstruction(msgs, p.spec.ToolsInstruction(rawTools), caps.SystemRole)
	case p.spec.Format == toolcall.None:
		// A template that takes tools in no format ondo knows: the
		// generic JSON format, which the model is told about.
		p.spec.Format = toolcall.Generic
		msgs = withInstruction(msgs, toolcall.GenericInstruction, caps.SystemRole)
		fallthrough
	default:
		for _, t := range rawTools {
			offered = append(offered, t)
		}
	}
	if p.prompt, err = m.renderChat(tmpl, msgs, offered, kwargs); err != nil {
		return nil, err
	}
	p.opt.Tools = calling
	for _, t := range tools {
		p.opt.Schemas = append(p.opt.Schemas, toolcall.Tool{Name: t.Name, Parameters: t.Parameters})
	}
	p.opt.Reasoning = p.spec.Reasons() && !(think.set && !think.on)
	if p.opt.Reasoning {
		p.opt.InReasoning = p.spec.ThinkOpen != "" && strings.HasSuffix(strings.TrimRight(p.prompt, " \t\r\n"), p.spec.ThinkOpen)
	}
	return p, nil
}

// special reports whether the output must show control tokens: the
// markers of calls and reasoning are often such tokens.
func (p *chatPlan) special() bool { return p.opt.Tools || p.opt.Reasoning }

// newParser starts splitting one output.
func (p *chatPlan) newParser() *toolcall.Parser { return p.spec.NewParser(p.opt) }

// ollamaCall is a parsed call in Ollama's shape.
func ollamaCall(c toolcall.Call, index int) (ollamaToolCall, error) {
	var tc ollamaToolCall
	args, err := toolArgsObject(c)
	if err != nil {
		return tc, err
	}
	tc.ID = c.ID
	tc.Function.Index, tc.Function.Name, tc.Function.Arguments = index, c.Name, args
	return tc, nil
}

// toolArgsObject is a call's arguments as the JSON object Ollama sends,
// or an error naming the call when the model's arguments are not one.
func toolArgsObject(c toolcall.Call) (json.RawMessage, error) {
	a := strings.TrimSpace(c.Arguments)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(a), &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("the arguments of call %q are not a JSON object: %q", c.Name, a)
	}
	return json.RawMessage(a), nil
}

// chatConstraint is the constraint of a chat request: the tools' call
// grammar when tools may be called, else the request's own constraint
// (con, nil for none) with the template's reasoning section allowed
// before it, so that a response format constrains the answer only.
func (s *Server) chatConstraint(m *runner, p *chatPlan, con *constraint) (*constraint, error) {
	gopt := toolcall.GrammarOptions{Reasoning: p.opt.Reasoning, InReasoning: p.opt.InReasoning, Token: m.markerToken, MaxCalls: p.opt.MaxCalls}
	if p.opt.Tools {
		if con != nil {
			return nil, badRequest(con.field, "%q and tools both constrain the output: give tool_choice \"none\" to get a formatted answer, or leave %q out", con.field, con.field)
		}
		for _, t := range p.tools {
			if p.choice.mode != "function" || t.Name == p.choice.name {
				gopt.Tools = append(gopt.Tools, toolcall.Tool{Name: t.Name, Parameters: t.Parameters})
			}
		}
		gopt.Lazy = p.choice.mode == "auto"
		src, err := p.spec.Grammar(gopt)
		if err != nil {
			return nil, badRequest("tools", "%v", err)
		}
		g, err := s.grammars.get(src)
		if err != nil {
			return nil, fmt.Errorf("the grammar of the tools' calls does not compile (a bug in ondo): %w", err)
		}
		return &constraint{field: "tools", g: g}, nil
	}
	if con == nil || !p.opt.Reasoning {
		return con, nil
	}
	g, err := s.grammars.get(p.spec.Wrap(con.g.Source(), gopt))
	if err != nil {
		return nil, fmt.Errorf("the constraint with a reasoning section before it does not compile (a bug in ondo): %w", err)
	}
	return &constraint{field: con.field, g: g}, nil
}

// markerToken returns the vocabulary's one token for a marker's text.
func (r *runner) markerToken(text string) (int32, bool) {
	ids := r.tok.Encode(text, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off})
	if len(ids) == 1 && r.tok.Piece(ids[0]) == text {
		return ids[0], true
	}
	return 0, false
}

// adaptMessages writes the conversation the way the template needs it:
// tool-call arguments as an object, or as a string of JSON for templates
// that join them as text (caps.StringArguments), and content as a list of
// text parts for templates that read only those (caps.TypedContent).
// msgs is not changed.
func adaptMessages(msgs []chat.Message, caps chat.Caps) []chat.Message {
	out := make([]chat.Message, len(msgs))
	copy(out, msgs)
	asString := caps.StringArguments && !caps.ObjectArguments
	for i := range out {
		m := &out[i]
		if len(m.ToolCalls) > 0 {
			m.ToolCalls = append([]chat.ToolCall(nil), m.ToolCalls...)
			for j := range m.ToolCalls {
				a := &m.ToolCalls[j].Function.Arguments
				var s string
				isString := len(*a) > 0 && (*a)[0] == '"' && json.Unmarshal(*a, &s) == nil
				switch {
				case asString && !isString:
					obj := strings.TrimSpace(string(*a))
					if obj == "" {
						obj = "{}"
					}
					b, _ := json.Marshal(obj)
					*a = b
				case !asString && isString && json.Valid([]byte(s)):
					*a = json.RawMessage(s)
				}
			}
		}
		if caps.TypedContent && m.Parts == nil {
			m.Parts = []chat.ContentPart{{Type: "text", Text: m.Content}}
		}
	}
	return out
}

// withInstruction adds an instruction to the conversation: to its system
// message, as a system message of its own, or (templates without a system
// role) before the first user message's text.
func withInstruction(msgs []chat.Message, text string, system bool) []chat.Message {
	out := make([]chat.Message, 0, len(msgs)+1)
	switch {
	case len(msgs) > 0 && msgs[0].Role == "system" && msgs[0].Parts == nil:
		first := msgs[0]
		first.Content += "\n\n" + text
		out = append(append(out, first), msgs[1:]...)
	case system:
		out = append(append(out, chat.Message{Role: "system", Content: text}), msgs...)
	default:
		out = append(out, msgs...)
		for i := range out {
			if out[i].Role == "user" && out[i].Parts == nil {
				out[i].Content = text + "\n\n" + out[i].Content
				break
			}
		}
	}
	return out
}
