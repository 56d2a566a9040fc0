package chat

import (
	"encoding/json"
	"strings"
	"time"
)

// Caps are what a chat template can do, found by rendering probe
// conversations and comparing outputs (as llama.cpp's minja does), not by
// matching template text.
//
// Every field describes what Render does with this package's Input and
// Message: for example a template that writes tool calls only for an
// assistant message whose content is None has ToolCalls false, because a
// Message always has a string (or list) content.
type Caps struct {
	// Tools: the template renders the tools it is given (a probe tool's
	// name appears in the output).
	Tools bool
	// ToolCalls: it renders an assistant message's tool_calls (the call's
	// function name appears in the output).
	ToolCalls bool
	// ToolResponses: it renders the content of a role "tool" message that
	// answers a tool call.
	ToolResponses bool
	// StringArguments: tool call arguments must be passed as a string
	// holding JSON. With an object the template fails or writes it
	// unusably (Python's repr, or JSON of the JSON text), while a string
	// renders the JSON text.
	StringArguments bool
	// ObjectArguments: arguments passed as an object are written usably
	// (as JSON, or key by key as in Qwen3-Coder's and GLM's XML), the usual
	// case and the convention of ToolCallFunction.Arguments.
	ObjectArguments bool
	// SystemRole: a system message's content appears in the output.
	SystemRole bool
	// TypedContent: the template needs content as a list of {type: "text",
	// text} parts (Message.Parts): a plain string content does not appear
	// but list content does.
	TypedContent bool
	// Thinking: the template handles reasoning: it renders a message's
	// reasoning_content, its prompt holds a <think> or [THINK] section, or
	// it reacts to a thinking kwarg (see ThinkingKwarg) or to
	// reasoning_effort (gpt-oss).
	Thinking bool
	// ThinkingKwarg is the boolean kwarg (Input.Kwargs) that switches
	// thinking on and off: the one of enable_thinking, thinking, reasoning
	// and enable_reasoning whose true and false values give different
	// prompts; when several do (DeepSeek-V3.1 reads thinking, or else
	// enable_thinking), the one that wins when they disagree. "" if none.
	ThinkingKwarg string
	// ThinkOpenInPrompt: with thinking on (ThinkingKwarg true, if any), the
	// generation prompt ends inside an opened reasoning block (with <think>,
	// [THINK], <seed:think> or <|START_THINKING|>, as DeepSeek-R1 distills
	// do), so the model's output starts inside its reasoning.
	ThinkOpenInPrompt bool
}

// Probe strings: distinctive enough not to occur in any template's own text.
const (
	probeSys       = "ondo_probe_sys"
	probeUser      = "ondo_probe_user"
	probeUser2     = "ondo_probe_user2"
	probeAnswer    = "ondo_probe_answer"
	probeTool      = "ondo_probe_tool" // the declared tool
	probeFn        = "ondo_probe_fn"   // the function called (different, so that a tool list does not count as a call)
	probeArg       = "ondo_probe_arg"
	probeVal       = "ondo_probe_val"
	probeResult    = "ondo_probe_result"
	probeReasoning = "ondo_probe_reasoning"
	// probeCallID has 9 alphanumeric characters, as Mistral's templates require.
	probeCallID = "ondoprobe"
)

// probeNow is the fixed time strftime_now sees in probes.
var probeNow = time.Date(2026, 2, 5, 14, 30, 9, 0, time.UTC)

// thinkingKwargs are the boolean kwargs tried as thinking switches, in the
// order preferred when several switch thinking and none wins.
var thinkingKwargs = []string{"enable_thinking", "thinking", "reasoning", "enable_reasoning"}

// thinkOpenMarkers open a reasoning block in a prompt.
var thinkOpenMarkers = []string{"<think>", "[THINK]", "<seed:think>", "<|START_THINKING|>"}

// probeToolDef is the tool given to probes, in the OpenAI format.
var probeToolDef = json.RawMessage(`{"type": "function", "function": {"name": "` + probeTool + `", ` +
	`"description": "A probe tool.", "parameters": {"type": "object", "properties": {"` + probeArg +
	`": {"type": "string", "description": "A probe argument."}}, "required": ["` + probeArg + `"]}}}`)

// Caps detects the template's capabilities by rendering probe
// conversations, once per Template: later calls return the same result.
// It is safe for concurrent use. A probe that fails to render counts as
// "not supported"; Caps never panics.
func (t *Template) Caps() Caps {
	if t == nil || t.tmpl == nil {
		return Caps{}
	}
	t.capsOnce.Do(func() { t.caps = detectCaps(t) })
	return t.caps
}

// prober renders probes with one template.
type prober struct{ t *Template }

