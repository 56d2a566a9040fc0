package layers

// Feed-forward blocks: gated (SwiGLU, GeGLU, gpt-oss's clamped SwiGLU) and
// plain (GELU, ReLU²), with ggml's activations.

import (
	"sync"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/quant"
)

// FeedForward is a block's feed-forward network: a gated or plain MLP or a
// mixture of experts.
type FeedForward interface {
	// Forward writes the block's output for the n rows of x to dst, using
	// s for its activations. dst may alias x.
	Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch)
}

// Scratch holds the activations of feed-forward blocks. One serves every
// layer of a model; it grows to the largest batch it has seen.
type Scratch struct {
	g, u []float32
	moe  moeScratch
}

// hidden returns the gate and up buffers for n rows of hidden elements.
func (s *Scratch) hidden(n, hidden int) (g, u []float32) {
	if len(s.g) < n*hidden {
		s.g = make([]float32, n*hidden)
		s.u = make([]float32, n*hidden)
	}
	return s.g[:n*hidden], s.u[:n*hidden]
}

// SwiGLU is the gated feed-forward block of Llama-style models:
// Down · (silu(Gate·x) ⊙ Up·x).
type SwiGLU struct {
	Gate, Up, Down Linear
}

// Forward implements [FeedForward].
func (f *SwiGLU) Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch) {
	g, u := s.hidden(n, f.Gate.W.Rows)
	Project(p, x, n, Proj{&f.Gate, g}, Proj{&f.Up, u})
	kernels.SwiGLU(g, g, u)
	f.Down.Forward(p, dst, g, n)
}

// ClampedSwiGLU is gpt-oss's gated block (ggml's swiglu_oai): with the gate
// g clamped above at Limit and the up projection u clamped to ±Limit,
// Down · (g·σ(Alpha·g) ⊙ (u + 1)).
type ClampedSwiGLU struct {
	Gate, Up, Down Linear
	Alpha, Limit   float32
}

// Forward implements [FeedForward].
func (f *ClampedSwiGLU) Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch) {
	g, u := s.hidden(n, f.Gate.W.Rows)
	Project(p, x, n, Proj{&f.Gate, g}, Proj{&f.Up, u})
	clampedSwiGLU(g, u, f.Alpha, f.Limit)
	f.Down.Forward(p, dst, g, n)
}

// clampedSwiGLU sets g to swiglu_oai(g, u): g clamped above at limit,
// times σ(alpha·g), times u clamped to ±limit plus one.
func clampedSwiGLU(g, u []float32, alpha, limit float32) {
	for i, v := range g {
		v = min(v, limit)
		y := max(min(u[i], limit), -limit)
		g[i] = float32(v/float32(1+kernels.Exp(alpha*-v))) * (y + 1)
	}
}

// Activation names the element-wise function of a plain [MLP].
type Activation int

const (
	ActGELU        Activation = iota // GELU as [GELU] computes it
	ActReLUSquared                   // max(x, 0)²
)

// MLP is the plain feed-forward block: Down · act(Up·x).
type MLP struct {
	Up, Down Linear
	Act      Activation
}

// Forward implements [FeedForward].
func (f *MLP) Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch) {
	h, _ := s.hidden(n, f.Up.W.Rows)
	f.Up.Forward(p, h, x, n)
	switch f.Act {
	case ActReLUSquared:
		for i, v := range h {
			v = max(v, 0)
			h[i] = v * v
		}
	default:
		for i, v := range h {
			h[i] = GELU(v)
		}
	}
	f.Down.Forward(p, dst, h, n)
}

// gelu is the tanh approximation of GELU in ggml's float32 steps:
// 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))). The explicit conversions
// keep the compiler from fusing multiply-adds, so every step rounds as C's
// float arithmetic does.
func gelu(x float32) float32 {
	const (
		coefA       = float32(0.044715)
		sqrt2OverPi = float32(0.79788456080286535587989211986876)
	)
	inner := float32(1 + float32(float32(coefA*x)*x))
	t := tanh32(float32(float32(sqrt2OverPi*x) * inner))
	return float32(float32(0.5*x) * float32(1+t))
}

// geluTable holds fp16(gelu(h)) for every fp16 value h, as ggml's
// ggml_table_gelu_f16, which its CPU backend reads instead of computing
// GELU (GGML_GELU_FP16).
var geluTable = sync.OnceValue(func() *[1 << 16]uint16 {
	var t [1 << 16]uint16
	for h := range t {
		t[h] = quant.Float32ToFP16(gelu(quant.FP16ToFloat32(uint16(h))))
	}
	return &t
})

// GELU returns the tanh-approximated GELU of x exactly as ggml's CPU backend
// computes it: 0 at or below −10, x at or above 10, and in between the
// fp16-rounded GELU of x rounded to fp16 (a table lookup). The lookup's
// rounding, about 2⁻¹¹ relative, is part of the function llama.cpp
// computes, so matching it keeps activations bit-identical.
func GELU(x float32) float32 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	return quant.FP16ToFloat32(geluTable()[quant.Float32ToFP16(x)])
}

// GeGLU is the gated feed-forward block of Gemma: Down · (gelu(Gate·x) ⊙
// Up·x), GELU as [GELU].
type GeGLU struct {
	Gate, Up, Down Linear
}

// Forward implements [FeedForward].
func (f *GeGLU) Forward(p *kernels.Pool, dst, x []float32, n int, s *Scratch) {
	g, u := s.hidden(n, f.Gate.W.Rows)
	Project(p, x, n, Proj{&f.Gate, g}, Proj{&f.Up, u})
	for i, v := range g {
		g[i] = GELU(v) * u[i]
	}
	f.Down.Forward(p, dst, g, n)
}
