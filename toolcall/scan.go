package toolcall

import (
	"encoding/json"
	"strings"
)

// callScan reads one call from the start of the parser's buffer. The
// buffer is scanned again from its start on each chunk (a call is short),
// and what was already passed on is remembered by count.
type callScan struct {
	format    Format
	name, id  string
	announced bool
	// The arguments are buf[argsStart:argsEnd]; argsEnd is -1 until they
	// are complete, and argsAvail is then how far they are known to go.
	argsStart, argsEnd, argsAvail int
	argsString                    bool // the arguments are a JSON string holding JSON
	argsSent                      int  // bytes of the arguments already passed on
	// built are the arguments as far as they are read, for formats that
	// write them other than as JSON (nil for the others).
	built []byte
	tools []Tool     // the offered tools, for the types of parameters
	g4    *gemmaArgs // Gemma 4's arguments, read on from where they stopped
	// Where pending stopped in the arguments, and its state there.
	vpos, vdepth int
	vstr, vesc   bool
}

// scan reads the call in b; it returns the bytes the call takes and
// whether it is complete.
func (c *callScan) scan(b []byte) (int, bool) {
	c.argsStart, c.argsEnd, c.argsAvail = -1, -1, -1
	c.built = nil
	switch formats[c.format].body {
	case bodyNameArgs:
		return c.scanMistralV11(b)
	case bodySep:
		return c.scanSep(b)
	case bodyXML:
		return c.scanXML(b)
	case bodyGLM:
		return c.scanGLM(b)
	case bodyPython:
		return c.scanPython(b)
	case bodyGemma:
		return c.scanGemma(b)
	}
	return c.scanObject(b, 0)
}

// pending reports whether the call's arguments, a JSON object or array
// seen to start before, are still open at the end of b. It follows them
// from where it stopped last, so that long arguments arriving in many
// chunks are read once, not again with every chunk.
func (c *callScan) pending(b []byte) bool {
	if c.argsStart < 0 || c.argsEnd >= 0 || c.argsString || c.built != nil || c.argsStart >= len(b) {
		return false
	}
	if o := b[c.argsStart]; o != '{' && o != '[' {
		return false
	}
	if c.vpos <= c.argsStart {
		c.vpos, c.vdepth, c.vstr, c.vesc = c.argsStart, 0, false, false
	}
	for ; c.vpos < len(b); c.vpos++ {
		ch := b[c.vpos]
		switch {
		case c.vesc:
			c.vesc = false
		case c.vstr:
			switch ch {
			case '\\':
				c.vesc = true
			case '"':
				c.vstr = false
			}
		case ch == '"':
			c.vstr = true
		case ch == '{' || ch == '[':
			c.vdepth++
		case ch == '}' || ch == ']':
			c.vdepth--
			if c.vdepth == 0 {
				return false // complete: the full scan takes over
			}
		}
	}
	return true
}

// scanObject reads a JSON object {"name": …, "arguments"|"parameters": …}
// starting at b[i] (after spaces).
func (c *callScan) scanObject(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, false
	}
	if b[i] != '{' {
		return i, true // not an object: no call
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i++
			continue
		case '"':
		default:
			return i, true // broken: end the call here
		}
		ke := stringEnd(b, i)
		if ke < 0 {
			return 0, false
		}
		var key string
		json.Unmarshal(b[i:ke], &key)
		i = skipSpace(b, ke)
		if i >= len(b) {
			return 0, false
		}
		if b[i] != ':' {
			return i, true
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, false
		}
		ve := valueEnd(b, i)
		switch key {
		case "arguments", "parameters":
			c.argsStart = i
			c.argsString = b[i] == '"'
			if ve < 0 {
				c.argsAvail = len(b)
				return 0, false
			}
			c.argsEnd = ve
		case "name", "id", "tool_name", "tool_call_id":
			if ve < 0 {
				return 0, false
			}
			var s string
			if json.Unmarshal(b[i:ve], &s) == nil {
				if key == "name" || key == "tool_name" {
					c.name = s
				} else {
					c.id = s
				}
			}
		case "function":
			// {"type": "function", "function": {"name": …, "arguments": …}}
			if b[i] == '{' {
				inner := *c
				n, done := inner.scanObject(b, i)
				c.name, c.argsStart, c.argsEnd, c.argsAvail, c.argsString = inner.name, inner.argsStart, inner.argsEnd, inner.argsAvail, inner.argsString
				if !done {
					return 0, false
				}
				ve = n
			}
		}
		if ve < 0 {
			return 0, false
		}
		i = ve
	}
}

