// Package layers holds the transformer parts that families share, each
// tested on its own against a float64 computation: norms (RMS or layer
// norm, per row or per head), linear projections with optional bias (fused
// ones split into views), rotary embeddings as llama.cpp resolves them,
// attention over the KV cache (grouped heads, sliding windows, soft caps,
// sinks), and feed-forward blocks (gated SwiGLU and GeGLU, plain GELU and
// ReLU², mixtures of experts). Activations are row-major float32 matrices,
// one row per token of the batch; the arithmetic lives in package kernels.
// Package model/decoder assembles these parts into whole networks.
package layers

import (
	"math"

	"github.com/ondo-ai/ondo/kernels"
)

// RMSNorm normalises the n rows of x (each len(w) wide) into dst, scaling by
// w. dst may alias x.
func RMSNorm(dst, x, w []float32, eps float32, n int) {
	d := len(w)
	for i := 0; i < n; i++ {
		kernels.RMSNorm(dst[i*d:(i+1)*d], x[i*d:(i+1)*d], w, eps)
	}
}

// LayerNorm normalises the n rows of x (each len(w) wide) into dst in
// ggml's float32 steps: the mean from a float64 sum, the variance of the
// centred values from a float64 sum of squares, then (x−mean)·(1/√(var+ε)),
// times w, plus b when b is not nil, each product and sum rounded to
// float32. dst may alias x.
func LayerNorm(dst, x, w, b []float32, eps float32, n int) {
	d := len(w)
	for i := 0; i < n; i++ {
		xs, ds := x[i*d:(i+1)*d], dst[i*d:(i+1)*d]
		var sum float64
		for _, v := range xs {
			sum += float64(v)
		}
		mean := float32(sum) / float32(d)
		var sq float64
		for j, v := range xs {
			c := v - mean
			ds[j] = c
			sq += float64(c * c)
		}
		variance := float32(sq / float64(d))
		scale := 1 / float32(math.Sqrt(float64(variance+eps)))
		for j, c := range ds {
			ds[j] = float32(float32(c*scale) * w[j]) // rounded: no fused multiply-add
			if b != nil {
				ds[j] += b[j]
			}
		}
	}
}

// Norm is one normalisation of a network: RMS norm, or layer norm when
// Mean is set, scaled by W (and shifted by B, for a layer norm). A Norm
// with no weight is absent, and its Forward does nothing.
type Norm struct {
	W, B []float32
	Eps  float32
	Mean bool // layer norm: centre on the mean (with bias B) instead of RMS
}

// Present reports whether the norm exists.
func (nm *Norm) Present() bool { return nm.W != nil }

// Forward normalises n rows of x (len(W) wide each) into dst; dst may alias
// x. Rows of heads: n is then tokens × heads and W one head wide.
func (nm *Norm) Forward(dst, x []float32, n int) {
	switch {
	case nm.W == nil:
	case nm.Mean:
		LayerNorm(dst, x, nm.W, nm.B, nm.Eps, n)
	default:
		RMSNorm(dst, x, nm.W, nm.Eps, n)
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
