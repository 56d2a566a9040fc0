package toolcall

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
)

// Constraining the output: GBNF grammars that make a model write calls in
// its family's format, with arguments valid against each tool's
// parameters, and that keep a reasoning section before them (or before a
// response format's JSON).

// Tool is an offered function: its name and its parameters' JSON Schema.
type Tool struct {
	Name       string
	Parameters json.RawMessage // {} or empty: any object
}

// GrammarOptions say what output a grammar allows.
type GrammarOptions struct {
	// Tools are the functions calls may name, in order.
	Tools []Tool
	// Lazy lets the output be an answer in text, the call format applying
	// from its opening marker on (tool_choice "auto"); otherwise the output
	// is calls (tool_choice "required" or a named function).
	Lazy bool
	// MaxCalls, above 0, is the most calls allowed.
	MaxCalls int
	// Reasoning lets a reasoning section open the output; InReasoning
	// starts inside one (the prompt opened it).
	Reasoning, InReasoning bool
	// Token returns the vocabulary's one token for a marker's text, if it
	// has one: markers are then that token (a control token is allowed
	// only when the grammar names it). Nil: markers are text.
	Token func(text string) (int32, bool)
}

// gbnf builds a grammar's rules.
type gbnf struct {
	rules []string
	names map[string]bool
	token func(string) (int32, bool)
}

func (g *gbnf) add(name, body string) string {
	if !g.names[name] {
		g.names[name] = true
		g.rules = append(g.rules, name+" ::= "+body)
	}
	return name
}

// mark is a marker: its token when the vocabulary has one, else its text.
func (g *gbnf) mark(text string) string {
	if g.token != nil {
		if id, ok := g.token(text); ok {
			return fmt.Sprintf("<[%d]>", id)
		}
	}
	return grammar.Quote(text)
}

// without defines a rule for any text that does not contain marker and
// returns its name. A marker that is one token is ruled out as that
// token (unless bytes: the text may start inside a token, as after a
// character class); otherwise as text, by an automaton of how much of the marker the
// text ends with (Knuth–Morris–Pratt).
func (g *gbnf) without(name, marker string, bytes bool) string {
	if g.token != nil && !bytes {
		if id, ok := g.token(marker); ok {
			return g.add(name, fmt.Sprintf("( !<[%d]> )*", id))
		}
	}
	m := []rune(marker)
	fail := make([]int, len(m)) // the longest proper border of m[:i+1]
	for i := 1; i < len(m); i++ {
		k := fail[i-1]
		for k > 0 && m[i] != m[k] {
			k = fail[k-1]
		}
		if m[i] == m[k] {
			k++
		}
		fail[i] = k
	}
	step := func(k int, r rune) int {
		for k > 0 && m[k] != r {
			k = fail[k-1]
		}
		if m[k] == r {
			k++
		}
		return k
	}
	var chars []rune
	seen := map[rune]bool{}
	for _, r := range m {
		if !seen[r] {
			seen[r] = true
			chars = append(chars, r)
		}
	}
	sort.Slice(chars, func(i, j int) bool { return chars[i] < chars[j] })
	var class strings.Builder
	for _, r := range chars {
		class.WriteString(grammar.ClassChar(r))
	}
	state := func(k int) string { return fmt.Sprintf("%s-%d", name, k) }
	for k := range m {
		alts := []string{fmt.Sprintf("[^%s] %s", class.String(), state(0))}
		for _, r := range chars {
			if n := step(k, r); n < len(m) {
				alts = append(alts, fmt.Sprintf("%s %s", grammar.Quote(string(r)), state(n)))
			}
		}
		g.add(state(k), "( "+strings.Join(alts, " | ")+" )?")
	}
	return state(0)
}

// reasoning returns the expression of the output's opening reasoning
// section (empty when there is none).
func (s Spec) reasoning(g *gbnf, o GrammarOptions) string {
	if s.ThinkOpen == "" || !o.Reasoning && !o.InReasoning {
		return ""
	}
	inside := g.without("think-text", s.ThinkClose, false)
	section := fmt.Sprintf("%s %s", inside, g.mark(s.ThinkClose))
	if o.InReasoning {
		return section
	}
	open := g.mark(s.ThinkOpen)
	if s.Format == Gemma4 {
		open = g.mark(g4Channel) + " " + grammar.Quote(g4Thought) // a control token, then the channel's name
	}
	return fmt.Sprintf("( sp %s %s )?", open, section)
}

