package decoder

import (
	"math"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model/layers"
)

// Streams keeps residual streams beside the one the layers run on (Gemma
// 3n's AltUp). When a recipe has them, a pass starts them from the scaled
// embeddings, each layer runs on the stream Predict makes and hands its
// output to Correct, and End merges them into the hidden states the output
// norm reads. The model's lock serialises the calls, so an implementation
// may keep its buffers between them.
type Streams interface {
	// Begin starts the streams of n tokens from their embeddings x
	// (n × embd), after the per-layer inputs are computed from x.
	Begin(p *kernels.Pool, x []float32, n int)
	// Predict writes layer l's input to x.
	Predict(p *kernels.Pool, l int, x []float32, n int)
	// Correct takes layer l's output x; perLayer holds the per-layer
	// inputs (n × layers × width) when the recipe has them, else nil.
	Correct(p *kernels.Pool, l int, x, perLayer []float32, n int)
	// End writes the merged streams to x.
	End(p *kernels.Pool, x []float32, n int)
}

// Laurel is a learned low-rank residual beside the attention (LAuReL,
// Gemma 3n): the layer's normed input h gives h + Norm(R·L·h), and the
// attention's residual output x becomes (x + that)/√2 before the
// feed-forward block, as llama.cpp's gemma3n graph computes it.
type Laurel struct {
	L, R layers.Linear // embd → rank → embd
	Norm layers.Norm   // embd
}

// invSqrt2 is 1/√2 in float32 steps, as C's 1.0f/sqrtf(2.0f).
var invSqrt2 = 1 / float32(math.Sqrt2)

// forward computes the low-rank branch of the n rows of h into s.laurel.
func (lr *Laurel) forward(p *kernels.Pool, s *scratch, h []float32, n int) {
	dim := len(lr.Norm.W)
	s.laurelLow = grow(s.laurelLow, n*lr.L.W.Rows)
	s.laurel = grow(s.laurel, n*dim)
	lr.L.Forward(p, s.laurelLow, h, n)
	lr.R.Forward(p, s.laurel, s.laurelLow, n)
	lr.Norm.Forward(s.laurel, s.laurel, n)
	kernels.Add(s.laurel, h[:n*dim])
}

// mix folds the low-rank branch into the residual stream x after the
// attention.
func (lr *Laurel) mix(x []float32, s *scratch) {
	kernels.Add(x, s.laurel[:len(x)])
	kernels.Scale(x, invSqrt2)
}
