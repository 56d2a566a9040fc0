package decoder

import (
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model/layers"
)

// MLA is DeepSeek-V2's multi-head latent attention in llama.cpp's absorbed
// form. Each token's keys and values are compressed into one latent vector
// of KVRank elements (kv_a_mqa, then an RMS norm) plus RopeDims elements of
// a rotated key shared by every head; the cache stores only that (one "KV
// head" of KVRank+RopeDims, the values being the same vector). A query head
// is Nope plain and RopeDims rotated elements; its plain part is carried
// into the latent space by the head's KB matrix (KVRank × Nope), so that
// scores need no decompressed keys, and the head's attention output, a
// latent vector, is carried out by its VB matrix (VHead × KVRank) before
// the output projection.
//
// The block's Attn holds Heads query heads of KVRank+RopeDims over one KV
// head, scaled as the family decides; Q, K, V and the q/k norms of the
// Block are unused.
type MLA struct {
	// The query: QA, its norm and QB (a low-rank query), or Q alone.
	QA, QB, Q layers.Linear
	QANorm    layers.Norm
	// KVA projects to the latent and the rotated key; KVANorm norms the
	// latent.
	KVA     layers.Linear
	KVANorm layers.Norm
	// KB and VB are the per-head absorbed matrices (attn_k_b, attn_v_b).
	KB, VB []*kernels.Matrix

	Heads, Nope, RopeDims, KVRank, VHead int

	qr, qa, gather, head []float32 // scratch
}

// width returns the cached vector's size, KVRank + RopeDims.
func (a *MLA) width() int { return a.KVRank + a.RopeDims }

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// project computes, for the n rows of h, the queries (n × Heads × width:
// each head's absorbed plain part, then its rotated part) into q and the
// cached vectors (n × width: the normed latent, then the rotated key) into
// k. rot and tab rotate RopeDims elements (tab as [layers.RopeTables]
// fills it); rot is nil when the layer does not rotate.
func (a *MLA) project(p *kernels.Pool, q, k, h []float32, n int, rot *kernels.Rope, tab []float32) {
	hd := a.Nope + a.RopeDims // a raw query head
	a.qr = grow(a.qr, n*a.Heads*hd)
	if a.QA.W != nil {
		a.qa = grow(a.qa, n*a.QA.W.Rows)
		layers.Project(p, h, n, layers.Proj{L: &a.QA, Dst: a.qa}, layers.Proj{L: &a.KVA, Dst: k})
		a.QANorm.Forward(a.qa, a.qa, n)
		a.QB.Forward(p, a.qr, a.qa, n)
	} else {
		layers.Project(p, h, n, layers.Proj{L: &a.Q, Dst: a.qr}, layers.Proj{L: &a.KVA, Dst: k})
	}
	w := a.width()
	for i := 0; i < n; i++ { // the latent's norm, then the shared key's rotation
		row := k[i*w : (i+1)*w]
		a.KVANorm.Forward(row[:a.KVRank], row[:a.KVRank], 1)
		if rot != nil {
			rot.Apply(row[a.KVRank:], 1, a.RopeDims, tab[i*rot.Dims:(i+1)*rot.Dims])
		}
	}
	a.gather = grow(a.gather, n*max(a.Nope, a.KVRank))
	a.head = grow(a.head, n*max(a.KVRank, a.VHead))
	for hh := 0; hh < a.Heads; hh++ {
		for i := 0; i < n; i++ { // head hh's plain queries, one row per token
			copy(a.gather[i*a.Nope:(i+1)*a.Nope], a.qr[(i*a.Heads+hh)*hd:])
		}
		p.MatMul(a.head, a.KB[hh], a.gather[:n*a.Nope], n) // into the latent space
		for i := 0; i < n; i++ {
			dst := q[(i*a.Heads+hh)*w : (i*a.Heads+hh+1)*w]
			copy(dst[:a.KVRank], a.head[i*a.KVRank:(i+1)*a.KVRank])
			pe := dst[a.KVRank:]
			copy(pe, a.qr[(i*a.Heads+hh)*hd+a.Nope:(i*a.Heads+hh+1)*hd])
			if rot != nil {
				rot.Apply(pe, 1, a.RopeDims, tab[i*rot.Dims:(i+1)*rot.Dims])
			}
		}
	}
}

// expand carries each head's attention output (n × Heads × width, of which
// the first KVRank elements are the latent values) out of the latent space
// into dst (n × Heads × VHead).
func (a *MLA) expand(p *kernels.Pool, dst, att []float32, n int) {
	w := a.width()
	for hh := 0; hh < a.Heads; hh++ {
		for i := 0; i < n; i++ {
			copy(a.gather[i*a.KVRank:(i+1)*a.KVRank], att[(i*a.Heads+hh)*w:])
		}
		p.MatMul(a.head, a.VB[hh], a.gather[:n*a.KVRank], n)
		for i := 0; i < n; i++ {
			copy(dst[(i*a.Heads+hh)*a.VHead:(i*a.Heads+hh+1)*a.VHead], a.head[i*a.VHead:(i+1)*a.VHead])
		}
	}
}
