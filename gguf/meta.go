package gguf

import (
	"fmt"
	"math"
)

// The accessors below read typed metadata. They return an error that names
// the key when it is absent or has an unexpected type, so callers can pass
// the error straight to the user.

// ErrMissing is wrapped by accessor errors for absent keys.
var ErrMissing = fmt.Errorf("missing")

func (f *File) get(key string) (KV, error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return KV{}, fmt.Errorf("metadata key %q: %w", key, ErrMissing)
	}
	return kv, nil
}

// Has reports whether key is present.
func (f *File) Has(key string) bool { _, ok := f.kvIdx[key]; return ok }

// String returns a string value.
func (f *File) String(key string) (string, error) {
	kv, err := f.get(key)
	if err != nil {
		return "", err
	}
	s, ok := kv.Value.(string)
	if !ok {
		return "", fmt.Errorf("metadata key %q has type %s, want string", key, kv.Type)
	}
	return s, nil
}

// Int returns an integer value of any integer type.
func (f *File) Int(key string) (int64, error) {
	kv, err := f.get(key)
	if err != nil {
		return 0, err
	}
	v, ok := asInt64(kv.Value)
	if !ok {
		if u, isU64 := kv.Value.(uint64); isU64 {
			return 0, fmt.Errorf("metadata key %q: value %d does not fit in int64", key, u)
		}
		return 0, fmt.Errorf("metadata key %q has type %s, want an integer", key, kv.Type)
	}
	return v, nil
}

// Float returns a numeric value as float64 (floats and integers accepted).
func (f *File) Float(key string) (float64, error) {
	kv, err := f.get(key)
	if err != nil {
		return 0, err
	}
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), nil
	case float64:
		return v, nil
	case uint64:
		return float64(v), nil
	}
	if v, ok := asInt64(kv.Value); ok {
		return float64(v), nil
	}
	return 0, fmt.Errorf("metadata key %q has type %s, want a number", key, kv.Type)
}

// Bool returns a boolean value.
func (f *File) Bool(key string) (bool, error) {
	kv, err := f.get(key)
	if err != nil {
		return false, err
	}
	b, ok := kv.Value.(bool)
	if !ok {
		return false, fmt.Errorf("metadata key %q has type %s, want bool", key, kv.Type)
	}
	return b, nil
}

// Array returns an array value.
func (f *File) Array(key string) (Array, error) {
	kv, err := f.get(key)
	if err != nil {
		return Array{}, err
	}
	a, ok := kv.Value.(Array)
	if !ok {
		return Array{}, fmt.Errorf("metadata key %q has type %s, want array", key, kv.Type)
	}
	return a, nil
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	a, err := f.Array(key)
	if err != nil {
		return nil, err
	}
	s, ok := a.Values.([]string)
	if !ok {
		return nil, fmt.Errorf("metadata key %q is an array of %s, want string", key, a.Type)
	}
	return s, nil
}

// Float32s returns a numeric array converted to float32.
func (f *File) Float32s(key string) ([]float32, error) {
	a, err := f.Array(key)
	if err != nil {
		return nil, err
	}
	if v, ok := a.Values.([]float32); ok {
		return v, nil
	}
	ints, err := a.ints(key)
	if err != nil {
		if v, ok := a.Values.([]float64); ok {
			out := make([]float32, len(v))
			for i, x := range v {
				out[i] = float32(x)
			}
			return out, nil
		}
		return nil, err
	}
	out := make([]float32, len(ints))
	for i, x := range ints {
		out[i] = float32(x)
	}
	return out, nil
}

// Ints returns an integer array of any integer element type as int64.
func (f *File) Ints(key string) ([]int64, error) {
	a, err := f.Array(key)
	if err != nil {
		return nil, err
	}
	return a.ints(key)
}

func (a Array) ints(key string) ([]int64, error) {
	n := a.Len()
	out := make([]int64, n)
	switch v := a.Values.(type) {
	case []uint8:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int8:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint16:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int16:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint32:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int32:
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int64:
		copy(out, v)
	case []uint64:
		for i, x := range v {
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("metadata key %q: element %d is %d, beyond int64", key, i, x)
			}
			out[i] = int64(x)
		}
	default:
		return nil, fmt.Errorf("metadata key %q is an array of %s, want integers", key, a.Type)
	}
	return out, nil
}

// Architecture returns general.architecture.
func (f *File) Architecture() (string, error) { return f.String("general.architecture") }
