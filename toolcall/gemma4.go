package toolcall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
)

// Gemma 4's format:
//
//	<|channel>thought\nREASONING<channel|>ANSWER<|tool_call>call:NAME{KEY:VALUE,…}<tool_call|>…
//
// <|tool_response>, an end-of-generation token, follows the calls. The
// arguments are Gemma's notation of JSON, as its template writes them: keys
// bare, strings between <|"|> (without escapes), numbers, true and false as
// in JSON, null as JSON's null or Python's None (the template prints None).
// The parser turns them into JSON as they stream; the grammar writes the
// keys in the template's order (jinja2's dictsort, which ignores case).
//
// Its reasoning is a channel: "<|channel>thought" (a control token and the
// channel's name) opens it, spaces after the name are not reasoning, and
// as <|channel> is a control token that no answer text holds, a section
// may come anywhere: Gemma 4 sometimes writes an empty one, or a stray
// <channel|>, after its answer (see llama.cpp's common/chat.cpp).

const (
	g4Quote      = `<|"|>`
	g4Channel    = "<|channel>"
	g4Thought    = "thought"
	g4ChannelEnd = "<channel|>"
	g4CallOpen   = "<|tool_call>"
	g4CallClose  = "<tool_call|>"
	g4CallPrefix = "call:"
)

// The states of gemmaArgs: what it reads next.
const (
	g4Key    uint8 = iota // a dict's key, or its end
	g4Value               // a value (after a key, or in a list)
	g4String              // more of a string value
	g4After               // after a value: a comma or the container's end
)

// gemmaArgs turns Gemma 4's arguments into JSON as they stream. It reads
// on from where it stopped (a call's buffer only grows until the call is
// complete) and writes only JSON that later bytes cannot change.
type gemmaArgs struct {
	pos   int    // the next byte to read
	open  []byte // the containers open, '{' or '['
	state uint8
	more  bool   // the innermost container has a member: the next one needs ", "
	done  bool   // the arguments are complete (or broken off)
	out   []byte // the JSON so far
}

// run reads b from pos on; it returns where the arguments end (after their
// closing brace) once they are complete.
func (a *gemmaArgs) run(b []byte) (int, bool) {
	for !a.done && a.pos < len(b) && a.step(b[a.pos:]) {
	}
	if a.done {
		return a.pos, true
	}
	return 0, false
}

// step reads one piece at the start of rest; it reports false when it
// needs more bytes.
func (a *gemmaArgs) step(rest []byte) bool {
	if a.state == g4String {
		i := bytes.Index(rest, []byte(g4Quote))
		if i < 0 {
			n := holdBack(rest, []string{g4Quote})
			a.out = appendJSONText(a.out, rest[:n])
			a.pos += n
			return false
		}
		a.out = append(appendJSONText(a.out, rest[:i]), '"')
		a.pos += i + len(g4Quote)
		a.state = g4After
		return true
	}
	c := rest[0]
	inList := len(a.open) > 0 && a.open[len(a.open)-1] == '['
	switch {
	case isSpace(c), a.state == g4Key && c == ',': // a stray comma
		a.pos++
	case a.state == g4Key && c == '}', a.state == g4Value && c == ']' && inList, a.state == g4After && (c == '}' || c == ']'):
		a.close()
	case a.state == g4After && c == ',':
		a.pos++
		a.state = g4Key
		if inList {
			a.state = g4Value
		}
	case a.state == g4After:
		a.broken()
	case a.state == g4Key:
		key, n := gemmaKey(rest)
		if n > 0 {
			a.member()
			a.out = append(appendJSONString(a.out, key), ": "...)
			a.pos += n
			a.state = g4Value
		}
		return a.read(n)
	case bytes.HasPrefix(rest, []byte(g4Quote)):
		a.valueStart(inList)
		a.out = append(a.out, '"')
		a.pos += len(g4Quote)
		a.state = g4String
	case bytes.HasPrefix([]byte(g4Quote), rest):
		return false // maybe a string's opening
	case c == '{' || c == '[':
		a.valueStart(inList)
		a.out = append(a.out, c)
		a.open = append(a.open, c)
		a.pos++
		a.more = false
		a.state = g4Key
		if c == '[' {
			a.state = g4Value
		}
	default:
		lit, n := gemmaLiteral(rest)
		if n > 0 {
			a.valueStart(inList)
			a.out = append(a.out, lit...)
			a.pos += n
			a.state = g4After
		}
		return a.read(n)
	}
	return true
}

// read goes on after a piece of n bytes: 0 means more are needed, -1 that
// the arguments break off here.
func (a *gemmaArgs) read(n int) bool {
	if n < 0 {
		a.broken()
	}
	return n != 0
}

// member starts a member of the innermost container.
func (a *gemmaArgs) member() {
	if a.more {
		a.out = append(a.out, ", "...)
	}
	a.more = true
}

