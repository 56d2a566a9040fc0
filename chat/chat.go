// Package chat turns a conversation into a model's prompt text with the
// model's own chat template, the Jinja template a GGUF file stores under
// tokenizer.chat_template, rendered the way Hugging Face transformers'
// apply_chat_template renders it.
//
// Templates are compiled once with Parse and rendered with
// (*Template).Render. The engine is github.com/ardanlabs/jinja, set up like
// transformers' environment (jinja2's ImmutableSandboxedEnvironment with
// trim_blocks, lstrip_blocks and the loopcontrols extension) and given the
// variables transformers passes:
//
//	messages               the conversation, a list of dicts (see Message)
//	tools                  Input.Tools, or none
//	documents              none
//	add_generation_prompt  Input.AddGenerationPrompt
//	bos_token, eos_token   Input.BOSToken, Input.EOSToken (strings, possibly empty)
//	raise_exception(msg)   makes Render fail with a *RaiseError holding msg
//	strftime_now(format)   Input.Now (or the current time) formatted like Python's strftime
//	...                    each Input.Kwargs entry, e.g. enable_thinking for Qwen3
//
// and transformers' tojson filter (json.dumps with ensure_ascii=False and the
// indent, separators and sort_keys arguments). JSON objects keep their key
// order (see Object and ParseJSON), as Python dicts do, so tool schemas are
// written exactly as the client sent them.
//
// Where the library differs from jinja2, this package works around it
// without changing the library, by rewriting the template at Parse time:
// jinja2's whitespace control (trim_blocks, lstrip_blocks, -, +, CR LF, the
// final newline) and string literal escapes are applied by our own lexer, and
// printing ({{ x }} as Python's str(x)), tojson, trim, string, dictsort and
// the string methods strip, lstrip, rstrip, split and rsplit go to our
// Python-faithful implementations; see lex.go, pyvalue.go and tojson.go.
// Differences that remain are listed in testdata/README.md.
// Outputs are checked against Python's jinja2 for the templates of Llama 3.x,
// Qwen2.5, Qwen3, Gemma 2, 3 and 4, Mistral Nemo and Small 3.2, Phi-3.5,
// SmolLM3 and DeepSeek-R1 distills, and of the tool-call formats of
// Qwen3-Coder, DeepSeek-V3.1, Kimi-K2, GLM-4.6, gpt-oss, Command R7B and
// Ministral 3 Reasoning (testdata/fixtures.json, made by
// testdata/gen_fixtures.py).
//
// A model without a chat template gets a built-in one chosen from its
// vocabulary: see Fallback.
package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation. A template sees it as a dict with
// these keys, in this order:
//
//	role               always
//	content            always: Content, or a list of {type, text} dicts when Parts is not nil
//	reasoning_content  when not empty (Qwen3 reads it)
//	tool_calls         when not empty: [{id, type, function: {name, arguments}}]
//	tool_call_id       when not empty (role "tool")
//	name               when not empty
//
// Leaving keys out rather than passing empty values matters: templates test
// `'tool_calls' in message` or `message.tool_calls is defined`.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Parts, when not nil, replaces Content with a list of parts, as in
	// OpenAI's and transformers' multimodal messages.
	Parts            []ContentPart `json:"-"`
	ReasoningContent string        `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall    `json:"tool_calls,omitempty"`
	ToolCallID       string        `json:"tool_call_id,omitempty"`
	Name             string        `json:"name,omitempty"`
}

// ContentPart is one element of a list-valued message content. A template
// sees {"type": Type, "text": Text}, without "text" when Text is empty and
// Type is not "text" (an image part is just {"type": "image"}).
type ContentPart struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// ToolCall is a function call made by the assistant. A template sees
// {"id": ID (when not empty), "type": Type (default "function"),
// "function": {"name": ..., "arguments": ...}}.
type ToolCall struct {
	ID       string           `json:"id,omitempty"`
	Type     string           `json:"type,omitempty"`
	Function ToolCallFunction `json:"function"`
}

// ToolCallFunction names the function called and its arguments.
type ToolCallFunction struct {
	Name string `json:"name"`
	// Arguments is any JSON value. By transformers' convention it is an
	// object (key order is kept), which templates write with tojson; OpenAI
	// clients send a string holding JSON, which callers should decode into
	// the object before rendering: templates other than Qwen3's would
	// otherwise write it as a quoted string. Empty means {}.
	Arguments json.RawMessage `json:"arguments"`
}

// UnmarshalJSON reads a message in the OpenAI chat format: content may be a
// string, null or a list of parts.
func (m *Message) UnmarshalJSON(data []byte) error {
	type plain Message
	var aux struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	*m = Message(aux.plain)
	m.Content, m.Parts = "", nil
	switch c := strings.TrimSpace(string(aux.Content)); {
	case c == "" || c == "null":
	case c[0] == '[':
		m.Parts = []ContentPart{}
		return json.Unmarshal(aux.Content, &m.Parts)
	default:
		return json.Unmarshal(aux.Content, &m.Content)
	}
	return nil
}

// MarshalJSON writes the message in the OpenAI chat format with the keys in
// the order a template sees them, content as a list when Parts is not nil.
func (m Message) MarshalJSON() ([]byte, error) {
	o := Object{{"role", m.Role}, {"content", m.Content}}
	if m.Parts != nil {
		o[1].Value = m.Parts
	}
	if m.ReasoningContent != "" {
		o = append(o, Member{"reasoning_content", m.ReasoningContent})
	}
	if len(m.ToolCalls) > 0 {
		o = append(o, Member{"tool_calls", m.ToolCalls})
	}
	if m.ToolCallID != "" {
		o = append(o, Member{"tool_call_id", m.ToolCallID})
	}
	if m.Name != "" {
		o = append(o, Member{"name", m.Name})
	}
	return o.MarshalJSON()
}

// Input is what Render fills a template with.
type Input struct {
	Messages []Message
	// AddGenerationPrompt asks the template to end with the start of an
	// assistant turn.
	AddGenerationPrompt bool
	// BOSToken and EOSToken are the text of the model's special tokens, e.g.
	// "<|begin_of_text|>"; templates that start with {{ bos_token }} put it
	// in the prompt text.
	BOSToken, EOSToken string
	// Tools are the tool (function) definitions, usually in the OpenAI
	// format {"type": "function", "function": {...}}: Objects (see
	// ParseJSON) or json.RawMessages, which keep their key order; Go maps
	// are passed with sorted keys. nil passes tools=None, as transformers
	// does without tools.
	Tools []any
	// Kwargs are further template variables, such as enable_thinking (Qwen3,
	// SmolLM3) or date_string (Llama 3.1). They may override bos_token and
	// eos_token but not messages, tools, documents or add_generation_prompt.
	Kwargs map[string]any
	// Now is the time strftime_now formats (its wall clock, as Python's
	// naive datetime.now()). Zero means time.Now().
	Now time.Time
}

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	name string
	src  string
	tmpl *jinja.Template

	capsOnce sync.Once
	caps     Caps
}

// RaiseError is the error Render returns when the template calls
// raise_exception, e.g. Gemma's "Conversation roles must alternate
// user/assistant/user/assistant/...".
type RaiseError struct {
	Message string
}

func (e *RaiseError) Error() string {
	return "chat: template raised an exception: " + e.Message
}

// internalError is a panic inside the template engine, turned into an error.
type internalError struct{ v any }

func (e *internalError) Error() string {
	return fmt.Sprintf("chat: render template: internal error: %v", e.v)
}

// Parse compiles a chat template. A syntax error is a *SyntaxError, whose
// message starts with "chat: template:" and gives the line when known.
func Parse(src string) (*Template, error) {
	pre, err := preprocess(src)
	if err != nil {
		return nil, err
	}
	t, err := compile(pre)
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "jinja parse: "), "jinja scan: ")
		line := 0
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil {
			_, msg, _ = strings.Cut(msg, ": ")
		}
		return nil, &SyntaxError{Line: line, Msg: msg}
	}
	return &Template{src: src, tmpl: t}, nil
}

// compile runs the library's compiler, which may panic on odd input.
func compile(src string) (t *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("internal error: %v", r)
		}
	}()
	return jinja.Compile(src)
}

// Source returns the template text as given to Parse.
func (t *Template) Source() string { return t.src }

// Name returns the name of a built-in fallback template ("chatml",
// "llama3", ...; see Fallback), or "" for a template from Parse.
func (t *Template) Name() string { return t.name }

// reserved are the variables Input.Kwargs may not set.
var reserved = map[string]bool{
	"messages": true, "tools": true, "documents": true, "add_generation_prompt": true,
}

// Render fills the template with in and returns the prompt text. A
// template that calls raise_exception gives a *RaiseError; any other failure
// is an error starting with "chat: render template:".
func (t *Template) Render(in Input) (out string, err error) {
	data, err := in.values()
	if err != nil {
		return "", err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", &internalError{r}
		}
	}()
	out, err = t.tmpl.RenderValues(data)
	if err != nil {
		var raised *RaiseError
		if errors.As(err, &raised) {
			return "", raised
		}
		return "", fmt.Errorf("chat: render template: %w", err)
	}
	return out, nil
}

// values builds the template variables.
func (in *Input) values() (map[string]jinja.Value, error) {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	msgs := make([]jinja.Value, len(in.Messages))
	for i := range in.Messages {
		v, err := in.Messages[i].value()
		if err != nil {
			return nil, fmt.Errorf("chat: message %d: %w", i, err)
		}
		msgs[i] = v
	}
	tools := jinja.None()
	if in.Tools != nil {
		var err error
		if tools, err = toValue(in.Tools); err != nil {
			return nil, fmt.Errorf("chat: tools: %w", err)
		}
	}
	data := map[string]jinja.Value{
		"messages":              jinja.NewList(msgs),
		"tools":                 tools,
		"documents":             jinja.None(),
		"add_generation_prompt": jinja.NewBool(in.AddGenerationPrompt),
		"bos_token":             jinja.NewString(in.BOSToken),
		"eos_token":             jinja.NewString(in.EOSToken),
		"raise_exception":       jinja.NewCallable("raise_exception", raiseException),
		"strftime_now": jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
			if len(args) != 1 || !args[0].IsString() {
				return jinja.Value{}, fmt.Errorf("strftime_now: want one format string")
			}
			return jinja.NewString(strftime(args[0].AsString(), now)), nil
		}),
	}
	for name, f := range pyFilters {
		data[name] = jinja.NewCallable(name, f)
	}
	for k, v := range in.Kwargs {
		if reserved[k] || strings.HasPrefix(k, "__ondo_") {
			return nil, fmt.Errorf("chat: kwarg %q is reserved", k)
		}
		jv, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("chat: kwarg %q: %w", k, err)
		}
		data[k] = jv
	}
	return data, nil
}

func raiseException(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	msg := ""
	if len(args) > 0 {
		if args[0].IsString() {
			msg = args[0].AsString()
		} else {
			msg = args[0].String()
		}
	}
	return jinja.Value{}, &RaiseError{Message: msg}
}

// value converts m into the dict a template sees.
func (m *Message) value() (jinja.Value, error) {
	d := jinja.NewDict()
	dict := d.AsDict()
	dict.Set("role", jinja.NewString(m.Role))
	if m.Parts != nil {
		parts := make([]jinja.Value, len(m.Parts))
		for i, p := range m.Parts {
			pv := jinja.NewDict()
			pv.AsDict().Set("type", jinja.NewString(p.Type))
			if p.Text != "" || p.Type == "text" {
				pv.AsDict().Set("text", jinja.NewString(p.Text))
			}
			parts[i] = pv
		}
		dict.Set("content", jinja.NewList(parts))
	} else {
		dict.Set("content", jinja.NewString(m.Content))
	}
	if m.ReasoningContent != "" {
		dict.Set("reasoning_content", jinja.NewString(m.ReasoningContent))
	}
	if len(m.ToolCalls) > 0 {
		calls := make([]jinja.Value, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			cv := jinja.NewDict()
			cd := cv.AsDict()
			if c.ID != "" {
				cd.Set("id", jinja.NewString(c.ID))
			}
			typ := c.Type
			if typ == "" {
				typ = "function"
			}
			cd.Set("type", jinja.NewString(typ))
			fv := jinja.NewDict()
			fd := fv.AsDict()
			fd.Set("name", jinja.NewString(c.Function.Name))
			args := jinja.NewDict()
			if len(c.Function.Arguments) > 0 {
				var err error
				if args, err = toValue(c.Function.Arguments); err != nil {
					return jinja.Value{}, fmt.Errorf("tool call %d arguments: %w", i, err)
				}
			}
			fd.Set("arguments", args)
			cd.Set("function", fv)
			calls[i] = cv
		}
		dict.Set("tool_calls", jinja.NewList(calls))
	}
	if m.ToolCallID != "" {
		dict.Set("tool_call_id", jinja.NewString(m.ToolCallID))
	}
	if m.Name != "" {
		dict.Set("name", jinja.NewString(m.Name))
	}
	return d, nil
}