// sp is the bounded space between parts.
const spRule = `( " " | "\n" ){0,3}`

// Wrap returns a grammar that lets the reasoning section of spec's format
// come before an output that body (GBNF whose root is the output) allows:
// a response format constrains the answer, not the reasoning. body's
// rules must not use the names think-text*, sp and output-root.
func (s Spec) Wrap(body string, o GrammarOptions) string {
	g := &gbnf{names: map[string]bool{}, token: o.Token}
	if s.Format == Harmony {
		// The answer is the final channel's message.
		renamed := renameRoot(body, "output-root")
		g.add("root", fmt.Sprintf("%s %s %s %s output-root", s.harmonyAnalysis(g), g.mark(hChannel), grammar.Quote("final"), g.mark(hMessage)))
		return strings.Join(g.rules, "\n") + "\n" + renamed
	}
	think := s.reasoning(g, o)
	if think == "" {
		return body
	}
	renamed := renameRoot(body, "output-root")
	g.add("root", think+" sp output-root")
	g.add("sp", spRule)
	return strings.Join(g.rules, "\n") + "\n" + renamed
}

// renameRoot renames rule root of src to name, in its definition and in
// every reference.
func renameRoot(src, name string) string {
	return renameRules(src, func(n string) string {
		if n == "root" {
			return name
		}
		return n
	})
}

// prefixRules renames every rule of src by prefixing it, so that several
// compiled schemas can live in one grammar.
func prefixRules(src, prefix string) string {
	defined := map[string]bool{}
	for _, l := range strings.Split(src, "\n") {
		if i := strings.Index(l, " ::= "); i > 0 {
			defined[l[:i]] = true
		}
	}
	return renameRules(src, func(n string) string {
		if defined[n] {
			return prefix + n
		}
		return n
	})
}

