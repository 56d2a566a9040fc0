package layers

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ondo-ai/ondo/kernels"
)

// Recurrent is a mixer that keeps a recurrent state per sequence instead of
// keys and values (GatedDeltaNet, Mamba2): a convolution window of
// ConvState elements and a state of RecState, which the sequence's cache
// holds (see kvcache's recurrent states).
type Recurrent interface {
	Validate() error
	ConvState() int
	RecState() int
	// Forward writes the mixer's output for the n rows of x to dst; token
	// i updates the states conv[i] and rec[i] (a sequence's tokens come in
	// order and share its states).
	Forward(p *kernels.Pool, dst, x []float32, n int, conv, rec [][]float32)
}

// GatedDeltaNet is the linear attention of Qwen3.5 and Qwen3-Next, a gated
// delta rule over a recurrent state instead of a cache of keys and values.
// For each token: QKV projects to queries and keys (KHeads heads of
// KeyDim) and values (VHeads heads of ValueDim); a causal depthwise
// convolution over the last ConvK inputs of those channels and a SiLU mix
// in the past; queries and keys are L2-normalised. Each value head h keeps
// a KeyDim × ValueDim state S, read with query and key head h mod KHeads:
//
//	S ← exp(g)·S, g = A·softplus(α + DtBias)       (decay)
//	S ← S + k ⊗ β·(v − Sᵀk), β = σ(Beta·x)        (delta rule)
//	o = Sᵀq / √KeyDim
//
// and the heads' outputs are RMS-normed (Norm, per head), gated by
// SiLU(Z·x) and projected by Out. States live in the sequence's cache
// (see kvcache's recurrent states): ConvState elements of convolution
// window and RecState of recurrent matrices per layer.
type GatedDeltaNet struct {
	QKV, Z, Beta, Alpha, Out Linear
	// Conv holds ConvK weights per channel (2·KHeads·KeyDim + VHeads·ValueDim
	// channels), oldest input first.
	Conv   []float32
	DtBias []float32 // per value head
	A      []float32 // per value head: −exp(A_log)
	Norm   Norm      // per value head, ValueDim wide

	KHeads, VHeads, KeyDim, ValueDim, ConvK int
	Eps                                     float32 // of the L2 norms
	// Grouped (Qwen3-Next) orders the value heads by key head: value head
	// h reads key head h / (VHeads/KHeads) instead of h mod KHeads, and
	// BetaAlpha, when set, replaces Beta and Alpha: per key head, its
	// value heads' β rows, then their α rows.
	Grouped   bool
	BetaAlpha Linear

	qkv, z, beta, alpha, ba, out, mixed []float32 // scratch
	bsig, gate                          []float32 // σ(β) and g per token and value head
	scratch                             []chunkScratch
}

// Channels returns the convolution's channels.
func (d *GatedDeltaNet) Channels() int { return 2*d.KHeads*d.KeyDim + d.VHeads*d.ValueDim }

// ConvState is the size of one sequence's convolution window state.
func (d *GatedDeltaNet) ConvState() int { return (d.ConvK - 1) * d.Channels() }

// RecState is the size of one sequence's recurrent matrices.
func (d *GatedDeltaNet) RecState() int { return d.VHeads * d.KeyDim * d.ValueDim }

