// Package layers holds the transformer building blocks that several
// architectures share: RMS norm over rows, linear projections with optional
// bias, rotary embeddings per token, causal attention over the KV cache
// (any ratio of query to key/value heads), and the SwiGLU feed-forward
// block. Activations are row-major float32 matrices, one row per token of
// the batch; the arithmetic lives in package kernels.
package layers

import (
	"fmt"
	"sync"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

// RMSNorm normalises the n rows of x (each len(w) wide) into dst, scaling by
// w. dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32, n int) {
	d := len(w)
	for i := 0; i < n; i++ {
		kernels.RMSNorm(dst[i*d:(i+1)*d], x[i*d:(i+1)*d], w, eps)
	}
}

// Linear is a projection y = W·x (+ b).
type Linear struct {
	W *kernels.Matrix
	B []float32 // optional bias, W.Rows long
}

// Forward projects the n rows of x (W.Cols wide) into dst (W.Rows wide).
func (l *Linear) Forward(p *kernels.Pool, dst, x []float32, n int) {
	p.MatMul(dst, l.W, x, n)
	if l.B != nil {
		d := l.W.Rows
		for i := 0; i < n; i++ {
			kernels.Add(dst[i*d:(i+1)*d], l.B)
		}
	}
}

// RopeTables fills tab (len(pos) × r.Dims) with the cos/sin table of each
// token's position. Positions are the same in every layer, so a forward
// pass computes the tables once.
func RopeTables(r *kernels.Rope, tab []float32, pos []int) {
	for i, p := range pos {
		r.Table(tab[i*r.Dims:(i+1)*r.Dims], p)
	}
}

// Rope rotates the heads of each of the n rows of x (heads × headDim wide)
// by its token's table from [RopeTables].
func Rope(r *kernels.Rope, x []float32, heads, headDim int, tab []float32, n int) {
	w := heads * headDim
	for i := 0; i < n; i++ {
		r.Apply(x[i*w:(i+1)*w], heads, headDim, tab[i*r.Dims:(i+1)*r.Dims])
	}
}

// Attention describes multi-head attention with grouped key/value heads:
// query head h reads key/value head h / (Heads/KVHeads).
type Attention struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32 // applied to q·k, usually 1/√HeadDim
}

// Validate reports head counts that do not group.
func (a *Attention) Validate() error {
	if a.Heads <= 0 || a.KVHeads <= 0 || a.HeadDim <= 0 || a.Heads%a.KVHeads != 0 {
		return fmt.Errorf("attention: %d heads, %d KV heads of %d", a.Heads, a.KVHeads, a.HeadDim)
	}
	return nil
}

// Store writes the keys k and values v of each token (KVHeads × HeadDim per
// row) into layer of its cache at its position.
func (a *Attention) Store(caches []*kvcache.Cache, pos []int, layer int, k, v []float32) error {
	w := a.KVHeads * a.HeadDim
	for i, c := range caches {
		if err := c.Put(layer, pos[i], k[i*w:(i+1)*w], v[i*w:(i+1)*w]); err != nil {
			return err
		}
	}
	return nil
}

// Forward computes, for each token i and query head h, the softmax-weighted
// sum of the cached values of positions 0..pos[i] of token i's sequence, with
// weights softmax(Scale · q·k), and writes it to out (Heads × HeadDim per
// token). The tokens' own keys and values must already be stored, so tokens
// of one batch see each other causally. Token-head pairs run in parallel.
//
// Over an fp16 cache the query and the attention weights are rounded to
// fp16 before they meet the keys and values, as in llama.cpp, whose KQ and
// KQV products convert their float32 operand to the cache's type.
func (a *Attention) Forward(p *kernels.Pool, out, q []float32, caches []*kvcache.Cache, pos []int, layer int) {
	n, hd := len(caches), a.HeadDim
	group := a.Heads / a.KVHeads
	kvDim := a.KVHeads * hd
	span := 0
	for _, ps := range pos[:n] {
		span = max(span, ps+1)
	}
	p.Parallel(n*a.Heads, 2*span*hd, func(lo, hi int) {
		sb := scratch.Get().(*[]float32)
		if cap(*sb) < span+hd {
			*sb = make([]float32, span+hd)
		}
		for job := lo; job < hi; job++ {
			i, h := job/a.Heads, job%a.Heads
			qh := q[(i*a.Heads+h)*hd : (i*a.Heads+h+1)*hd]
			oh := out[(i*a.Heads+h)*hd : (i*a.Heads+h+1)*hd]
			att := (*sb)[:pos[i]+1]
			off := (h / group) * hd
			if k16, v16 := caches[i].LayerF16(layer); k16 != nil {
				q16 := (*sb)[span : span+hd]
				copy(q16, qh)
				kernels.RoundFP16(q16)
				attendF16(oh, q16, att, k16[off:], v16[off:], kvDim, a.Scale)
			} else {
				k32, v32 := caches[i].LayerF32(layer)
				attendF32(oh, qh, att, k32[off:], v32[off:], kvDim, a.Scale)
			}
		}
		scratch.Put(sb)
	})
}

// scratch holds per-worker attention rows: scores, then a query copy.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// attendF32 attends one query head over len(att) positions whose key and
// value heads start at k[t*stride] and v[t*stride].
func attendF32(out, q, att, k, v []float32, stride int, scale float32) {
	hd := len(q)
	for t := range att {
		att[t] = kernels.Dot(q, k[t*stride:t*stride+hd]) * scale
	}
	kernels.Softmax(att)
	clear(out)
	for t, w := range att {
		kernels.Axpy(out, w, v[t*stride:t*stride+hd])
	}
}

// attendF16 is attendF32 over an fp16 cache; q is already fp16-rounded.
func attendF16(out, q, att []float32, k, v []uint16, stride int, scale float32) {
	hd := len(q)
	for t := range att {
		att[t] = kernels.DotF16(q, k[t*stride:t*stride+hd]) * scale
	}
	kernels.Softmax(att)
	kernels.RoundFP16(att)
	clear(out)
	for t, w := range att {
		kernels.AxpyF16(out, w, v[t*stride:t*stride+hd])
	}
}

// SwiGLU is the gated feed-forward block of Llama-style models:
// Down · (silu(Gate·x) ⊙ Up·x).
type SwiGLU struct {
	Gate, Up, Down Linear
}

// Forward writes the block's output for the n rows of x to dst, using g and
// u (n × hidden each) as scratch. dst may alias x.
func (f *SwiGLU) Forward(p *kernels.Pool, dst, x []float32, n int, g, u []float32) {
	hidden := f.Gate.W.Rows
	f.Gate.Forward(p, g, x, n)
	f.Up.Forward(p, u, x, n)
	kernels.SwiGLU(g[:n*hidden], g[:n*hidden], u[:n*hidden])
	f.Down.Forward(p, dst, g, n)
}
