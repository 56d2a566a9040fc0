package model

import (
	"fmt"
	"slices"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
)

// Weights finds an architecture's tensors in a GGUF file and checks their
// shapes, so that a loader states each tensor's expected shape once and gets
// errors that name the tensor.
type Weights struct {
	f    *gguf.File
	arch string
}

// NewWeights returns a tensor reader for f, prefixing errors with arch.
func NewWeights(f *gguf.File, arch string) *Weights { return &Weights{f: f, arch: arch} }

// Has reports whether the tensor is present.
func (w *Weights) Has(name string) bool {
	_, ok := w.f.Tensor(name)
	return ok
}

// Matrix returns the named tensor as a matrix of rows rows of cols elements
// (GGUF shape [cols rows]). The data stays in the mapped file.
func (w *Weights) Matrix(name string, cols, rows int) (*kernels.Matrix, error) {
	ti, ok := w.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: missing tensor %q", w.arch, name)
	}
	if want := trimShape([]int64{int64(cols), int64(rows)}); !slices.Equal(trimShape(ti.Shape), want) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, want %v", w.arch, name, ti.Shape, want)
	}
	m, err := kernels.NewMatrix(ti.Type, rows, cols, w.f.TensorData(ti))
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", w.arch, name, err)
	}
	m.SetRelease(w.f.Releaser())
	return m, nil
}

// OptMatrix is [Weights.Matrix] for an optional tensor: nil, nil when absent.
func (w *Weights) OptMatrix(name string, cols, rows int) (*kernels.Matrix, error) {
	if !w.Has(name) {
		return nil, nil
	}
	return w.Matrix(name, cols, rows)
}

// Vector returns the named tensor of n elements (a norm weight, a bias)
// decoded to float32.
func (w *Weights) Vector(name string, n int) ([]float32, error) {
	m, err := w.Matrix(name, n, 1)
	if err != nil {
		return nil, err
	}
	v, err := kernels.Vector(m)
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %q: %w", w.arch, name, err)
	}
	return v, nil
}

// OptVector is [Weights.Vector] for an optional tensor: nil, nil when absent.
func (w *Weights) OptVector(name string, n int) ([]float32, error) {
	if !w.Has(name) {
		return nil, nil
	}
	return w.Vector(name, n)
}

// trimShape drops trailing dimensions of 1, which do not change a
// tensor's layout.
func trimShape(s []int64) []int64 {
	for len(s) > 1 && s[len(s)-1] == 1 {
		s = s[:len(s)-1]
	}
	return s
}
