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