// valueStart starts a value: a member of a list, or a dict's value after
// its key (or the arguments themselves).
func (a *gemmaArgs) valueStart(inList bool) {
	if inList {
		a.member()
	}
}

// close ends the innermost container at pos; the arguments are complete
// when that was their dict.
func (a *gemmaArgs) close() {
	a.pos++
	a.closeOne()
	a.state = g4After
	a.more = true
	a.done = len(a.open) == 0
}

func (a *gemmaArgs) closeOne() {
	if a.open[len(a.open)-1] == '{' {
		a.out = append(a.out, '}')
	} else {
		a.out = append(a.out, ']')
	}
	a.open = a.open[:len(a.open)-1]
}

// broken ends the arguments where they stop being Gemma's notation,
// closing what is open so that they stay JSON.
func (a *gemmaArgs) broken() {
	if a.state == g4Value && len(a.open) > 0 && a.open[len(a.open)-1] == '{' && a.more {
		a.out = append(a.out, "null"...) // a key without its value
	}
	for len(a.open) > 0 {
		a.closeOne()
	}
	a.done = true
}

// gemmaKey reads a dict key and its colon at the start of b: bare, or
// between <|"|> as the template writes keys in tool schemas. n is the bytes
// read, 0 when more are needed, -1 when b holds no key.
func gemmaKey(b []byte) (key string, n int) {
	i := 0
	if bytes.HasPrefix(b, []byte(g4Quote)) {
		end := bytes.Index(b[len(g4Quote):], []byte(g4Quote))
		if end < 0 {
			return "", 0
		}
		key = string(b[len(g4Quote) : len(g4Quote)+end])
		i = skipSpace(b, 2*len(g4Quote)+end)
		if i >= len(b) {
			return "", 0
		}
		if b[i] != ':' {
			return "", -1
		}
		return key, i + 1
	}
	if bytes.HasPrefix([]byte(g4Quote), b) {
		return "", 0
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ':':
			key = strings.TrimSpace(string(b[:i]))
			if key == "" {
				return "", -1
			}
			return key, i + 1
		case '{', '}', '[', ']', ',', '<', '\n':
			return "", -1
		}
	}
	return "", 0
}

// gemmaLiteral reads a number, true, false, null or None at the start of
// b, or a string in JSON's quotes, and returns it as JSON; a bare word
// that is none of them becomes a JSON string. n is as for gemmaKey.
func gemmaLiteral(b []byte) (string, int) {
	if b[0] == '"' {
		end := stringEnd(b, 0)
		if end < 0 {
			return "", 0
		}
		if !json.Valid(b[:end]) {
			return "", -1
		}
		return string(b[:end]), end
	}
	end := bytes.IndexAny(b, ",}] \t\r\n<")
	if end < 0 {
		return "", 0
	}
	if end == 0 {
		return "", -1
	}
	lit := string(b[:end])
	switch lit {
	case "None":
		return "null", end
	case "True":
		return "true", end
	case "False":
		return "false", end
	}
	var v any
	if json.Unmarshal([]byte(lit), &v) == nil {
		if _, isString := v.(string); !isString {
			return lit, end
		}
	}
	return string(appendJSONString(nil, lit)), end
}

// appendJSONText appends s escaped as the inside of a JSON string (only
// what JSON requires: quotes, backslashes and control characters).
func appendJSONText(dst, s []byte) []byte {
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

func appendJSONString(dst []byte, s string) []byte {
	return append(appendJSONText(append(dst, '"'), []byte(s)), '"')
}

// scanGemma reads Gemma 4's call: [call:]NAME{…}, up to <tool_call|>. A
// name followed by no arguments has none ({}).
func (c *callScan) scanGemma(b []byte) (int, bool) {
	i := skipSpace(b, 0)
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, []byte(g4CallPrefix)):
		i += len(g4CallPrefix)
	case bytes.HasPrefix([]byte(g4CallPrefix), rest):
		return 0, false
	}
	j := bytes.IndexAny(b[i:], "{<")
	if j < 0 {
		if bytes.ContainsAny(b[i:], " \t\r\n\"}:,") {
			return i, true // not a call
		}
		return 0, false
	}
	name := strings.TrimSpace(string(b[i : i+j]))
	if name == "" || strings.ContainsAny(name, " \t\r\n\"'{}[]:,") {
		return i, true
	}
	c.name = name
	if b[i+j] == '<' {
		return i + j, true // no arguments
	}
	if c.g4 == nil {
		c.g4 = &gemmaArgs{pos: i + j, state: g4Value}
	}
	end, done := c.g4.run(b)
	c.built = c.g4.out
	return end, done
}