// scanMistralV11 reads NAME[CALL_ID]ID[ARGS]{…} or NAME[ARGS]{…}.
func (c *callScan) scanMistralV11(b []byte) (int, bool) {
	s := string(b)
	j := strings.IndexByte(s, '[')
	if j < 0 {
		if strings.ContainsAny(s, " \t\r\n{\"") {
			return 0, true // not a name: no call
		}
		return 0, false
	}
	name := strings.TrimSpace(s[:j])
	rest := s[j:]
	if strings.HasPrefix(rest, "[CALL_ID]") {
		k := strings.Index(rest, "[ARGS]")
		if k < 0 {
			return 0, false
		}
		c.id = rest[len("[CALL_ID]"):k]
		rest = rest[k:]
	}
	if !strings.HasPrefix(rest, "[ARGS]") {
		if strings.HasPrefix("[ARGS]", rest) || strings.HasPrefix("[CALL_ID]", rest) {
			return 0, false
		}
		return 0, true
	}
	c.name = name
	ve := c.args(b, len(s)-len(rest)+len("[ARGS]"))
	if ve < 0 {
		return 0, false
	}
	return ve, true
}

// args reads the arguments' JSON value from b[i] on (after spaces) and
// returns where it ends, or -1 when it is not complete.
func (c *callScan) args(b []byte, i int) int {
	i = skipSpace(b, i)
	if i >= len(b) {
		return -1
	}
	c.argsStart = i
	c.argsString = b[i] == '"'
	ve := valueEnd(b, i)
	if ve < 0 {
		c.argsAvail = len(b)
		return -1
	}
	c.argsEnd = ve
	return ve
}

// scanSep reads NAME SEP {…} END: DeepSeek V3.1's, DeepSeek R1's (whose
// name part is "function", the name follows the separator on its own line
// and the arguments are in a json fence), and Kimi-K2's (whose name part
// is the call's id, functions.NAME:INDEX).
func (c *callScan) scanSep(b []byte) (int, bool) {
	def := formats[c.format]
	s := string(b)
	k := strings.Index(s, def.sep)
	if k < 0 {
		return 0, false
	}
	i := k + len(def.sep)
	head := strings.TrimSpace(s[:k])
	switch c.format {
	case DeepSeekR1:
		nl := strings.IndexByte(s[i:], '\n')
		if nl < 0 {
			return 0, false
		}
		c.name = strings.TrimSpace(s[i : i+nl])
		i += nl + 1
		rest := s[i:]
		if !strings.HasPrefix(rest, "```json") {
			if strings.HasPrefix("```json", rest) {
				return 0, false
			}
		} else {
			i += len("```json")
		}
	case KimiK2:
		c.id = head
		name := strings.TrimPrefix(head, def.namePrefix)
		if j := strings.LastIndexByte(name, ':'); j >= 0 {
			name = name[:j]
		}
		c.name = name
	default:
		c.name = head
	}
	ve := c.args(b, i)
	if ve < 0 {
		return 0, false
	}
	rest := strings.TrimLeft(s[ve:], " \t\r\n")
	if len(rest) < 3 && strings.HasPrefix("```", rest) {
		return 0, false // maybe the closing fence
	}
	rest = strings.TrimLeft(strings.TrimPrefix(rest, "```"), " \t\r\n")
	if !strings.HasPrefix(rest, def.end) {
		if len(rest) < len(def.end) && strings.HasPrefix(def.end, rest) {
			return 0, false
		}
		return len(s) - len(rest), true
	}
	return len(s) - len(rest) + len(def.end), true
}

// scanXML reads Qwen3-Coder's call:
// <function=NAME>\n<parameter=K>\nV\n</parameter>\n…</function>.
// The arguments are built as a JSON object, parameter by parameter.
func (c *callScan) scanXML(b []byte) (int, bool) {
	s := string(b)
	i := skipSpace(b, 0)
	const fn = "<function="
	if !strings.HasPrefix(s[i:], fn) {
		if strings.HasPrefix(fn, s[i:]) {
			return 0, false
		}
		return i, true // not a call
	}
	i += len(fn)
	gt := strings.IndexByte(s[i:], '>')
	if gt < 0 {
		return 0, false
	}
	c.name = strings.TrimSpace(s[i : i+gt])
	i += gt + 1
	c.built = []byte("{")
	for {
		i = skipSpace(b, i)
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "</function>"):
			c.built = append(c.built, '}')
			return i + len("</function>"), true
		case strings.HasPrefix(rest, "<parameter="):
			j := i + len("<parameter=")
			gt := strings.IndexByte(s[j:], '>')
			if gt < 0 {
				return 0, false
			}
			key := strings.TrimSpace(s[j : j+gt])
			j += gt + 1
			end := strings.Index(s[j:], "</parameter>")
			if end < 0 {
				return 0, false
			}
			c.addArg(key, trimOneNewline(s[j:j+end]))
			i = j + end + len("</parameter>")
		case strings.HasPrefix("</function>", rest) || strings.HasPrefix("<parameter=", rest):
			return 0, false
		default:
			c.built = append(c.built, '}')
			return i, true // broken: end the call here
		}
	}
}

