package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a metadata value, numbered as in the GGUF
// specification.
type ValueType uint32

// The metadata value types.
const (
	Uint8 ValueType = iota
	Int8
	Uint16
	Int16
	Uint32
	Int32
	Float32
	Bool
	String
	ArrayType
	Uint64
	Int64
	Float64
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded size of a scalar of this type, 0 for string and array.
func (t ValueType) size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes one encoded value of this type can take; it
// bounds array counts read from untrusted files.
func (t ValueType) minSize() int {
	switch t {
	case String:
		return 8
	case ArrayType:
		return 12
	}
	return t.size()
}

// Array is a metadata array. Values holds a typed slice matching Type:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64, or []Array for nested arrays.
type Array struct {
	Type   ValueType
	Values any
}

// Len returns the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// KV is one metadata entry. Value is a Go value of the matching type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or Array.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// typeOf returns the GGUF type for a Go metadata value.
func typeOf(v any) (ValueType, bool) {
	switch v.(type) {
	case uint8:
		return Uint8, true
	case int8:
		return Int8, true
	case uint16:
		return Uint16, true
	case int16:
		return Int16, true
	case uint32:
		return Uint32, true
	case int32:
		return Int32, true
	case float32:
		return Float32, true
	case bool:
		return Bool, true
	case string:
		return String, true
	case uint64:
		return Uint64, true
	case int64:
		return Int64, true
	case float64:
		return Float64, true
	case Array:
		return ArrayType, true
	}
	return 0, false
}

// NewKV makes a metadata entry from a Go value, inferring its GGUF type.
// Typed slices ([]string, []float32, []int32, …) become arrays.
func NewKV(key string, v any) KV {
	switch s := v.(type) {
	case []uint8:
		v = Array{Uint8, s}
	case []int8:
		v = Array{Int8, s}
	case []uint16:
		v = Array{Uint16, s}
	case []int16:
		v = Array{Int16, s}
	case []uint32:
		v = Array{Uint32, s}
	case []int32:
		v = Array{Int32, s}
	case []float32:
		v = Array{Float32, s}
	case []bool:
		v = Array{Bool, s}
	case []string:
		v = Array{String, s}
	case []uint64:
		v = Array{Uint64, s}
	case []int64:
		v = Array{Int64, s}
	case []float64:
		v = Array{Float64, s}
	case int:
		v = int64(s)
	}
	t, ok := typeOf(v)
	if !ok {
		panic(fmt.Sprintf("gguf: NewKV %q: unsupported Go type %T", key, v))
	}
	return KV{Key: key, Type: t, Value: v}
}

// asInt64 converts an integer value of any width; ok is false for other
// types and for uint64 values beyond int64.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}