// render renders msgs and reports whether it succeeded; a panic counts as
// a failure.
func (p prober) render(msgs []Message, tools bool, agp bool, kwargs map[string]any) (out string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			out, ok = "", false
		}
	}()
	in := Input{Messages: msgs, AddGenerationPrompt: agp, Kwargs: kwargs, Now: probeNow}
	if tools {
		in.Tools = []any{probeToolDef}
	}
	out, err := p.t.Render(in)
	return out, err == nil
}

// anyOutput reports whether f holds for the output of any successful render
// of the given conversations, each tried with and without a generation
// prompt.
func (p prober) anyOutput(convs [][]Message, tools bool, kwargs map[string]any, f func(string) bool) bool {
	for _, msgs := range convs {
		for _, agp := range []bool{true, false} {
			if out, ok := p.render(msgs, tools, agp, kwargs); ok && f(out) {
				return true
			}
		}
	}
	return false
}

// withSystem returns the conversations, each without and then with a
// leading system message.
func withSystem(convs ...[]Message) [][]Message {
	all := append([][]Message(nil), convs...)
	for _, c := range convs {
		all = append(all, append([]Message{{Role: "system", Content: probeSys}}, c...))
	}
	return all
}

// probeCallMsg is an assistant message calling probeFn.
func probeCallMsg(args json.RawMessage, reasoning string) Message {
	return Message{Role: "assistant", ReasoningContent: reasoning, ToolCalls: []ToolCall{{
		ID: probeCallID, Type: "function",
		Function: ToolCallFunction{Name: probeFn, Arguments: args},
	}}}
}

// probeResultMsg answers probeCallMsg. It has no Name: a template that
// writes it would seem to write the call.
func probeResultMsg() Message {
	return Message{Role: "tool", Content: probeResult, ToolCallID: probeCallID}
}

func probeUserMsg(s string) Message      { return Message{Role: "user", Content: s} }
func probeAssistantMsg(s string) Message { return Message{Role: "assistant", Content: s} }

