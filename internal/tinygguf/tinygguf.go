// Package tinygguf builds the small float32 GGUF models of the model
// families' tests: metadata keys written in the order they were first set,
// tensors in the order they were first added.
package tinygguf

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tensor"
)

// Model is a GGUF file in the making.
type Model struct {
	KV      map[string]any
	Order   []string // metadata keys in first-set order
	Weights map[string][]float32
	Shapes  map[string][]int64
	Names   []string               // tensor names in first-added order
	Raw     map[string]tensor.Type // tensors written with another type id (the same bytes)
}

// New returns an empty model.
func New() *Model {
	return &Model{KV: map[string]any{}, Weights: map[string][]float32{}, Shapes: map[string][]int64{}}
}

// Set sets metadata key to v.
func (m *Model) Set(key string, v any) {
	if _, ok := m.KV[key]; !ok {
		m.Order = append(m.Order, key)
	}
	m.KV[key] = v
}

// Del removes metadata key.
func (m *Model) Del(key string) { delete(m.KV, key) }

// DelTensor removes a tensor.
func (m *Model) DelTensor(name string) { delete(m.Weights, name) }

// AddTensor adds (or replaces) a float32 tensor with the given values and
// GGUF shape.
func (m *Model) AddTensor(name string, w []float32, shape ...int64) {
	if _, ok := m.Weights[name]; !ok {
		m.Names = append(m.Names, name)
	}
	m.Weights[name], m.Shapes[name] = w, shape
}

// Write writes the model to a file in a temporary directory of tb and
// returns its path.
func (m *Model) Write(tb testing.TB) string {
	tb.Helper()
	var kvs []gguf.KV
	for _, k := range m.Order {
		if v, ok := m.KV[k]; ok {
			kvs = append(kvs, gguf.NewKV(k, v))
		}
	}
	var specs []gguf.TensorSpec
	for _, name := range m.Names {
		w, ok := m.Weights[name]
		if !ok {
			continue
		}
		b := make([]byte, 4*len(w))
		for i, v := range w {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		typ := tensor.F32
		if rt, ok := m.Raw[name]; ok {
			typ = rt
		}
		specs = append(specs, gguf.TensorSpec{Name: name, Type: typ, Shape: m.Shapes[name], Data: b})
	}
	path := filepath.Join(tb.TempDir(), "tiny.gguf")
	if err := gguf.WriteFile(path, kvs, specs); err != nil {
		tb.Fatal(err)
	}
	return path
}
