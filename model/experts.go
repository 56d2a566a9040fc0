package model

import (
	"fmt"
	"slices"

	"github.com/ondo-ai/ondo/kernels"
)

// Experts returns the named stack of n expert matrices, each rows×cols
// (GGUF shape [cols rows n], as ffn_up_exps and its kin are stored), as n
// views of the mapped file: a mixture-of-experts layer reads only the
// experts its tokens are routed to.
func (w *Weights) Experts(name string, cols, rows, n int) ([]*kernels.Matrix, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%s: tensor %q: %d experts", w.arch, name, n)
	}
	ti, ok := w.f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: missing tensor %q", w.arch, name)
	}
	if want := []int64{int64(cols), int64(rows), int64(n)}; !slices.Equal(trimShape(ti.Shape), trimShape(want)) {
		return nil, fmt.Errorf("%s: tensor %q has shape %v, want %v", w.arch, name, ti.Shape, want)
	}
	data := w.f.TensorData(ti)
	if len(data)%n != 0 {
		return nil, fmt.Errorf("%s: tensor %q: %d bytes do not split into %d experts", w.arch, name, len(data), n)
	}
	size := len(data) / n
	mats := make([]*kernels.Matrix, n)
	for e := range mats {
		m, err := kernels.NewMatrix(ti.Type, rows, cols, data[e*size:(e+1)*size:(e+1)*size])
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", w.arch, name, err)
		}
		// As a whole matrix, an expert may be packed on first use (only
		// the routed ones are), giving back its whole mapped pages.
		m.SetRelease(w.f.Releaser())
		mats[e] = m
	}
	return mats, nil
}
