package layers

import (
	"math"

	"github.com/ondo-ai/ondo/kernels"
)

// SparseGeGLU is [GeGLU] with activation sparsity (Gemma 3n's first
// layers): before the GELU, each token's gate row goes through
// [GaussianTopK] with StdMul standard deviations.
type SparseGeGLU struct {
	GeGLU
	StdMul float32
}

// Forward implements [FeedForward].
func (f *SparseGeGLU) Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch) {
	hidden := f.Gate.W.Rows
	g, u := s.hidden(n, hidden)
	Project(p, x, n, Proj{&f.Gate, g}, Proj{&f.Up, u})
	for i := range n {
		GaussianTopK(g[i*hidden:(i+1)*hidden], f.StdMul)
	}
	for i, v := range g {
		g[i] = GELU(v) * u[i]
	}
	f.Down.Forward(p, dst, g, n)
}

// GaussianTopK keeps what of x exceeds a cutoff of its mean plus stdMul
// standard deviations (with Bessel's correction), less the cutoff: x_i
// becomes max(x_i − cutoff, 0). Treating x as normally distributed, this
// keeps about the top share stdMul selects (1.645: 5%). The sums run in
// float64 and the rest in float32, as ggml's mean, sum_rows and scale do.
func GaussianTopK(x []float32, stdMul float32) {
	n := len(x)
	if n < 2 {
		return
	}
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean := float32(sum) / float32(n)
	var sq float64
	for _, v := range x {
		d := v - mean
		sq += float64(d * d)
	}
	std := float32(math.Sqrt(float64(float32(sq) * (1 / float32(n-1)))))
	cut := mean + float32(std*stdMul) // two roundings, as ggml_scale then ggml_add
	for i, v := range x {
		x[i] = max(v-cut, 0)
	}
}
