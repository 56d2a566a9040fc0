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

// Proj is one linear projection of a Project call and where its output
// goes (n × L.W.Rows).
type Proj struct {
	L   *Linear
	Dst []float32
}

// Project computes several linear projections of the same n rows of x at
// once, as each Linear.Forward would: the activations are prepared for the
// weight kernels once, and all the products share one parallel pass (a
// layer's query, key and value projections, say).
func Project(p *kernels.Pool, x []float32, n int, ps ...Proj) {
	var wa [4]*kernels.Matrix
	var da [4][]float32
	ws, ds := wa[:0], da[:0]
	for _, pr := range ps {
		ws = append(ws, pr.L.W)
		ds = append(ds, pr.Dst)
	}
	p.MatMulMany(ds, ws, x, n)
	for _, pr := range ps {
		if pr.L.B != nil {
			d := pr.L.W.Rows
			for i := 0; i < n; i++ {
				kernels.Add(pr.Dst[i*d:(i+1)*d], pr.L.B)
			}
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
// of one batch see each other causally. Each token and key/value head is a
// parallel job covering the query heads of that group.
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
	// One job per token and key/value head: the group's query heads read
	// each cached key and value once.
	p.Parallel(n*a.KVHeads, 2*span*hd*group, func(lo, hi int) {
		sb := scratch.Get().(*[]float32)
		if need := group * (span + hd); cap(*sb) < need {
			*sb = make([]float32, need)
		}
		for job := lo; job < hi; job++ {
			i, g := job/a.KVHeads, job%a.KVHeads
			h0 := i*a.Heads + g*group
			qg := q[h0*hd : (h0+group)*hd]
			og := out[h0*hd : (h0+group)*hd]
			T := pos[i] + 1
			off := g * hd
			if k16, v16 := caches[i].LayerF16(layer); k16 != nil {
				q16 := (*sb)[group*span : group*span+group*hd]
				copy(q16, qg)
				kernels.RoundFP16(q16)
				attendF16(og, q16, (*sb)[:group*T], group, k16[off:], v16[off:], kvDim, a.Scale)
			} else {
				k32, v32 := caches[i].LayerF32(layer)
				for h := 0; h < group; h++ {
					attendF32(og[h*hd:(h+1)*hd], qg[h*hd:(h+1)*hd], (*sb)[:T], k32[off:], v32[off:], kvDim, a.Scale)
				}
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

// attendF16 is attendF32 over an fp16 cache for the heads query heads of
// one key/value group (q and out hold heads × HeadDim, att heads × len
// positions); q is already fp16-rounded.
func attendF16(out, q, att []float32, heads int, k, v []uint16, stride int, scale float32) {
	T := len(att) / heads
	kernels.DotF16Heads(att, q, heads, k, stride)
	for h := 0; h < heads; h++ {
		ah := att[h*T : (h+1)*T]
		kernels.Scale(ah, scale)
		kernels.Softmax(ah)
	}
	kernels.RoundFP16(att)
	clear(out)
	kernels.AxpyF16Heads(out, att, heads, v, stride)
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
	Project(p, x, n, Proj{&f.Gate, g}, Proj{&f.Up, u})
	kernels.SwiGLU(g[:n*hidden], g[:n*hidden], u[:n*hidden])
	f.Down.Forward(p, dst, g, n)
}
