package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// A value is a decoded JSON value that keeps what encoding/json's maps
// lose: the order of an object's members (a grammar emits properties in
// schema order) and the text of numbers (1.0 stays 1.0, big integers stay
// exact).
type value struct {
	kind kind
	b    bool
	num  string // kindNumber: the literal text
	str  string
	arr  []*value
	obj  []member
}

type member struct {
	key string
	val *value
}

type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// get returns the member named key, or nil.
func (v *value) get(key string) *value {
	if v == nil || v.kind != kindObject {
		return nil
	}
	for _, m := range v.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// decode reads exactly one JSON value from data.
func decode(data []byte) (*value, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 512

func decodeValue(d *json.Decoder, depth int) (*value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	t, err := d.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, b: t}, nil
	case json.Number:
		return &value{kind: kindNumber, num: string(t)}, nil
	case string:
		return &value{kind: kindString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kindArray, arr: []*value{}}
			for d.More() {
				e, err := decodeValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			_, err := d.Token() // ]
			return v, err
		case '{':
			v := &value{kind: kindObject, obj: []member{}}
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				key := k.(string)
				if seen[key] {
					return nil, fmt.Errorf("object key %q appears twice", key)
				}
				seen[key] = true
				e, err := decodeValue(d, depth+1)
				if err != nil {
					return nil, err
				}
				v.obj = append(v.obj, member{key, e})
			}
			_, err := d.Token() // }
			return v, err
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", t)
}

// rat returns a number's exact value.
func (v *value) rat() (*big.Rat, bool) {
	if v.kind != kindNumber {
		return nil, false
	}
	return parseRat(v.num)
}

// parseRat reads a JSON number exactly. Exponents are bounded so that a
// hostile 1e999999999 cannot allocate a huge integer.
func parseRat(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		var e int
		if _, err := fmt.Sscan(s[i+1:], &e); err != nil || e > 10000 || e < -10000 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// equal is JSON Schema's equality: numbers by value, objects regardless
// of member order.
func equal(a, b *value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindNull:
		return true
	case kindBool:
		return a.b == b.b
	case kindNumber:
		x, ok1 := a.rat()
		y, ok2 := b.rat()
		if !ok1 || !ok2 {
			return a.num == b.num
		}
		return x.Cmp(y) == 0
	case kindString:
		return a.str == b.str
	case kindArray:
		if len(a.arr) != len(b.arr) {
			return false
		}
		for i := range a.arr {
			if !equal(a.arr[i], b.arr[i]) {
				return false
			}
		}
		return true
	}
	if len(a.obj) != len(b.obj) {
		return false
	}
	for _, m := range a.obj {
		o := b.get(m.key)
		if o == nil || !equal(m.val, o) {
			return false
		}
	}
	return true
}

// writeJSONString writes s as a JSON string in the one encoding the
// grammars produce for fixed text: only the escapes JSON requires (\" \\
// and control characters), everything else as UTF-8.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

// text returns v's canonical JSON text, compact, members in their order.
func (v *value) text() string {
	var b strings.Builder
	v.write(&b, "", "")
	return b.String()
}

// write writes v with the given separators after commas and colons.
func (v *value) write(b *strings.Builder, comma, colon string) {
	switch v.kind {
	case kindNull:
		b.WriteString("null")
	case kindBool:
		if v.b {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case kindNumber:
		b.WriteString(v.num)
	case kindString:
		writeJSONString(b, v.str)
	case kindArray:
		b.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				b.WriteString(",")
				b.WriteString(comma)
			}
			e.write(b, comma, colon)
		}
		b.WriteByte(']')
	case kindObject:
		b.WriteByte('{')
		for i, m := range v.obj {
			if i > 0 {
				b.WriteString(",")
				b.WriteString(comma)
			}
			writeJSONString(b, m.key)
			b.WriteString(":")
			b.WriteString(colon)
			m.val.write(b, comma, colon)
		}
		b.WriteByte('}')
	}
}
