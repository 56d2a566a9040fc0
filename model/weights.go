package model

import (
	"fmt"
	"math"
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

// Vocab returns the vocabulary size, the rows of token_embd.weight (whose
// rows must be embd wide), checking it against [arch].vocab_size when the
// file states one.
func (w *Weights) Vocab(embd int) (int, error) {
	ti, ok := w.f.Tensor("token_embd.weight")
	if !ok {
		return 0, fmt.Errorf("%s: missing tensor %q", w.arch, "token_embd.weight")
	}
	if len(ti.Shape) != 2 || ti.Shape[1] <= 0 || ti.Shape[1] > math.MaxInt32 {
		return 0, fmt.Errorf("%s: tensor %q has shape %v, want [%d vocab]", w.arch, ti.Name, ti.Shape, embd)
	}
	vocab := int(ti.Shape[1])
	if n, err := w.f.Int(w.arch + ".vocab_size"); err == nil && n != int64(vocab) {
		return 0, fmt.Errorf("%s: vocab_size %d differs from token_embd's %d rows", w.arch, n, vocab)
	}
	return vocab, nil
}

// Keep returns a function that passes a value through and keeps the first
// error it is given in *err, so that a loader can read many tensors, one
// per line, and check once:
//
//	var err error
//	mat := model.Keep[*kernels.Matrix](&err)
//	q := mat(w.Matrix("blk.0.attn_q.weight", embd, embd))
func Keep[T any](err *error) func(T, error) T {
	return func(v T, e error) T {
		if *err == nil {
			*err = e
		}
		return v
	}
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