// renameRules rewrites every rule name of GBNF src (defined or referred
// to) with rename, leaving literals, classes, token references and
// repetition counts alone.
func renameRules(src string, rename func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '"' || c == '[':
			end := byte('"')
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for j < len(src) && src[j] != end {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(src))
			b.WriteString(src[i:j])
			i = j
		case c == '<' || c == '{':
			end := map[byte]byte{'<': '>', '{': '}'}[c]
			j := strings.IndexByte(src[i:], end)
			if j < 0 {
				j = len(src) - i - 1
			}
			b.WriteString(src[i : i+j+1])
			i += j + 1
		case c == '#':
			j := strings.IndexByte(src[i:], '\n')
			if j < 0 {
				j = len(src) - i
			}
			b.WriteString(src[i : i+j])
			i += j
		case isNameChar(c):
			j := i
			for j < len(src) && isNameChar(src[j]) {
				j++
			}
			b.WriteString(rename(src[i:j]))
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// Grammar returns GBNF for the output o allows in spec's format: calls of
// o.Tools with arguments that validate against their parameters, after
// an optional reasoning section, and (Lazy) text before the first call.
// A tool whose parameters cannot be compiled is an error naming it.
func (s Spec) Grammar(o GrammarOptions) (string, error) {
	if len(o.Tools) == 0 {
		return "", fmt.Errorf("toolcall: no tools to call")
	}
	g := &gbnf{names: map[string]bool{}, token: o.Token}
	var schemas []string
	var alts []string
	if _, ok := formats[s.Format]; !ok && s.Format != Harmony && s.Format != Generic {
		return "", fmt.Errorf("toolcall: no grammar for format %q", s.Format)
	}
	for i, t := range o.Tools {
		src, err := compileParameters(t.Parameters)
		if err != nil {
			return "", fmt.Errorf("the parameters of tool %q: %w", t.Name, err)
		}
		prefix := fmt.Sprintf("t%d-", i)
		if s.Format == Gemma4 {
			call, rules, err := s.gemmaCall(g, t, prefix)
			if err != nil {
				return "", err
			}
			schemas = append(schemas, rules)
			alts = append(alts, call)
			continue
		}
		if b := formats[s.Format].body; b == bodyXML || b == bodyGLM || b == bodyPython {
			call, rules, err := s.xmlCall(g, t, prefix)
			if err != nil {
				return "", err
			}
			schemas = append(schemas, rules)
			alts = append(alts, call)
			continue
		}
		schemas = append(schemas, prefixRules(src, prefix))
		alts = append(alts, s.callExpr(g, t.Name, prefix+"root"))
	}
	call := g.add("call", strings.Join(alts, " | "))
	if s.Format == Generic {
		g.add("js", `( " " ){0,1}`)
		return "root ::= " + genericRoot(g, call, o) + "\n" + strings.Join(g.rules, "\n") + "\n" + strings.Join(schemas, ""), nil
	}
	if s.Format == Harmony {
		// One call per generation: <|call|> ends it.
		root := call
		if o.Lazy {
			root = fmt.Sprintf("( %s | %s %s %s %s )", call, g.mark(hChannel), grammar.Quote("final"), g.mark(hMessage), g.without("text", hEnd, false))
		}
		g.add("sp", spRule)
		g.add("js", `( " " ){0,1}`)
		return "root ::= " + s.harmonyAnalysis(g) + " " + root + "\n" + strings.Join(g.rules, "\n") + "\n" + strings.Join(schemas, ""), nil
	}
	calls := s.callsExpr(g, call, o.MaxCalls)
	body := calls
	if o.Lazy {
		body = s.lazyExpr(g, calls)
	}
	think := s.reasoning(g, o)
	if think != "" && !o.Lazy {
		think += " sp" // lazy: the text takes the spaces
	}
	root := strings.TrimSpace(think + " " + body)
	g.add("sp", spRule)
	g.add("js", `( " " ){0,1}`)
	src := "root ::= " + root + "\n" + strings.Join(g.rules, "\n") + "\n" + strings.Join(schemas, "")
	return src, nil
}

// callExpr is one call of tool name with arguments rule args.
func (s Spec) callExpr(g *gbnf, name, args string) string {
	jname := grammar.Quote(mustJSON(name))
	switch s.Format {
	case Hermes:
		return fmt.Sprintf(`%s "\n"? "{" js "\"name\"" js ":" js %s js "," js "\"arguments\"" js ":" js %s js "}" "\n"? %s`,
			g.mark("<tool_call>"), jname, args, g.mark("</tool_call>"))
	case Llama3:
		return fmt.Sprintf(`"{" js "\"name\"" js ":" js %s js "," js "\"parameters\"" js ":" js %s js "}"`, jname, args)
	case Mistral:
		return fmt.Sprintf(`"{" js "\"name\"" js ":" js %s js "," js "\"arguments\"" js ":" js %s ( js "," js "\"id\"" js ":" js "\"" [a-zA-Z0-9]{9} "\"" )? js "}"`, jname, args)
	case MistralV11:
		return fmt.Sprintf(`%s %s %s %s`, g.mark("[TOOL_CALLS]"), grammar.Quote(name), g.mark("[ARGS]"), args)
	case DeepSeekR1:
		return fmt.Sprintf("%s \"function\" %s %s \"\\n```json\\n\" %s \"\\n```\" %s", g.mark("<｜tool▁call▁begin｜>"), g.mark("<｜tool▁sep｜>"), grammar.Quote(name), args, g.mark("<｜tool▁call▁end｜>"))
	case DeepSeekV3:
		return fmt.Sprintf("%s %s %s %s %s", g.mark("<｜tool▁call▁begin｜>"), grammar.Quote(name), g.mark("<｜tool▁sep｜>"), args, g.mark("<｜tool▁call▁end｜>"))
	case Granite, Phi4, Generic:
		return fmt.Sprintf(`"{" js "\"name\"" js ":" js %s js "," js "\"arguments\"" js ":" js %s js "}"`, jname, args)
	case CommandR7B:
		return fmt.Sprintf(`"{" js "\"tool_call_id\"" js ":" js "\"" [0-9]{1,3} "\"" js "," js "\"tool_name\"" js ":" js %s js "," js "\"parameters\"" js ":" js %s js "}"`, jname, args)
	case Harmony:
		return fmt.Sprintf(`%s %s %s %s %s %s`, g.mark(hChannel), grammar.Quote("commentary to=functions."+name+" "),
			g.mark("<|constrain|>"), grammar.Quote("json"), g.mark(hMessage), args)
	case KimiK2:
		return fmt.Sprintf(`%s %s [0-9]{1,3} %s %s %s`, g.mark("<|tool_call_begin|>"), grammar.Quote("functions."+name+":"),
			g.mark("<|tool_call_argument_begin|>"), args, g.mark("<|tool_call_end|>"))
	}
	return ""
}

// callsExpr is the call region: one or more calls (at most max when max
// is above 0) with the format's opening and closing around them.
func (s Spec) callsExpr(g *gbnf, call string, max int) string {
	sep := map[Format]string{Hermes: `sp`, Llama3: `js ";" js`, Mistral: `js "," js`, DeepSeekR1: `sp`,
		Granite: `js "," js`, LFM2: `"," " "?`, Phi4: `js "," js`, CommandR7B: `"," lsp`, QwenXML: `sp`, GLM: `sp`}[s.Format]
	more := fmt.Sprintf("( %s %s )*", sep, call)
	if max == 1 {
		more = ""
	} else if max > 1 {
		more = fmt.Sprintf("( %s %s ){0,%d}", sep, call, max-1)
	}
	list := strings.TrimSpace(call + " " + more)
	switch s.Format {
	case Mistral:
		return g.add("calls", fmt.Sprintf(`%s "[" %s "]"`, g.mark("[TOOL_CALLS]"), list))
	case DeepSeekR1, DeepSeekV3:
		return g.add("calls", fmt.Sprintf(`%s %s %s`, g.mark("<｜tool▁calls▁begin｜>"), list, g.mark("<｜tool▁calls▁end｜>")))
	case Granite:
		return g.add("calls", fmt.Sprintf(`%s "[" %s "]"`, g.mark("<|tool_call|>"), list))
	case Phi4:
		return g.add("calls", fmt.Sprintf(`%s "[" %s "]" %s`, g.mark("<|tool_call|>"), list, g.mark("<|/tool_call|>")))
	case CommandR7B:
		g.add("lsp", `( " " | "\n" ){0,8}`)
		return g.add("calls", fmt.Sprintf(`%s "[" lsp %s lsp "]" %s`, g.mark("<|START_ACTION|>"), list, g.mark("<|END_ACTION|>")))
	case KimiK2:
		return g.add("calls", fmt.Sprintf(`%s %s %s`, g.mark("<|tool_calls_section_begin|>"), list, g.mark("<|tool_calls_section_end|>")))
	case LFM2:
		return g.add("calls", fmt.Sprintf(`%s "[" %s "]" %s`, g.mark("<|tool_call_start|>"), list, g.mark("<|tool_call_end|>")))
	}
	return g.add("calls", list)
}

// lazyExpr is an answer in text or, from the format's opening marker on,
// calls (llama3: an answer that does not start with '{', or calls).
func (s Spec) lazyExpr(g *gbnf, calls string) string {
	switch s.Format {
	case Llama3:
		text := g.without("text", "<|python_tag|>", true)
		return fmt.Sprintf(`( %s | %s %s | [^{ \t\r\n] %s )?`, calls, g.mark("<|python_tag|>"), calls, text)
	}
	text := g.without("text", formats[s.Format].open[0], false)
	return fmt.Sprintf("%s ( %s )?", text, calls)
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// objectSchema makes arguments an object: a tool without parameters takes
// {}-like objects, and a schema that leaves its type open gets type
// "object".
func objectSchema(params json.RawMessage) json.RawMessage {
	p := strings.TrimSpace(string(params))
	if p == "" || p == "null" || p == "{}" {
		return json.RawMessage(`{"type": "object"}`)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(params, &top) != nil || top == nil {
		return params // not an object: let the compiler say what is wrong
	}
	if _, ok := top["type"]; ok {
		return params
	}
	return json.RawMessage(`{"type": "object", ` + p[1:])
}

// xmlCall is one call of tool t in an XML format (Qwen3-Coder's, GLM's):
// its parameters in the schema's order, the required ones always there.
// A string parameter's value is raw text (any text without the closing
// tag, or one of its enum's values): its other keywords (lengths,
// pattern) are not enforced. Any other parameter's value is JSON that
// validates against the parameter's schema, or any JSON value where that
// schema refers to others ($ref). It returns the call and the rules it
// needs.
func (s Spec) xmlCall(g *gbnf, t Tool, prefix string) (string, string, error) {
	props, required, err := orderedProperties(objectSchema(t.Parameters))
	if err != nil {
		return "", "", fmt.Errorf("the parameters of tool %q: %w", t.Name, err)
	}
	var rules strings.Builder
	open, closeTag := "<parameter=%s>\n", "\n</parameter>"
	keyOpen, valueOpen, valueClose := "", "", ""
	if s.Format == GLM {
		keyOpen, valueOpen, valueClose = "<arg_key>%s</arg_key>\n", "<arg_value>", "</arg_value>"
		open, closeTag = keyOpen+valueOpen, valueClose
	}
	textRule := g.without("xml-text", strings.TrimPrefix(closeTag, "\n"), true)
	var parts []string
	for j, p := range props {
		if s.Format == LFM2 {
			break // pythonCall writes the parameters
		}
		var value string
		var enum []string
		if p.typ == "string" && json.Unmarshal(p.enum, &enum) == nil && len(enum) > 0 {
			var alts []string
			for _, e := range enum {
				alts = append(alts, grammar.Quote(e))
			}
			value = "( " + strings.Join(alts, " | ") + " )"
		} else if p.typ == "string" {
			value = textRule
		} else {
			value = jsonValue(g, p, fmt.Sprintf("%sp%d-", prefix, j), &rules)
		}
		part := fmt.Sprintf("%s %s %s sp", grammar.Quote(fmt.Sprintf(open, p.name)), value, grammar.Quote(closeTag))
		if !required[p.name] {
			part = "( " + part + " )?"
		}
		parts = append(parts, part)
	}
	if s.Format == LFM2 {
		return s.pythonCall(g, t.Name, prefix, props, required, &rules), rules.String(), nil
	}
	body := strings.Join(parts, " ")
	var call string
	if s.Format == GLM {
		call = fmt.Sprintf(`%s %s "\n" %s %s`, g.mark("<tool_call>"), grammar.Quote(t.Name), body, g.mark("</tool_call>"))
	} else {
		call = fmt.Sprintf(`%s "\n" %s "\n" %s %s sp %s`, g.mark("<tool_call>"), grammar.Quote("<function="+t.Name+">"), body,
			grammar.Quote("</function>"), g.mark("</tool_call>"))
	}
	return call, rules.String(), nil
}

// jsonAny is GBNF for any JSON value.
var jsonAny = func() string {
	src, err := jsonschema.Compile([]byte(`{}`), jsonschema.Options{})
	if err != nil {
		panic(err)
	}
	return src
}()

// property is one declared property of an object schema.
type property struct {
	name   string
	schema json.RawMessage
	typ    string          // its type when a single one is given
	enum   json.RawMessage // its enum, if any
}

// orderedProperties reads an object schema's properties in their order
// and its required list.
func orderedProperties(schema json.RawMessage) ([]property, map[string]bool, error) {
	var top struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(schema, &top); err != nil {
		return nil, nil, err
	}
	required := map[string]bool{}
	for _, r := range top.Required {
		required[r] = true
	}
	var props []property
	if len(top.Properties) == 0 {
		return nil, required, nil
	}
	d := json.NewDecoder(strings.NewReader(string(top.Properties)))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, fmt.Errorf("properties is not an object")
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, nil, err
		}
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, nil, err
		}
		p := property{name: t.(string), schema: raw}
		var info struct {
			Type json.RawMessage `json:"type"`
			Enum json.RawMessage `json:"enum"`
		}
		json.Unmarshal(raw, &info)
		json.Unmarshal(info.Type, &p.typ)
		p.enum = info.Enum
		props = append(props, p)
	}
	return props, required, nil
}

