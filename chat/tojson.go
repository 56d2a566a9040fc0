package chat

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// tojsonFilter is the tojson filter of transformers' chat template
// environment:
//
//	def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
//	    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
//	                      separators=separators, sort_keys=sort_keys)
//
// It is reached through the name tojsonName (see lex.go). Output matches
// Python's json.dumps byte for byte: key order kept, no HTML escaping,
// non-ASCII written as is (unless ensure_ascii), Python's float repr (1.0,
// 1e-07, 1e+16), ", "/": " separators, or ","/": " with indent.
func tojsonFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Value{}, fmt.Errorf("tojson: missing value")
	}
	params := []string{"ensure_ascii", "indent", "separators", "sort_keys"}
	if len(args)-1 > len(params) {
		return jinja.Value{}, fmt.Errorf("tojson: too many arguments")
	}
	opt := map[string]jinja.Value{}
	for i, a := range args[1:] {
		opt[params[i]] = a
	}
	for k, v := range kwargs {
		if !slices.Contains(params, k) {
			return jinja.Value{}, fmt.Errorf("tojson: unexpected keyword argument %q", k)
		}
		if _, dup := opt[k]; dup {
			return jinja.Value{}, fmt.Errorf("tojson: multiple values for argument %q", k)
		}
		opt[k] = v
	}

	e := jsonEncoder{itemSep: ", ", keySep: ": "}
	e.ascii = opt["ensure_ascii"].IsTruthy()
	e.sortKeys = opt["sort_keys"].IsTruthy()
	if ind, ok := opt["indent"]; ok && !ind.IsNone() && !ind.IsUndefined() {
		switch {
		case ind.IsString():
			e.indent = ind.AsString()
		case ind.IsInt():
			e.indent = strings.Repeat(" ", int(max(0, min(ind.AsInt(), 1<<10))))
		case ind.IsBool():
			if ind.AsBool() {
				e.indent = " "
			}
		default:
			return jinja.Value{}, fmt.Errorf("tojson: indent must be an int or a string")
		}
		e.indented = true
		e.itemSep = ","
	}
	if sep, ok := opt["separators"]; ok && !sep.IsNone() && !sep.IsUndefined() {
		if !sep.IsList() || sep.AsList().Len() != 2 || !sep.AsList().Get(0).IsString() || !sep.AsList().Get(1).IsString() {
			return jinja.Value{}, fmt.Errorf("tojson: separators must be a pair of strings")
		}
		e.itemSep = sep.AsList().Get(0).AsString()
		e.keySep = sep.AsList().Get(1).AsString()
	}
	if err := e.encode(args[0], 0); err != nil {
		return jinja.Value{}, err
	}
	return jinja.NewString(e.b.String()), nil
}

type jsonEncoder struct {
	b               strings.Builder
	ascii, sortKeys bool
	indented        bool
	indent          string
	itemSep, keySep string
}

func (e *jsonEncoder) newline(depth int) {
	if e.indented {
		e.b.WriteByte('\n')
		for range depth {
			e.b.WriteString(e.indent)
		}
	}
}

func (e *jsonEncoder) encode(v jinja.Value, depth int) error {
	if depth > 512 {
		return fmt.Errorf("tojson: value nested too deeply")
	}
	switch {
	case v.IsNone():
		e.b.WriteString("null")
	case v.IsBool():
		if v.AsBool() {
			e.b.WriteString("true")
		} else {
			e.b.WriteString("false")
		}
	case v.IsInt():
		e.b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		switch f := v.AsFloat(); {
		case math.IsNaN(f):
			e.b.WriteString("NaN")
		case math.IsInf(f, 0):
			e.b.WriteString(map[bool]string{true: "Infinity", false: "-Infinity"}[f > 0])
		default:
			e.b.WriteString(pyFloatRepr(f))
		}
	case v.IsString():
		e.str(v.AsString())
	case v.IsList():
		items := v.AsList().Items
		if len(items) == 0 {
			e.b.WriteString("[]")
			return nil
		}
		e.b.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			if err := e.encode(it, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		if d.Len() == 0 {
			e.b.WriteString("{}")
			return nil
		}
		keys := d.Keys
		if e.sortKeys {
			keys = slices.Clone(keys)
			slices.Sort(keys)
		}
		e.b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				e.b.WriteString(e.itemSep)
			}
			e.newline(depth + 1)
			e.str(k)
			e.b.WriteString(e.keySep)
			val, _ := d.Get(k)
			if err := e.encode(val, depth+1); err != nil {
				return err
			}
		}
		e.newline(depth)
		e.b.WriteByte('}')
	case v.IsUndefined():
		return fmt.Errorf("tojson: Object of type Undefined is not JSON serializable")
	default:
		return fmt.Errorf("tojson: a %s is not JSON serializable", v.String())
	}
	return nil
}

// str writes s as Python's json module does: only ", \ and control
// characters are escaped (plus everything outside printable ASCII with
// ensure_ascii), with lowercase \u00XX escapes.
func (e *jsonEncoder) str(s string) {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		e.b.WriteString(`\u`)
		e.b.WriteByte(hex[r>>12&0xf])
		e.b.WriteByte(hex[r>>8&0xf])
		e.b.WriteByte(hex[r>>4&0xf])
		e.b.WriteByte(hex[r&0xf])
	}
	e.b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				e.b.WriteString(`\"`)
			case '\\':
				e.b.WriteString(`\\`)
			case '\n':
				e.b.WriteString(`\n`)
			case '\r':
				e.b.WriteString(`\r`)
			case '\t':
				e.b.WriteString(`\t`)
			case '\b':
				e.b.WriteString(`\b`)
			case '\f':
				e.b.WriteString(`\f`)
			default:
				if c < 0x20 || (e.ascii && c == 0x7f) {
					u(rune(c))
				} else {
					e.b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !e.ascii:
			e.b.WriteString(s[i : i+size])
		case r > 0xffff:
			r -= 0x10000
			u(0xd800 | (r>>10)&0x3ff)
			u(0xdc00 | r&0x3ff)
		default:
			u(r)
		}
		i += size
	}
	e.b.WriteByte('"')
}