// Validate reports parts that do not fit together.
func (d *GatedDeltaNet) Validate() error {
	ch, vd := d.Channels(), d.VHeads*d.ValueDim
	switch {
	case d.KHeads <= 0 || d.VHeads <= 0 || d.KeyDim <= 0 || d.ValueDim <= 0 || d.ConvK < 1 || d.VHeads%d.KHeads != 0:
		return fmt.Errorf("deltanet: %d key heads of %d, %d value heads of %d, convolution of %d", d.KHeads, d.KeyDim, d.VHeads, d.ValueDim, d.ConvK)
	case d.QKV.W.Rows != ch || d.Z.W.Rows != vd || d.Out.W.Cols != vd:
		return fmt.Errorf("deltanet: projections of %d and %d rows and an output of %d columns for %d channels and %d values",
			d.QKV.W.Rows, d.Z.W.Rows, d.Out.W.Cols, ch, vd)
	case d.BetaAlpha.W != nil && d.BetaAlpha.W.Rows != 2*d.VHeads,
		d.BetaAlpha.W == nil && (d.Beta.W.Rows != d.VHeads || d.Alpha.W.Rows != d.VHeads):
		return fmt.Errorf("deltanet: β and α projections do not have %d rows each", d.VHeads)
	case len(d.Conv) != ch*d.ConvK || len(d.DtBias) != d.VHeads || len(d.A) != d.VHeads || len(d.Norm.W) != d.ValueDim:
		return fmt.Errorf("deltanet: %d convolution weights, %d biases, %d decays and a norm of %d", len(d.Conv), len(d.DtBias), len(d.A), len(d.Norm.W))
	}
	return nil
}

// Forward writes the block's output for the n rows of x to dst; token i
// updates the states conv[i] and rec[i] (a sequence's tokens come in order,
// and tokens of one sequence share its states).
func (d *GatedDeltaNet) Forward(p *kernels.Pool, dst, x []float32, n int, conv, rec [][]float32) {
	ch, vd := d.Channels(), d.VHeads*d.ValueDim
	d.qkv = grow(d.qkv, n*ch)
	d.z = grow(d.z, n*vd)
	d.beta = grow(d.beta, n*d.VHeads)
	d.alpha = grow(d.alpha, n*d.VHeads)
	d.out = grow(d.out, n*vd)
	if d.BetaAlpha.W != nil {
		d.ba = grow(d.ba, 2*n*d.VHeads)
		Project(p, x, n, Proj{&d.QKV, d.qkv}, Proj{&d.Z, d.z}, Proj{&d.BetaAlpha, d.ba})
		r := d.VHeads / d.KHeads
		for i := 0; i < n; i++ { // per key head: r β values, then r α values
			ba := d.ba[2*i*d.VHeads : 2*(i+1)*d.VHeads]
			for g := 0; g < d.KHeads; g++ {
				copy(d.beta[i*d.VHeads+g*r:], ba[2*g*r:2*g*r+r])
				copy(d.alpha[i*d.VHeads+g*r:], ba[2*g*r+r:2*(g+1)*r])
			}
		}
	} else {
		Project(p, x, n, Proj{&d.QKV, d.qkv}, Proj{&d.Z, d.z}, Proj{&d.Beta, d.beta}, Proj{&d.Alpha, d.alpha})
	}
	kd, vdim := d.KeyDim, d.ValueDim
	scale := 1 / float32(math.Sqrt(float64(kd)))
	// Every token's convolution (in order: it moves the windows on), its
	// L2-normed queries and keys, and its heads' β and decay exponent g.
	d.mixed = grow(d.mixed, n*ch)
	d.bsig = grow(d.bsig, n*d.VHeads)
	d.gate = grow(d.gate, n*d.VHeads)
	for i := 0; i < n; i++ {
		m := d.mixed[i*ch : (i+1)*ch]
		d.convolve(m, d.qkv[i*ch:(i+1)*ch], conv[i])
		for h := 0; h < 2*d.KHeads; h++ {
			l2norm(m[h*kd:(h+1)*kd], d.Eps)
		}
		for h := 0; h < d.VHeads; h++ {
			j := i*d.VHeads + h
			d.bsig[j] = 1 / (1 + kernels.Exp(-d.beta[j]))
			d.gate[j] = softplus(d.alpha[j]+d.DtBias[h]) * d.A[h]
		}
	}
	// Runs of one sequence's tokens (they share its state) long enough
	// take the chunked form (deltachunk.go), the others the recurrence.
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && unsafe.SliceData(rec[hi]) == unsafe.SliceData(rec[lo]) {
			hi++
		}
		if hi-lo >= minChunkRun {
			d.chunked(p, d.out, d.mixed, lo, hi, rec[lo], scale)
		} else {
			for i := lo; i < hi; i++ {
				d.step(i, rec[i], scale)
			}
		}
		lo = hi
	}
	for i := 0; i < n; i++ {
		o := d.out[i*vd : (i+1)*vd]
		z := d.z[i*vd : (i+1)*vd]
		for h := 0; h < d.VHeads; h++ {
			d.Norm.Forward(o[h*vdim:(h+1)*vdim], o[h*vdim:(h+1)*vdim], 1)
		}
		for j, zv := range z {
			o[j] *= zv / (1 + kernels.Exp(-zv))
		}
	}
	d.Out.Forward(p, dst, d.out[:n*vd], n)
}