// harmonyAnalysis is gpt-oss's optional analysis message before the
// answer or the call.
func (s Spec) harmonyAnalysis(g *gbnf) string {
	text := g.without("think-text", hEnd, false)
	return fmt.Sprintf("( %s %s %s %s %s %s %s )?", g.mark(hChannel), grammar.Quote("analysis"), g.mark(hMessage), text,
		g.mark(hEnd), g.mark(hStart), grammar.Quote("assistant"))
}

// pythonCall is one call of LFM2's: NAME(K=V, …), the parameters in the
// schema's order, the required ones always there, each value JSON that
// validates against the parameter's schema (any JSON value where that
// schema refers to others).
func (s Spec) pythonCall(g *gbnf, name, prefix string, props []property, required map[string]bool, rules *strings.Builder) string {
	param := make([]string, len(props))
	req := make([]bool, len(props))
	for j, p := range props {
		param[j] = fmt.Sprintf("%s %s", grammar.Quote(p.name+"="), jsonValue(g, p, fmt.Sprintf("%sp%d-", prefix, j), rules))
		req[j] = required[p.name]
	}
	return fmt.Sprintf(`%s "(" %s ")"`, grammar.Quote(name), orderedArgs(g, prefix+"py-", param, req, `"," " "?`))
}

// orderedArgs defines the rules of a list of parameters: params (each
// one's whole expression) in their order, the required ones always there,
// sep between them; it returns the list's rule.
func orderedArgs(g *gbnf, prefix string, params []string, required []bool, sep string) string {
	// first[j]: the parameters from j on, the first one present written
	// without a separator; rest[j]: each one after a separator.
	n := len(params)
	first := func(j int) string { return fmt.Sprintf("%sfirst-%d", prefix, j) }
	rest := func(j int) string { return fmt.Sprintf("%srest-%d", prefix, j) }
	g.add(first(n), `""`)
	g.add(rest(n), `""`)
	for j := n - 1; j >= 0; j-- {
		if required[j] {
			g.add(rest(j), fmt.Sprintf(`%s %s %s`, sep, params[j], rest(j+1)))
			g.add(first(j), fmt.Sprintf("%s %s", params[j], rest(j+1)))
		} else {
			g.add(rest(j), fmt.Sprintf(`( %s %s )? %s`, sep, params[j], rest(j+1)))
			g.add(first(j), fmt.Sprintf("%s %s | %s", params[j], rest(j+1), first(j+1)))
		}
	}
	return first(0)
}

