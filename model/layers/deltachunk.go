package layers

import (
	"unsafe"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/tensor"
)

// The chunked form of the gated delta rule, for prompts.
//
// Token by token, each value head reads and writes its whole state S
// (KeyDim × ValueDim) four times a token. Over a chunk of C tokens of one
// sequence the recurrence unrolls into matrix products that touch S twice
// a chunk. With Γ_t the decay exponents g summed from the chunk's start to
// token t (all ≤ 0, so every exponential below is at most 1), S₀ the state
// before the chunk, K, Q, V the chunk's keys, scaled queries and values as
// rows, and u_t = β_t(v_t − e^{g_t}S_{t−1}ᵀk_t) the update token t writes:
//
//	S_t = e^{Γ_t}S₀ + Σ_{s≤t} e^{Γ_t−Γ_s} k_s u_sᵀ
//	(I + L)U = diag(β)V − diag(β e^Γ)K S₀,  L_ts = β_t e^{Γ_t−Γ_s} k_t·k_s (s < t)
//	U = T(βV) − T(βe^Γ K) S₀,              T = (I + L)⁻¹ (by forward substitution)
//	o_t = e^{Γ_t} S₀ᵀq_t + Σ_{s≤t} e^{Γ_t−Γ_s} (q_t·k_s) u_s
//	S_C = e^{Γ_last} S₀ + Σ_s e^{Γ_last−Γ_s} k_s u_sᵀ
//
// as llama.cpp's chunked delta net computes it (chunks of 64). The products
// run through MatMul's float32 tiles, one head per worker.

// deltaChunk is the most tokens of one chunk, and minChunkRun the fewest
// tokens of one sequence in a batch that take the chunked form (decoding
// steps and short runs keep the recurrence).
const (
	deltaChunk  = 64
	minChunkRun = 16
)

// chunkScratch holds one value head's buffers for a chunk.
type chunkScratch struct {
	k, q, kc, bkT, ckT, bvT, u, uT, o1, o2, w []float32 // C×KeyDim or C×ValueDim, or transposed
	kk, qk, tri                               []float32 // C×C
	gam                                       []float32 // Γ
	dS                                        []float32 // ValueDim×KeyDim
}

// f32Mat wraps a row-major float32 matrix for MatMul.
func f32Mat(v []float32, rows, cols int) *kernels.Matrix {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), rows*cols*4)
	m, err := kernels.NewMatrix(tensor.F32, rows, cols, b)
	if err != nil {
		panic(err) // shapes are ours
	}
	return m
}

// chunked runs tokens [lo, hi) of one sequence, whose convolved and
// L2-normed queries, keys and values are in mixed (a row of Channels per
// token), through the chunked rule, writing the heads' outputs (scaled)
// to out (a row of VHeads·ValueDim per token) and updating the recurrent
// state rec.
func (d *GatedDeltaNet) chunked(p *kernels.Pool, out, mixed []float32, lo, hi int, rec []float32, scale float32) {
	kd, vdim, ch, vd := d.KeyDim, d.ValueDim, d.Channels(), d.VHeads*d.ValueDim
	if len(d.scratch) < d.VHeads {
		d.scratch = make([]chunkScratch, d.VHeads)
	}
	cost := (hi - lo) * (4*kd*vdim + 2*deltaChunk*(kd+vdim))
	p.Parallel(d.VHeads, cost, func(h0, h1 int) {
		for h := h0; h < h1; h++ {
			kg := h % d.KHeads
			if d.Grouped {
				kg = h / (d.VHeads / d.KHeads)
			}
			sc := &d.scratch[h]
			st := rec[h*kd*vdim : (h+1)*kd*vdim] // Sᵀ: row j is column j of S
			for c0 := lo; c0 < hi; c0 += deltaChunk {
				c1 := min(c0+deltaChunk, hi)
				d.chunk(sc, st, mixed, out, c0, c1, h, kg, ch, vd, scale)
			}
		}
	})
}