// gemmaNotation writes JSON value v in Gemma 4's notation, as its template
// writes tool call arguments (format_argument with escape_keys=False: dict
// keys bare and in dictsort order, null as None). ok is false when v is not
// JSON.
func gemmaNotation(v []byte) (string, bool) {
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return "", false
	}
	var b strings.Builder
	writeGemma(&b, x, v)
	return b.String(), true
}

// writeGemma writes x, decoded from raw (whose object key order it keeps
// for the stable sort), in Gemma's notation.
func writeGemma(b *strings.Builder, x any, raw []byte) {
	switch v := x.(type) {
	case string:
		b.WriteString(g4Quote + v + g4Quote)
	case bool, json.Number:
		fmt.Fprint(b, v)
	case nil:
		b.WriteString("None") // Python's, as the template prints it
	case []any:
		var items []json.RawMessage
		json.Unmarshal(raw, &items)
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeGemma(b, e, items[i])
		}
		b.WriteByte(']')
	case map[string]any:
		keys, vals := orderedKeys(raw)
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool {
			return strings.ToLower(keys[order[i]]) < strings.ToLower(keys[order[j]])
		})
		b.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(keys[i] + ":")
			writeGemma(b, v[keys[i]], vals[i])
		}
		b.WriteByte('}')
	}
}

// orderedKeys returns a JSON object's keys in their order, and their
// values' text.
func orderedKeys(raw []byte) ([]string, []json.RawMessage) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.Token() // {
	var keys []string
	var vals []json.RawMessage
	for d.More() {
		t, err := d.Token()
		if err != nil {
			break
		}
		var v json.RawMessage
		if d.Decode(&v) != nil {
			break
		}
		keys = append(keys, t.(string))
		vals = append(vals, v)
	}
	return keys, vals
}

// gemmaCall is one call of tool t in Gemma 4's format: its parameters in
// dictsort order, the required ones always there, each value valid
// against its schema as far as gemmaValue goes.
func (s Spec) gemmaCall(g *gbnf, t Tool, prefix string) (string, string, error) {
	var rules strings.Builder
	args, err := gemmaValue(g, objectSchema(t.Parameters), prefix, &rules)
	if err != nil {
		return "", "", fmt.Errorf("the parameters of tool %q: %w", t.Name, err)
	}
	call := fmt.Sprintf("%s %s %s %s", g.mark(g4CallOpen), grammar.Quote(g4CallPrefix+t.Name), args, g.mark(g4CallClose))
	return call, rules.String(), nil
}

// gemmaSchema is what gemmaValue reads of a JSON Schema.
type gemmaSchema struct {
	Type     json.RawMessage   `json:"type"`
	Enum     []json.RawMessage `json:"enum"`
	Const    json.RawMessage   `json:"const"`
	Items    json.RawMessage   `json:"items"`
	MinItems *int              `json:"minItems"`
	MaxItems *int              `json:"maxItems"`
	Nullable bool              `json:"nullable"`
	// additionalProperties false with no properties: only {}.
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
}