// step is the recurrence for token i, whose convolved, normed queries,
// keys and values are row i of d.mixed: each value head's state decays,
// takes the delta rule's update and is read by the query.
func (d *GatedDeltaNet) step(i int, rec []float32, scale float32) {
	kd, vdim, ch, vd := d.KeyDim, d.ValueDim, d.Channels(), d.VHeads*d.ValueDim
	m := d.mixed[i*ch : (i+1)*ch]
	q := m[:d.KHeads*kd]
	k := m[d.KHeads*kd : 2*d.KHeads*kd]
	v := m[2*d.KHeads*kd:]
	o := d.out[i*vd : (i+1)*vd]
	for h := 0; h < d.VHeads; h++ {
		beta := d.bsig[i*d.VHeads+h]
		decay := kernels.Exp(d.gate[i*d.VHeads+h])
		kg := h % d.KHeads
		if d.Grouped {
			kg = h / (d.VHeads / d.KHeads)
		}
		kh := k[kg*kd : (kg+1)*kd]
		qh := q[kg*kd : (kg+1)*kd]
		vh := v[h*vdim : (h+1)*vdim]
		s := rec[h*kd*vdim : (h+1)*kd*vdim] // column j of S at s[j·kd:]
		oh := o[h*vdim : (h+1)*vdim]
		for j := 0; j < vdim; j++ {
			col := s[j*kd : (j+1)*kd]
			kernels.Scale(col, decay)
			delta := (vh[j] - kernels.Dot(col, kh)) * beta
			kernels.Axpy(col, delta, kh)
			oh[j] = kernels.Dot(col, qh) * scale
		}
	}
}

// convolve writes to out the causal convolution of the channels in (the
// current input) over the window state, with SiLU, and moves the window on.
func (d *GatedDeltaNet) convolve(out, in, state []float32) {
	causalConv(out, in, state, d.Conv, nil, d.Channels(), d.ConvK)
}

// causalConv is the depthwise causal convolution of recurrent mixers: out[c]
// is SiLU of channel c's k weights (oldest input first) over the k−1 inputs
// the window state holds and in, plus bias[c] when bias is set; the window
// then moves on to include in.
func causalConv(out, in, state, w, bias []float32, ch, k int) {
	for c := 0; c < ch; c++ {
		wc := w[c*k : (c+1)*k]
		var sum float32
		for j := 0; j < k-1; j++ {
			sum += state[j*ch+c] * wc[j]
		}
		sum += in[c] * wc[k-1]
		if bias != nil {
			sum += bias[c]
		}
		out[c] = sum / (1 + kernels.Exp(-sum))
	}
	if k > 1 {
		copy(state, state[ch:])
		copy(state[(k-2)*ch:], in)
	}
}

// l2norm divides x by its Euclidean norm, at least eps (ggml's l2_norm).
func l2norm(x []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	s := 1 / max(float32(math.Sqrt(sum)), eps)
	for i := range x {
		x[i] *= s
	}
}

// softplus is ln(1 + eˣ), x itself past 20 as ggml computes it.
func softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	return float32(math.Log1p(math.Exp(float64(x))))
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