// chunk is one chunk [c0, c1) of value head h (key head kg).
func (d *GatedDeltaNet) chunk(sc *chunkScratch, st, mixed, out []float32, c0, c1, h, kg, ch, vd int, scale float32) {
	var serial *kernels.Pool
	kd, vdim, n := d.KeyDim, d.ValueDim, c1-c0
	sc.k, sc.q, sc.kc = grow(sc.k, n*kd), grow(sc.q, n*kd), grow(sc.kc, n*kd)
	sc.bkT, sc.ckT = grow(sc.bkT, kd*n), grow(sc.ckT, kd*n)
	sc.bvT, sc.u, sc.uT = grow(sc.bvT, vdim*n), grow(sc.u, n*vdim), grow(sc.uT, vdim*n)
	sc.o1, sc.o2, sc.w = grow(sc.o1, n*vdim), grow(sc.o2, n*vdim), grow(sc.w, n*vdim)
	sc.kk, sc.qk, sc.tri = grow(sc.kk, n*n), grow(sc.qk, n*n), grow(sc.tri, n*n)
	sc.gam, sc.dS = grow(sc.gam, n), grow(sc.dS, vdim*kd)
	beta, gam := d.bsig[c0*d.VHeads:], sc.gam
	var sum float32
	for t := range n {
		row := mixed[(c0+t)*ch:]
		copy(sc.q[t*kd:(t+1)*kd], row[kg*kd:(kg+1)*kd])
		kernels.Scale(sc.q[t*kd:(t+1)*kd], scale)
		copy(sc.k[t*kd:(t+1)*kd], row[d.KHeads*kd+kg*kd:d.KHeads*kd+(kg+1)*kd])
		sum += d.gate[(c0+t)*d.VHeads+h]
		gam[t] = sum
	}
	// β_t and the rows of βV and βe^ΓK, transposed for the products.
	for t := range n {
		b := beta[t*d.VHeads+h]
		v := mixed[(c0+t)*ch+2*d.KHeads*kd+h*vdim:]
		for j := range vdim {
			sc.bvT[j*n+t] = b * v[j]
		}
		be := b * kernels.Exp(gam[t])
		last := kernels.Exp(gam[n-1] - gam[t])
		for i := range kd {
			sc.bkT[i*n+t] = be * sc.k[t*kd+i]
			sc.ckT[i*n+t] = last * sc.k[t*kd+i]
		}
	}
	K := f32Mat(sc.k, n, kd)
	serial.MatMul(sc.kk, K, sc.k, n) // kk[t][s] = k_t·k_s
	serial.MatMul(sc.qk, K, sc.q, n) // qk[t][s] = q_t·k_s
	// T = (I + L)⁻¹, lower unitriangular, by forward substitution.
	tri := sc.tri
	clear(tri)
	for t := range n {
		b := beta[t*d.VHeads+h]
		row := tri[t*n : (t+1)*n]
		for s := 0; s < t; s++ {
			l := b * kernels.Exp(gam[t]-gam[s]) * sc.kk[t*n+s]
			kernels.Axpy(row[:s+1], -l, tri[s*n:s*n+s+1])
		}
		row[t] = 1
	}
	serial.MatMul(sc.w, f32Mat(sc.bvT, vdim, n), tri, n) // W = T(βV)
	serial.MatMul(sc.kc, f32Mat(sc.bkT, kd, n), tri, n)  // Kc = T(βe^ΓK)
	S := f32Mat(st, vdim, kd)
	serial.MatMul(sc.u, S, sc.kc, n) // Kc S₀
	serial.MatMul(sc.o1, S, sc.q, n) // Q S₀
	for t := range n {
		u := sc.u[t*vdim : (t+1)*vdim]
		w := sc.w[t*vdim : (t+1)*vdim]
		for j := range vdim {
			u[j] = w[j] - u[j]
			sc.uT[j*n+t] = u[j]
		}
		// The causal mask with its decays, in place in qk.
		qk := sc.qk[t*n : (t+1)*n]
		for s := range n {
			if s <= t {
				qk[s] *= kernels.Exp(gam[t] - gam[s])
			} else {
				qk[s] = 0
			}
		}
	}
	serial.MatMul(sc.o2, f32Mat(sc.uT, vdim, n), sc.qk, n) // masked QKᵀ U
	for t := range n {
		e := kernels.Exp(gam[t])
		o := out[(c0+t)*vd+h*vdim : (c0+t)*vd+(h+1)*vdim]
		o1, o2 := sc.o1[t*vdim:(t+1)*vdim], sc.o2[t*vdim:(t+1)*vdim]
		for j := range vdim {
			o[j] = e*o1[j] + o2[j]
		}
	}
	// S ← e^{Γ_last}S₀ + Σ_s e^{Γ_last−Γ_s} k_s u_sᵀ, kept as Sᵀ.
	serial.MatMul(sc.dS, f32Mat(sc.ckT, kd, n), sc.uT, vdim)
	kernels.Scale(st, kernels.Exp(gam[n-1]))
	kernels.Axpy(st, 1, sc.dS)
}
