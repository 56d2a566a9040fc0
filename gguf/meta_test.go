package gguf

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestAccessors(t *testing.T) {
	f := mustParse(t, encode(t, []KV{
		NewKV("general.architecture", "gemma"),
		NewKV("u8", uint8(200)), NewKV("i8", int8(-3)), NewKV("u16", uint16(60000)), NewKV("i16", int16(-300)),
		NewKV("u32", uint32(4000000000)), NewKV("i32", int32(-7)), NewKV("u64", uint64(1<<40)),
		NewKV("u64.big", uint64(math.MaxUint64)), NewKV("i64", int64(-1<<40)),
		NewKV("f32", float32(0.25)), NewKV("f64", 1e-6), NewKV("b", true), NewKV("s", "text"),
		NewKV("toks", []string{"a", "b"}), NewKV("scores", []float32{1, -2}),
		NewKV("heads", []int32{8, 8, 4}), NewKV("u16s", []uint16{1, 65535}), NewKV("f64s", []float64{0.5, 2}),
		NewKV("u64s", []uint64{1, 2}), NewKV("bools", []bool{true}), NewKV("u64s.big", []uint64{1, math.MaxUint64}),
	}, nil))

	if arch, err := f.Architecture(); err != nil || arch != "gemma" {
		t.Errorf("Architecture: %q, %v", arch, err)
	}
	ints := map[string]int64{"u8": 200, "i8": -3, "u16": 60000, "i16": -300, "u32": 4000000000, "i32": -7, "u64": 1 << 40, "i64": -1 << 40}
	for k, want := range ints {
		if got, err := f.Int(k); err != nil || got != want {
			t.Errorf("Int(%s) = %d, %v; want %d", k, got, err, want)
		}
		if got, err := f.Float(k); err != nil || got != float64(want) {
			t.Errorf("Float(%s) = %v, %v; want %d", k, got, err, want)
		}
	}
	if v, err := f.Float("f32"); err != nil || v != 0.25 {
		t.Errorf("Float(f32) = %v, %v", v, err)
	}
	if v, err := f.Float("u64.big"); err != nil || v != math.MaxUint64 {
		t.Errorf("Float(u64.big) = %v, %v", v, err)
	}
	if v, err := f.Float("f64"); err != nil || v != 1e-6 {
		t.Errorf("Float(f64) = %v, %v", v, err)
	}
	if v, err := f.Bool("b"); err != nil || !v {
		t.Errorf("Bool = %v, %v", v, err)
	}
	if v, err := f.String("s"); err != nil || v != "text" {
		t.Errorf("String = %q, %v", v, err)
	}
	if v, err := f.Strings("toks"); err != nil || !reflect.DeepEqual(v, []string{"a", "b"}) {
		t.Errorf("Strings = %v, %v", v, err)
	}
	for k, want := range map[string][]float32{"scores": {1, -2}, "heads": {8, 8, 4}, "f64s": {0.5, 2}, "u16s": {1, 65535}} {
		if v, err := f.Float32s(k); err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("Float32s(%s) = %v, %v; want %v", k, v, err, want)
		}
	}
	for k, want := range map[string][]int64{"heads": {8, 8, 4}, "u16s": {1, 65535}, "u64s": {1, 2}} {
		if v, err := f.Ints(k); err != nil || !reflect.DeepEqual(v, want) {
			t.Errorf("Ints(%s) = %v, %v; want %v", k, v, err, want)
		}
	}
	if a, err := f.Array("heads"); err != nil || a.Type != Int32 || a.Len() != 3 {
		t.Errorf("Array = %+v, %v", a, err)
	}
	if !f.Has("s") || f.Has("nope") {
		t.Error("Has")
	}
	if _, ok := f.Lookup("nope"); ok {
		t.Error("Lookup of a missing key")
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor of a missing name")
	}

	// Errors name the key and, for a wrong type, the type found.
	errs := []struct {
		err  error
		want []string
	}{
		{second(f.String("u8")), []string{`"u8"`, "type uint8", "want string"}},
		{second(f.Int("s")), []string{`"s"`, "type string", "want an integer"}},
		{second(f.Int("u64.big")), []string{`"u64.big"`, "18446744073709551615", "does not fit in int64"}},
		{second(f.Ints("u64s.big")), []string{`"u64s.big"`, "element 1 is 18446744073709551615"}},
		{second(f.Int("f32")), []string{`"f32"`, "float32"}},
		{second(f.Float("s")), []string{`"s"`, "want a number"}},
		{second(f.Bool("u8")), []string{`"u8"`, "want bool"}},
		{second(f.Array("s")), []string{`"s"`, "want array"}},
		{second(f.Strings("scores")), []string{`"scores"`, "array of float32", "want string"}},
		{second(f.Ints("scores")), []string{`"scores"`, "array of float32", "want integers"}},
		{second(f.Float32s("toks")), []string{`"toks"`, "array of string"}},
		{second(f.Float32s("bools")), []string{`"bools"`}},
		{second(f.Strings("s")), []string{`"s"`, "want array"}},
	}
	for i, e := range errs {
		if e.err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, w := range e.want {
			if !strings.Contains(e.err.Error(), w) {
				t.Errorf("case %d: error %q does not contain %q", i, e.err, w)
			}
		}
	}
	// A missing key wraps ErrMissing and names the key.
	for _, err := range []error{second(f.String("x.y")), second(f.Int("x.y")), second(f.Float("x.y")), second(f.Bool("x.y")),
		second(f.Array("x.y")), second(f.Strings("x.y")), second(f.Float32s("x.y")), second(f.Ints("x.y"))} {
		if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), `"x.y"`) {
			t.Errorf("missing key: %v", err)
		}
	}
	g := mustParse(t, encode(t, nil, nil))
	if _, err := g.Architecture(); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "general.architecture") {
		t.Errorf("Architecture of an empty file: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestValueTypeString(t *testing.T) {
	want := []string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}
	for i, w := range want {
		if got := ValueType(i).String(); got != w {
			t.Errorf("ValueType(%d) = %q, want %q", i, got, w)
		}
	}
	if got := ValueType(13).String(); got != "type(13)" {
		t.Errorf("ValueType(13) = %q", got)
	}
}

func TestArrayLen(t *testing.T) {
	for _, v := range []any{[]uint8{1, 2}, []int8{1, 2}, []uint16{1, 2}, []int16{1, 2}, []uint32{1, 2}, []int32{1, 2},
		[]float32{1, 2}, []bool{true, false}, []string{"a", "b"}, []uint64{1, 2}, []int64{1, 2}, []float64{1, 2}, []Array{{}, {}}} {
		if n := (Array{Values: v}).Len(); n != 2 {
			t.Errorf("Len of %T = %d", v, n)
		}
	}
	if n := (Array{}).Len(); n != 0 {
		t.Errorf("Len of nil = %d", n)
	}
}