// outputHas returns a test for outputs that contain sub.
func outputHas(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

func detectCaps(t *Template) (c Caps) {
	defer func() {
		if r := recover(); r != nil {
			c = Caps{}
		}
	}()
	p := prober{t}

	// System role: the system message's content appears.
	sys := Message{Role: "system", Content: probeSys}
	c.SystemRole = p.anyOutput([][]Message{
		{sys, probeUserMsg(probeUser)},
		{sys, probeUserMsg(probeUser), probeAssistantMsg(probeAnswer), probeUserMsg(probeUser2)},
	}, false, nil, outputHas(probeSys))

	// Typed content: string content is lost but text parts are written.
	plain := withSystem(
		[]Message{probeUserMsg(probeUser)},
		[]Message{probeUserMsg(probeUser), probeAssistantMsg(probeAnswer), probeUserMsg(probeUser2)},
	)
	if !p.anyOutput(plain, false, nil, outputHas(probeUser)) {
		parts := func(s string) []ContentPart { return []ContentPart{{Type: "text", Text: s}} }
		c.TypedContent = p.anyOutput([][]Message{
			{{Role: "user", Parts: parts(probeUser)}},
			{{Role: "system", Parts: parts(probeSys)}, {Role: "user", Parts: parts(probeUser)}},
		}, false, nil, outputHas(probeUser))
	}

	// Tools: the declared tool's name appears.
	c.Tools = p.anyOutput(withSystem([]Message{probeUserMsg(probeUser)}), true, nil, outputHas(probeTool))

	// Tool calls, their arguments and tool responses, in plausible
	// conversations: a call, its result, then nothing, an answer, or an
	// answer and a new question; with and without a system message and a
	// tool list.
	calls := func(args json.RawMessage) [][]Message {
		base := []Message{probeUserMsg(probeUser), probeCallMsg(args, ""), probeResultMsg()}
		return withSystem(
			base,
			append(base[:3:3], probeAssistantMsg(probeAnswer)),
			append(base[:3:3], probeAssistantMsg(probeAnswer), probeUserMsg(probeUser2)),
		)
	}
	objectArgs := json.RawMessage(`{"` + probeArg + `": "` + probeVal + `"}`)
	stringArgs, _ := json.Marshal(string(objectArgs))
	collect := func(args json.RawMessage) []string {
		var outs []string
		for _, tools := range []bool{false, true} {
			for _, msgs := range calls(args) {
				for _, agp := range []bool{true, false} {
					if out, ok := p.render(msgs, tools, agp, nil); ok {
						outs = append(outs, out)
					}
				}
			}
		}
		return outs
	}
	objectOuts, stringOuts := collect(objectArgs), collect(stringArgs)
	for _, out := range append(objectOuts, stringOuts...) {
		c.ToolCalls = c.ToolCalls || strings.Contains(out, probeFn)
		c.ToolResponses = c.ToolResponses || strings.Contains(out, probeResult)
	}
	if c.ToolCalls {
		usable := func(outs []string) bool {
			for _, out := range outs {
				if strings.Contains(out, probeFn) && argsUsable(out) {
					return true
				}
			}
			return false
		}
		c.ObjectArguments = usable(objectOuts)
		c.StringArguments = !c.ObjectArguments && usable(stringOuts)
	}

	// Thinking kwarg: a boolean kwarg whose true and false give different
	// prompts.
	ask := withSystem([]Message{probeUserMsg(probeUser)})
	var switches []string
	for _, k := range thinkingKwargs {
		for _, msgs := range ask {
			on, ok1 := p.render(msgs, false, true, map[string]any{k: true})
			off, ok2 := p.render(msgs, false, true, map[string]any{k: false})
			if ok1 && ok2 && on != off {
				switches = append(switches, k)
				break
			}
		}
	}
	c.ThinkingKwarg = pickSwitch(p, switches)
	var thinkOn map[string]any
	if c.ThinkingKwarg != "" {
		thinkOn = map[string]any{c.ThinkingKwarg: true}
	}

	// Thinking: any of the switch, reasoning_effort, rendered
	// reasoning_content (of an answer, or of a tool call in the current
	// turn, which is all some templates keep) or a reasoning marker in the
	// prompt.
	reasoned := Message{Role: "assistant", Content: probeAnswer, ReasoningContent: probeReasoning}
	c.Thinking = c.ThinkingKwarg != "" ||
		p.anyOutput(withSystem(
			[]Message{probeUserMsg(probeUser), reasoned},
			[]Message{probeUserMsg(probeUser), reasoned, probeUserMsg(probeUser2)},
			[]Message{probeUserMsg(probeUser), probeCallMsg(objectArgs, probeReasoning), probeResultMsg()},
		), false, thinkOn, outputHas(probeReasoning)) ||
		p.anyOutput(ask, false, thinkOn, func(s string) bool {
			return strings.Contains(s, "<think>") || strings.Contains(s, "[THINK]")
		})
	if !c.Thinking {
		low, ok1 := p.render(ask[0], false, true, map[string]any{"reasoning_effort": "low"})
		high, ok2 := p.render(ask[0], false, true, map[string]any{"reasoning_effort": "high"})
		c.Thinking = ok1 && ok2 && low != high
	}

	// Opened reasoning: with thinking on, the generation prompt ends with
	// an opening marker.
	if c.Thinking {
		for _, msgs := range ask {
			out, ok := p.render(msgs, false, true, thinkOn)
			if !ok {
				continue
			}
			out = strings.TrimRight(out, " \t\r\n")
			for _, m := range thinkOpenMarkers {
				if strings.HasSuffix(out, m) {
					c.ThinkOpenInPrompt = true
				}
			}
			break
		}
	}
	return c
}

// argsUsable reports whether the output holds the probe argument's value
// as JSON writes it ("ondo_probe_val", the quote not escaped) or bare, as in
// XML-style formats (<arg_value>ondo_probe_val</arg_value>), rather than
// as in Python's repr of a dict ('ondo_probe_val') or in JSON of the JSON
// text (\"ondo_probe_val\").
func argsUsable(out string) bool {
	quoteLike := func(b byte) bool { return b == '"' || b == '\'' || b == '\\' }
	for i := 0; ; {
		j := strings.Index(out[i:], probeVal)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(probeVal)
		var prev, prev2, next byte
		if start > 0 {
			prev = out[start-1]
		}
		if start > 1 {
			prev2 = out[start-2]
		}
		if end < len(out) {
			next = out[end]
		}
		if (prev == '"' && next == '"' && prev2 != '\\') || (!quoteLike(prev) && !quoteLike(next)) {
			return true
		}
		i = end
	}
}

// pickSwitch chooses among kwargs that each switch thinking: the one that
// decides the prompt when it is true and the others are false.
func pickSwitch(p prober, switches []string) string {
	if len(switches) <= 1 {
		if len(switches) == 1 {
			return switches[0]
		}
		return ""
	}
	msgs := []Message{probeUserMsg(probeUser)}
	for _, k := range switches {
		alone, ok1 := p.render(msgs, false, true, map[string]any{k: true})
		mixed := map[string]any{}
		for _, o := range switches {
			mixed[o] = o == k
		}
		both, ok2 := p.render(msgs, false, true, mixed)
		if ok1 && ok2 && alone == both {
			return k
		}
	}
	return switches[0]
}
