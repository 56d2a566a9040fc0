package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/ardanlabs/jinja"
)

// Object is a JSON object whose members keep their order, as Python dicts
// do. Templates see an Object as a mapping iterated in this order, and tojson
// writes it in this order; use it (or ParseJSON) for tool schemas so that the
// prompt matches what transformers renders from the same JSON.
type Object []Member

// Member is one key/value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// Get returns the value of the first member named key.
func (o Object) Get(key string) (any, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the members in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a JSON object keeping its member order (nested objects
// become Objects too, see ParseJSON).
func (o *Object) UnmarshalJSON(data []byte) error {
	v, err := ParseJSON(data)
	if err != nil {
		return err
	}
	obj, ok := v.(Object)
	if !ok {
		return fmt.Errorf("chat: JSON value is not an object")
	}
	*o = obj
	return nil
}

// ParseJSON decodes one JSON value the way Python's json.loads does, for
// passing to a template: objects become Object (key order kept, a repeated
// key keeps its first position and last value), arrays []any, strings
// string, true/false bool, null nil, numbers int64 when written without a
// fraction or exponent and in range, float64 otherwise.
func ParseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeJSON(dec)
	if err != nil {
		return nil, fmt.Errorf("chat: parse JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("chat: parse JSON: data after the value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := Object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				if i := slices.IndexFunc(obj, func(m Member) bool { return m.Key == key }); i >= 0 {
					obj[i].Value = v
				} else {
					obj = append(obj, Member{key, v})
				}
			}
			_, err := dec.Token() // '}'
			return obj, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ']'
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return number(t), nil
	default: // string, bool, nil
		return t, nil
	}
}

// number converts a JSON number like Python's json module: int when it has
// no fraction or exponent (and fits int64), float otherwise.
func number(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := n.Int64(); err == nil {
			return i
		}
	}
	f, err := n.Float64()
	if err != nil {
		return math.Inf(1) // overflow: Python gives inf too
	}
	return f
}

// toValue converts a Go value into a template value. Supported: nil, bool,
// all integer and float kinds, string, json.Number, json.RawMessage (parsed
// with ParseJSON), Object, map[string]T (keys sorted, as Go maps have no
// order), slices and arrays, and jinja.Value itself.
func toValue(v any) (jinja.Value, error) {
	switch x := v.(type) {
	case nil:
		return jinja.None(), nil
	case jinja.Value:
		return x, nil
	case bool:
		return jinja.NewBool(x), nil
	case string:
		return jinja.NewString(x), nil
	case int:
		return jinja.NewInt(int64(x)), nil
	case int64:
		return jinja.NewInt(x), nil
	case float64:
		return jinja.NewFloat(x), nil
	case json.Number:
		return toValue(number(x))
	case json.RawMessage:
		if len(bytes.TrimSpace(x)) == 0 {
			return jinja.None(), nil
		}
		p, err := ParseJSON(x)
		if err != nil {
			return jinja.Value{}, err
		}
		return toValue(p)
	case Object:
		d := jinja.NewDict()
		dict := d.AsDict()
		for _, m := range x {
			mv, err := toValue(m.Value)
			if err != nil {
				return jinja.Value{}, err
			}
			dict.Set(m.Key, mv)
		}
		return d, nil
	case []any:
		if x == nil {
			return jinja.None(), nil
		}
		items := make([]jinja.Value, len(x))
		for i, e := range x {
			ev, err := toValue(e)
			if err != nil {
				return jinja.Value{}, err
			}
			items[i] = ev
		}
		return jinja.NewList(items), nil
	}

	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return jinja.None(), nil
		}
		return toValue(rv.Elem().Interface())
	case reflect.Bool:
		return jinja.NewBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jinja.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return jinja.NewFloat(float64(u)), nil
		}
		return jinja.NewInt(int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return jinja.NewFloat(rv.Float()), nil
	case reflect.String:
		return jinja.NewString(rv.String()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return jinja.None(), nil
		}
		items := make([]jinja.Value, rv.Len())
		for i := range items {
			ev, err := toValue(rv.Index(i).Interface())
			if err != nil {
				return jinja.Value{}, err
			}
			items[i] = ev
		}
		return jinja.NewList(items), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		if rv.IsNil() {
			return jinja.None(), nil
		}
		keys := make([]string, 0, rv.Len())
		for _, k := range rv.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		d := jinja.NewDict()
		dict := d.AsDict()
		for _, k := range keys {
			ev, err := toValue(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface())
			if err != nil {
				return jinja.Value{}, err
			}
			dict.Set(k, ev)
		}
		return d, nil
	}
	return jinja.Value{}, fmt.Errorf("chat: cannot pass a %T to a template", v)
}