// jsonValue is the rule of a parameter's value as JSON valid against its
// schema, whose rules are written to rules under prefix; any JSON value
// where that schema does not compile alone (it refers to others).
func jsonValue(g *gbnf, p property, prefix string, rules *strings.Builder) string {
	if src, err := jsonschema.Compile(p.schema, jsonschema.Options{}); err == nil {
		rules.WriteString(prefixRules(src, prefix))
		return prefix + "root"
	}
	if !g.names["any-json"] {
		g.add("any-json", "t-any-root")
		rules.WriteString(prefixRules(jsonAny, "t-any-"))
	}
	return "any-json"
}

// CheckParameters reports why a tool's parameters cannot constrain its
// arguments (nil when they can). The compiled schema is kept for the
// grammar of the calls, which requests with the same tools build again.
func CheckParameters(params json.RawMessage) error {
	_, err := compileParameters(params)
	return err
}

// compiled are tool parameters compiled to GBNF, by their JSON text.
var compiled struct {
	sync.Mutex
	m map[string]compiledParams
}

type compiledParams struct {
	src string
	err error
}

// maxCompiled bounds compiled; past it the map starts again.
const maxCompiled = 512

// compileParameters is the GBNF of a tool's arguments (see objectSchema).
func compileParameters(params json.RawMessage) (string, error) {
	key := string(params)
	compiled.Lock()
	c, ok := compiled.m[key]
	compiled.Unlock()
	if ok {
		return c.src, c.err
	}
	c.src, c.err = jsonschema.Compile(objectSchema(params), jsonschema.Options{})
	compiled.Lock()
	if compiled.m == nil || len(compiled.m) >= maxCompiled {
		compiled.m = map[string]compiledParams{}
	}
	compiled.m[key] = c
	compiled.Unlock()
	return c.src, c.err
}
