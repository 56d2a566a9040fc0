package layers

import (
	"fmt"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

// Attention is causal multi-head attention over the KV cache with grouped
// key/value heads (query head h reads key/value head h / (Heads/KVHeads)),
// and the variations families add: a sliding window, soft-capped scores and
// attention sinks. A score is Scale·q·k (Scale 0 means 1: families that
// scale the queries beforehand, as Gemma and Phi-3 do, leave it 0 so that an
// fp16 cache meets the same rounded query as in llama.cpp).
type Attention struct {
	Heads, KVHeads, HeadDim int
	Scale                   float32
	// Window, when positive, limits the token at p to the positions
	// (p−Window, p]; 0 attends to the whole causal prefix [0, p].
	Window int
	// Softcap, when positive, replaces each score s by
	// Softcap·tanh(s/Softcap) before the softmax (Gemma 2).
	Softcap float32
	// Sinks, when set, holds one logit per query head that joins the
	// softmax's normaliser without a value (gpt-oss): the weights then sum
	// to less than 1.
	Sinks []float32
	// Bidirectional makes a token attend to every position of its
	// sequence in the batch, before and after it (an encoder, or a decoder
	// used as one: EmbeddingGemma), not only to earlier ones; Window then
	// limits it to the positions within Window/2 on either side (llama.cpp's
	// symmetric sliding window). The whole sequence must be in one batch.
	Bidirectional bool
}

// Validate reports head counts that do not group and settings out of range.
func (a *Attention) Validate() error {
	if a.Heads <= 0 || a.KVHeads <= 0 || a.HeadDim <= 0 || a.Heads%a.KVHeads != 0 {
		return fmt.Errorf("attention: %d heads, %d KV heads of %d", a.Heads, a.KVHeads, a.HeadDim)
	}
	if a.Window < 0 || !(a.Softcap >= 0) || math.IsInf(float64(a.Softcap), 0) {
		return fmt.Errorf("attention: window %d and soft cap %v must not be negative", a.Window, a.Softcap)
	}
	if a.Sinks != nil && len(a.Sinks) != a.Heads {
		return fmt.Errorf("attention: %d sinks for %d heads", len(a.Sinks), a.Heads)
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

// CheckCache returns an error unless layer of c can serve this attention: a
// sliding cache layer must keep at least this attention's window, which a
// full layer always does.
func (a *Attention) CheckCache(c *kvcache.Cache, layer int) error {
	if !c.Sliding(layer) {
		return nil
	}
	if a.Window == 0 || c.Window() < a.Window {
		return fmt.Errorf("attention: layer %d of the cache keeps a window of %d positions, the model attends to %d (0: all)",
			layer, c.Window(), a.Window)
	}
	return nil
}

// CheckWindows returns an error, wrapping kvcache.ErrEvicted, when a
// cache's sliding layers no longer hold the window of its sequence's first
// token in a batch: token i, of sequence seq[i] (all 0 when seq is nil), at
// position pos[i]. A model calls it before model.NewPlan rewinds any cache,
// so that a refused batch changes nothing. Tokens a malformed batch places
// out of range are left for NewPlan to report.
func CheckWindows(caches []*kvcache.Cache, seq, pos []int) error {
	seen := make([]bool, len(caches))
	for i, p := range pos {
		s := 0
		if seq != nil {
			if i >= len(seq) {
				break
			}
			s = seq[i]
		}
		if s < 0 || s >= len(caches) || seen[s] || caches[s] == nil {
			continue
		}
		seen[s] = true
		if p >= 0 && p <= caches[s].Len() {
			if err := caches[s].Holds(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Forward computes, for each token i and query head h, the softmax-weighted
// sum of the cached values of the positions token i sees in its sequence,
// and writes it to out (Heads × HeadDim per token). The tokens' own keys and
// values must already be stored, so tokens of one batch see each other
// causally. The cache rows are read through the ring mapping of
// [kvcache.Cache.Slots], so sliding cache layers work as long as they hold
// the window, which [CheckWindows] and passes that fit the rings guarantee.
// Each token and key/value head is a parallel job covering the query heads
// of that group, which read each cached key and value once.
//
// Over an fp16 cache the query and the attention weights are rounded to
// fp16 before they meet the keys and values, as in llama.cpp, whose KQ and
// KQV products convert their float32 operand to the cache's type.
func (a *Attention) Forward(p *kernels.Pool, out, q []float32, caches []*kvcache.Cache, pos []int, layer int) {
	n, hd := len(caches), a.HeadDim
	group := a.Heads / a.KVHeads
	kvDim := a.KVHeads * hd
	var ends map[*kvcache.Cache]int // each sequence's last position, attending both ways
	if a.Bidirectional {
		ends = map[*kvcache.Cache]int{}
		for i, p := range pos[:n] {
			ends[caches[i]] = max(ends[caches[i]], p)
		}
	}
	span := 0
	for i := range n {
		first, last := a.bounds(caches[i], pos[i], ends)
		span = max(span, last-first+1)
	}
	p.Parallel(n*a.KVHeads, 2*span*hd*group, func(lo, hi int) {
		sb := scratch.Get().(*[]float32)
		if need := group * (2*span + hd); cap(*sb) < need {
			*sb = make([]float32, need)
		}
		for job := lo; job < hi; job++ {
			i, g := job/a.KVHeads, job%a.KVHeads
			h0 := i*a.Heads + g*group
			qg := q[h0*hd : (h0+group)*hd]
			og := out[h0*hd : (h0+group)*hd]
			c := caches[i]
			first, last := a.bounds(c, pos[i], ends)
			w := newWindow(first, last, c.Slots(layer))
			T := w.len()
			att := (*sb)[:group*T]
			tmp := (*sb)[group*span : 2*group*span]
			off := g * hd
			if k16, v16 := c.LayerF16(layer); k16 != nil {
				q16 := (*sb)[2*group*span : 2*group*span+group*hd]
				copy(q16, qg)
				kernels.RoundFP16(q16)
				w.each(att, tmp, group, func(dst []float32, slot int) {
					kernels.DotF16Heads(dst, q16, group, k16[slot*kvDim+off:], kvDim)
				})
				a.softmax(att, group, g*group)
				kernels.RoundFP16(att)
				clear(og)
				w.gather(att, tmp, group, func(weights []float32, slot int) {
					kernels.AxpyF16Heads(og, weights, group, v16[slot*kvDim+off:], kvDim)
				})
			} else {
				k32, v32 := c.LayerF32(layer)
				for h := range group {
					qh, ah := qg[h*hd:(h+1)*hd], att[h*T:(h+1)*T]
					for j := range ah {
						row := w.slot(j)*kvDim + off
						ah[j] = kernels.Dot(qh, k32[row:row+hd])
					}
				}
				a.softmax(att, group, g*group)
				clear(og)
				for h := range group {
					oh, ah := og[h*hd:(h+1)*hd], att[h*T:(h+1)*T]
					for j, wt := range ah {
						row := w.slot(j)*kvDim + off
						kernels.Axpy(oh, wt, v32[row:row+hd])
					}
				}
			}
		}
		scratch.Put(sb)
	})
}

// bounds returns the first and last position the token at p of cache c
// attends to: causally [p−Window+1 or 0, p], or for bidirectional
// attention its sequence's positions in the batch (ends), within Window/2
// of p when windowed.
func (a *Attention) bounds(c *kvcache.Cache, p int, ends map[*kvcache.Cache]int) (first, last int) {
	if !a.Bidirectional {
		if a.Window > 0 {
			first = max(0, p-a.Window+1)
		}
		return first, p
	}
	last = ends[c]
	if a.Window > 0 {
		half := a.Window / 2
		first, last = max(0, p-half), min(last, p+half)
	}
	return first, last
}

// scratch holds per-worker attention rows: scores, a copy of one run of
// them, then the queries.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// softmax turns the scores of heads query heads, the first being head
// first of a token, into weights: scaled, capped and normalised, with the
// heads' sinks when there are any.
func (a *Attention) softmax(att []float32, heads, first int) {
	T := len(att) / heads
	for h := range heads {
		ah := att[h*T : (h+1)*T]
		if a.Scale != 0 && a.Scale != 1 {
			kernels.Scale(ah, a.Scale)
		}
		if a.Softcap > 0 {
			SoftCap(ah, a.Softcap)
		}
		if a.Sinks != nil {
			SoftmaxSink(ah, a.Sinks[first+h])
		} else {
			kernels.Softmax(ah)
		}
	}
}

// SoftmaxSink replaces x by its softmax with an extra logit s in the
// normaliser, as ggml's soft_max with sinks computes it: the maximum
// includes s, the exponentials are float32 summed in float64 with e^(s−max)
// added last, and the reciprocal of the sum is rounded to float32.
func SoftmaxSink(x []float32, s float32) {
	m := s
	for _, v := range x {
		m = max(m, v)
	}
	var sum float64
	for i, v := range x {
		x[i] = kernels.Exp(v - m)
		sum += float64(x[i])
	}
	sum += float64(kernels.Exp(s - m))
	kernels.Scale(x, float32(1/sum))
}

// SoftCap replaces every element v of x by c·tanh(v/c), which bounds it to
// (−c, c) smoothly: Gemma's attention-logit and final-logit soft-capping.
// As in llama.cpp's graph the division is a multiplication by the float32
// 1/c.
func SoftCap(x []float32, c float32) {
	inv := 1 / c
	for i, v := range x {
		x[i] = c * tanh32(v*inv)
	}
}

// tanh32 is tanhf: tanh rounded to float32.
func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }

// window is the run of positions [first, last] one token attends to, as it
// lies in a cache layer of slots rows: in order from row first mod slots,
// wrapping to row 0 at most once (a ring holds at least the window).
type window struct {
	first, last, slots int
	// The positions split into at most two runs of consecutive rows:
	// n0 from row start, then the rest from row 0.
	start, n0 int
}

func newWindow(first, last, slots int) window {
	w := window{first: first, last: last, slots: slots, start: first % slots}
	w.n0 = min(w.len(), slots-w.start)
	return w
}

// len returns the number of positions.
func (w window) len() int { return w.last - w.first + 1 }

// slot returns the row of the j-th position.
func (w window) slot(j int) int { return (w.first + j) % w.slots }

// each computes the scores of heads queries over the window, heads × len
// in att, by calling dot for each run with a destination laid out heads ×
// run length and the run's first row; tmp holds a run when there are two.
func (w window) each(att, tmp []float32, heads int, dot func(dst []float32, slot int)) {
	T := w.len()
	if w.n0 == T {
		dot(att, w.start)
		return
	}
	for _, r := range [2]struct{ at, n, slot int }{{0, w.n0, w.start}, {w.n0, T - w.n0, 0}} {
		run := tmp[:heads*r.n]
		dot(run, r.slot)
		for h := range heads {
			copy(att[h*T+r.at:h*T+r.at+r.n], run[h*r.n:(h+1)*r.n])
		}
	}
}

// gather applies the weights att (heads × len) run by run, in position
// order, by calling axpy with the run's weights laid out heads × run length
// and its first row.
func (w window) gather(att, tmp []float32, heads int, axpy func(weights []float32, slot int)) {
	T := w.len()
	if w.n0 == T {
		axpy(att, w.start)
		return
	}
	for _, r := range [2]struct{ at, n, slot int }{{0, w.n0, w.start}, {w.n0, T - w.n0, 0}} {
		run := tmp[:heads*r.n]
		for h := range heads {
			copy(run[h*r.n:(h+1)*r.n], att[h*T+r.at:h*T+r.at+r.n])
		}
		axpy(run, r.slot)
	}
}