// scanGLM reads GLM-4.5's call:
// NAME\n<arg_key>K</arg_key>\n<arg_value>V</arg_value>…, up to </tool_call>.
func (c *callScan) scanGLM(b []byte) (int, bool) {
	s := string(b)
	i := skipSpace(b, 0)
	j := strings.IndexAny(s[i:], "\n<")
	if j < 0 {
		return 0, false
	}
	c.name = strings.TrimSpace(s[i : i+j])
	if c.name == "" {
		return i, true // not a call
	}
	i += j
	c.built = []byte("{")
	for {
		i = skipSpace(b, i)
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<arg_key>"):
			k := strings.Index(rest, "</arg_key>")
			if k < 0 {
				return 0, false
			}
			key := strings.TrimSpace(rest[len("<arg_key>"):k])
			v := skipSpace(b, i+k+len("</arg_key>"))
			if !strings.HasPrefix(s[v:], "<arg_value>") {
				if strings.HasPrefix("<arg_value>", s[v:]) {
					return 0, false
				}
				c.built = append(c.built, '}')
				return v, true
			}
			v += len("<arg_value>")
			end := strings.Index(s[v:], "</arg_value>")
			if end < 0 {
				return 0, false
			}
			c.addArg(key, s[v:v+end])
			i = v + end + len("</arg_value>")
		case rest == "" || strings.HasPrefix("<arg_key>", rest):
			return 0, false
		default:
			c.built = append(c.built, '}')
			return i, true // the region's closing marker follows
		}
	}
}

// scanPython reads one call written as Python: NAME(K=V, …), values
// being JSON or Python literals (True, False, None, 'single-quoted').
func (c *callScan) scanPython(b []byte) (int, bool) {
	s := string(b)
	i := skipSpace(b, 0)
	j := strings.IndexByte(s[i:], '(')
	if j < 0 {
		if strings.ContainsAny(s[i:], " \t\n)]=,\"") {
			return i, true // not a call
		}
		return 0, false
	}
	c.name = strings.TrimSpace(s[i : i+j])
	if c.name == "" || strings.ContainsAny(c.name, " \t\n\"'[]{}") {
		c.name = ""
		return i, true
	}
	i += j + 1
	c.built = []byte("{")
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		if b[i] == ')' {
			c.built = append(c.built, '}')
			return i + 1, true
		}
		if b[i] == ',' {
			i++
			continue
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return 0, false
		}
		key := strings.TrimSpace(s[i : i+eq])
		v := skipSpace(b, i+eq+1)
		if v >= len(b) {
			return 0, false
		}
		val, end, ok := pyValue(s, v)
		if !ok {
			if end < 0 {
				return 0, false
			}
			c.built = append(c.built, '}')
			return v, true // broken: end the call here
		}
		if len(c.built) > 1 {
			c.built = append(c.built, ", "...)
		}
		k, _ := json.Marshal(key)
		c.built = append(append(append(c.built, k...), ": "...), val...)
		i = end
	}
}

// pyValue reads a JSON or Python literal at s[i:] and returns it as JSON
// and where it ends; end is -1 when it is not complete yet.
func pyValue(s string, i int) (string, int, bool) {
	switch {
	case strings.HasPrefix(s[i:], "True"):
		return "true", i + 4, true
	case strings.HasPrefix(s[i:], "False"):
		return "false", i + 5, true
	case strings.HasPrefix(s[i:], "None"):
		return "null", i + 4, true
	case s[i] == '\'':
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				if j+1 >= len(s) {
					return "", -1, false
				}
				j++
				b.WriteByte(s[j])
			case '\'':
				q, _ := json.Marshal(b.String())
				return string(q), j + 1, true
			default:
				b.WriteByte(s[j])
			}
		}
		return "", -1, false
	}
	if len(s)-i < 5 && (strings.HasPrefix("True", s[i:]) || strings.HasPrefix("False", s[i:]) || strings.HasPrefix("None", s[i:])) {
		return "", -1, false
	}
	end := valueEnd([]byte(s), i)
	if end < 0 {
		return "", -1, false
	}
	if v := s[i:end]; json.Valid([]byte(v)) {
		return v, end, true
	}
	return "", end, false
}

// addArg adds one parameter to the arguments built: its value as JSON
// when it is JSON and the tool does not declare the parameter a string,
// else as a string.
func (c *callScan) addArg(key, val string) {
	if len(c.built) > 1 {
		c.built = append(c.built, ", "...)
	}
	k, _ := json.Marshal(key)
	c.built = append(append(c.built, k...), ": "...)
	if v := strings.TrimSpace(val); !c.stringParam(key) && v != "" && json.Valid([]byte(v)) {
		c.built = append(c.built, v...)
		return
	}
	q, _ := json.Marshal(val)
	c.built = append(c.built, q...)
}

// stringParam reports whether the called tool declares parameter key a
// string.
func (c *callScan) stringParam(key string) bool {
	for _, t := range c.tools {
		if t.Name == c.name {
			return propType(t.Parameters, key) == "string"
		}
	}
	return false
}

// propType is the single type a schema gives property key, or "".
func propType(schema json.RawMessage, key string) string {
	var s struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return ""
	}
	var t string
	json.Unmarshal(s.Properties[key].Type, &t)
	return t
}

func trimOneNewline(s string) string {
	s = strings.TrimPrefix(s, "\n")
	return strings.TrimSuffix(s, "\n")
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