// gemmaValue is the rule of a value valid against schema, in Gemma's
// notation, its rules written to rules under prefix. Strings are any text
// without <|"|> or one of an enum's values (their lengths, pattern and
// format are not enforced); numbers, booleans and null are JSON's, held to
// the schema; a dict has the schema's properties in dictsort order, the
// required ones always there (no others); a list has items valid against
// the items schema, as many as minItems and maxItems allow. Schemas that
// give no type, or refer to others, take any value.
func gemmaValue(g *gbnf, schema json.RawMessage, prefix string, rules *strings.Builder) (string, error) {
	var sc gemmaSchema
	if err := json.Unmarshal(schema, &sc); err != nil {
		return "", err
	}
	if len(sc.Const) > 0 {
		sc.Enum = []json.RawMessage{sc.Const}
	}
	if len(sc.Enum) > 0 {
		var alts []string
		for _, e := range sc.Enum {
			lit, ok := gemmaNotation(e)
			if !ok {
				return "", fmt.Errorf("enum value %s is not JSON", e)
			}
			alts = append(alts, g.gemmaText(lit))
		}
		return "( " + strings.Join(alts, " | ") + " )", nil
	}
	var types []string
	var one string
	if json.Unmarshal(sc.Type, &one) == nil && one != "" {
		types = []string{one}
	} else if json.Unmarshal(sc.Type, &types) != nil || len(types) == 0 {
		return gemmaAny(g), nil
	}
	if sc.Nullable {
		types = append(types, "null")
	}
	var alts []string
	for i, typ := range types {
		p := fmt.Sprintf("%s%d-", prefix, i)
		var alt string
		switch typ {
		case "string":
			alt = fmt.Sprintf("%s %s %s", g.mark(g4Quote), g.without("g4-text", g4Quote, false), g.mark(g4Quote))
		case "null":
			alt = `( "null" | "None" )`
		case "integer", "number", "boolean":
			// Written as in JSON: the schema's own rule.
			var err error
			if alt, err = gemmaScalar(schema, typ, p, rules); err != nil {
				return "", err
			}
		case "object":
			var err error
			if alt, err = gemmaDict(g, schema, sc, p, rules); err != nil {
				return "", err
			}
		case "array":
			item := gemmaAny(g)
			if len(sc.Items) > 0 && string(sc.Items) != "true" {
				var err error
				if item, err = gemmaValue(g, sc.Items, p+"i-", rules); err != nil {
					return "", err
				}
			}
			alt = gemmaList(item, sc.MinItems, sc.MaxItems)
		default:
			return "", fmt.Errorf("unknown type %q", typ)
		}
		alts = append(alts, alt)
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return "( " + strings.Join(alts, " | ") + " )", nil
}

// gemmaScalar is the rule of a number or boolean valid against schema
// (with its type set to typ alone), which Gemma writes as JSON does; of
// any value of the type when the schema does not compile alone (it refers
// to others).
func gemmaScalar(schema json.RawMessage, typ, prefix string, rules *strings.Builder) (string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(schema, &m); err != nil {
		return "", err
	}
	m["type"] = json.RawMessage(mustJSON(typ))
	delete(m, "nullable")
	typed, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	src, err := jsonschema.Compile(typed, jsonschema.Options{})
	if err != nil {
		if src, err = jsonschema.Compile([]byte(`{"type": `+mustJSON(typ)+`}`), jsonschema.Options{}); err != nil {
			return "", err
		}
	}
	rules.WriteString(prefixRules(src, prefix))
	return prefix + "root", nil
}

// gemmaDict is a dict of an object schema's properties.
func gemmaDict(g *gbnf, schema json.RawMessage, sc gemmaSchema, prefix string, rules *strings.Builder) (string, error) {
	props, required, err := orderedProperties(schema)
	if err != nil {
		return "", err
	}
	if len(props) == 0 {
		if strings.TrimSpace(string(sc.AdditionalProperties)) == "false" {
			return `"{" "}"`, nil
		}
		gemmaAny(g)
		return "g4-dict", nil
	}
	sort.SliceStable(props, func(i, j int) bool { return strings.ToLower(props[i].name) < strings.ToLower(props[j].name) })
	params := make([]string, len(props))
	req := make([]bool, len(props))
	for j, p := range props {
		v, err := gemmaValue(g, p.schema, fmt.Sprintf("%sp%d-", prefix, j), rules)
		if err != nil {
			return "", fmt.Errorf("property %q: %w", p.name, err)
		}
		params[j] = fmt.Sprintf("%s %s", grammar.Quote(p.name+":"), v)
		req[j] = required[p.name]
	}
	return fmt.Sprintf(`"{" %s "}"`, orderedArgs(g, prefix, params, req, `","`)), nil
}

// gemmaList is a list of item values, bounded by minItems and maxItems.
func gemmaList(item string, minItems, maxItems *int) string {
	lo, hi := 0, -1
	if minItems != nil {
		lo = *minItems
	}
	if maxItems != nil {
		hi = *maxItems
	}
	if hi == 0 {
		return `"[" "]"`
	}
	more := fmt.Sprintf(`( "," %s )`, item)
	switch {
	case hi < 0:
		more += fmt.Sprintf("{%d,}", max(lo-1, 0))
	default:
		more += fmt.Sprintf("{%d,%d}", max(lo-1, 0), hi-1)
	}
	list := item + " " + more
	if lo == 0 {
		list = "( " + list + " )?"
	}
	return fmt.Sprintf(`"[" %s "]"`, list)
}

// gemmaAny is any value in Gemma's notation.
func gemmaAny(g *gbnf) string {
	if !g.names["g4-any"] {
		str := fmt.Sprintf("%s %s %s", g.mark(g4Quote), g.without("g4-text", g4Quote, false), g.mark(g4Quote))
		g.add("g4-any", fmt.Sprintf(`%s | g4-dict | g4-list | g4-num | "true" | "false" | "null" | "None"`, str))
		g.add("g4-dict", `"{" ( g4-key ":" g4-any ( "," g4-key ":" g4-any )* )? "}"`)
		g.add("g4-key", `[^:{}\[\],<"\n ]+`)
		g.add("g4-list", `"[" ( g4-any ( "," g4-any )* )? "]"`)
		g.add("g4-num", `"-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?`)
	}
	return "g4-any"
}

// gemmaText is literal Gemma notation as GBNF, its string quotes as
// markers.
func (g *gbnf) gemmaText(s string) string {
	parts := strings.Split(s, g4Quote)
	var seq []string
	for i, p := range parts {
		if i > 0 {
			seq = append(seq, g.mark(g4Quote))
		}
		if p != "" {
			seq = append(seq, grammar.Quote(p))
		}
	}
	return strings.Join(seq, " ")
}
