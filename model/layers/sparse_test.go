package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
)

func TestGaussianTopK(t *testing.T) {
	std := float32(math.Sqrt(2.5)) // of 1…5, with Bessel's correction
	for _, tc := range []struct {
		name   string
		x      []float32
		stdMul float32
		want   []float32
	}{
		{"cutoff at the mean", []float32{1, 2, 3, 4, 5}, 0, []float32{0, 0, 0, 1, 2}},
		{"one deviation above", []float32{5, 1, 4, 2, 3}, 1, []float32{5 - (3 + std), 0, 0, 0, 0}},
		{"all equal: nothing exceeds", []float32{2, 2, 2}, 1.645, []float32{0, 0, 0}},
		{"below the mean", []float32{-4, 0, 4}, -1, []float32{0, 4, 8}},
		{"one value: unchanged", []float32{7}, 1.645, []float32{7}},
	} {
		x := append([]float32(nil), tc.x...)
		GaussianTopK(x, tc.stdMul)
		for i := range x {
			if math.Abs(float64(x[i]-tc.want[i])) > 1e-6 {
				t.Errorf("%s: got %v, want %v", tc.name, x, tc.want)
				break
			}
		}
	}
}

// TestSparseGeGLU checks the sparse block against GeGLU on gates sparsified
// by hand: a GeGLU whose gate row is already GaussianTopK's output.
func TestSparseGeGLU(t *testing.T) {
	const dim, hidden, n = 8, 16, 3
	r := rand.New(rand.NewPCG(3, 1))
	gate, _ := randLinear(t, r, hidden, dim, false)
	up, _ := randLinear(t, r, hidden, dim, false)
	down, _ := randLinear(t, r, dim, hidden, false)
	x := randRows(r, n*dim, 1)
	pool := kernels.NewPool(1)
	defer pool.Close()
	sp := &SparseGeGLU{GeGLU: GeGLU{Gate: gate, Up: up, Down: down}, StdMul: 0.5}
	var s Scratch
	got := make([]float32, n*dim)
	sp.Forward(pool, got, x, n, &s)

	g, u := make([]float32, n*hidden), make([]float32, n*hidden)
	gate.Forward(pool, g, x, n)
	up.Forward(pool, u, x, n)
	for i := range n {
		GaussianTopK(g[i*hidden:(i+1)*hidden], 0.5)
	}
	for i, v := range g {
		g[i] = GELU(v) * u[i]
	}
	want := make([]float32, n*dim)
	down.Forward(pool, want, g, n)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("row element %d: %v, want %v", i, got[i], want[i])
		}
	}
	dense := make([]float32, n*dim) // and the sparsity matters
	sp.GeGLU.Forward(pool, dense, x, n, &s)
	var d float64
	for i := range dense {
		d = max(d, math.Abs(float64(dense[i]-got[i])))
	}
	if d < 1e-3 {
		t.Errorf("sparse and dense blocks agree to %.3g", d)
	}
}
