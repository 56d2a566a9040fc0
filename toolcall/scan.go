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
}

// scan reads the call in b; it returns the bytes the call takes and
// whether it is complete.
func (c *callScan) scan(b []byte) (int, bool) {
	c.argsStart, c.argsEnd, c.argsAvail = -1, -1, -1
	switch c.format {
	case MistralV11:
		return c.scanMistralV11(b)
	case DeepSeekR1, DeepSeekV3:
		return c.scanDeepSeek(b)
	}
	return c.scanObject(b, 0)
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
		case "name", "id":
			if ve < 0 {
				return 0, false
			}
			var s string
			if json.Unmarshal(b[i:ve], &s) == nil {
				if key == "name" {
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

// scanDeepSeek reads function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>
// (R1) or NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜> (V3.1).
func (c *callScan) scanDeepSeek(b []byte) (int, bool) {
	const sep, end = "<｜tool▁sep｜>", "<｜tool▁call▁end｜>"
	s := string(b)
	k := strings.Index(s, sep)
	if k < 0 {
		return 0, false
	}
	i := k + len(sep)
	if c.format == DeepSeekR1 {
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
	} else {
		c.name = strings.TrimSpace(s[:k])
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
	if !strings.HasPrefix(rest, end) {
		if len(rest) < len(end) && strings.HasPrefix(end, rest) {
			return 0, false
		}
		return len(s) - len(rest), true
	}
	return len(s) - len(rest) + len(end), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
