// Package decoder runs decoder-only transformers assembled from the parts
// in model/layers. A family's package reads its hyperparameters (most of
// them with [ReadHyper]), loads its tensors with a [Loader] and states its
// recipe: per layer which norms, which attention, which feed-forward, and
// the network's scalars. The forward pass, the KV cache (sliding layers
// included), batching, cancellation and embeddings live here, once, so a
// family reads like llama.cpp's src/models/*.cpp in a fraction of the
// lines.
//
// A layer computes, as llama.cpp's graphs do:
//
//	h = AttnNorm(x)                         (h = x when absent)
//	q, k, v = Q·h, K·h, V·h                 (one pass over h)
//	q, k = QNorm(q), KNorm(k)               (per head, when present)
//	q, k = rope(q), rope(k)                 (unless the layer has no rotation)
//	q = q · QScale · temperature(pos)       (when set)
//	a = O · attention(q, cache + k, v)
//	x = x + ResidualScale · PostAttnNorm(a)
//	h = FFNNorm(x);  x = x + ResidualScale · PostFFNNorm(FFN(h))
//
// and the network embeds (× EmbedScale), runs the layers, applies the
// output norm and the classifier, then × LogitScale and the final soft cap.
// Gemma 3n adds two hooks: a low-rank branch beside the attention (Block's
// Laurel) and residual streams beside x that predict each layer's input and
// are corrected by its output (Recipe's Streams).
package decoder

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// NoRope marks a layer that does not rotate its queries and keys.
const NoRope = -1

// Block is one transformer layer.
type Block struct {
	AttnNorm     layers.Norm
	Q, K, V, O   layers.Linear
	QNorm, KNorm layers.Norm // per head, or over all heads when as wide
	// Rope indexes Recipe.Ropes, or is NoRope.
	Rope int
	// QScale, when not 0, multiplies the rotated queries (Gemma's
	// 1/√query_pre_attn_scalar, Phi-3's 1/√head_dim) so that attention
	// itself scales by Attn.Scale, usually 0 then.
	QScale float32
	// Temp, when set, scales the queries by position (Llama 4 and
	// Mistral 3 attention temperature tuning).
	Temp         *Temperature
	Attn         layers.Attention
	PostAttnNorm layers.Norm
	FFNNorm      layers.Norm
	FFN          layers.FeedForward
	PostFFNNorm  layers.Norm
	// VFromK takes the values from the key projection (before its norm)
	// where a layer has no V (Gemma 4); VNorm, when present, norms them
	// per head.
	VFromK bool
	VNorm  layers.Norm
	// OutScale, when not 0, multiplies the layer's output, the residual
	// stream itself (Gemma 4's layer_output_scale).
	OutScale float32
	// ShareKV makes the layer compute no keys or values of its own: it
	// attends to those block KVFrom (an earlier layer of the same
	// geometry and window) stored (Gemma 4 E2B/E4B's shared KV layers);
	// the cache has no layer for it.
	ShareKV bool
	KVFrom  int
	// PerLayer, when set, adds the layer's share of the per-layer token
	// embeddings after the feed-forward (Gemma 4 E2B/E4B).
	PerLayer *PerLayerBlock
	// MLA, when set, computes the layer's queries, keys and values as
	// multi-head latent attention and expands its output before O
	// (DeepSeek-V2/V3); Q, K, V and the q/k norms are then unused.
	MLA *MLA
	// QGate makes Q project to each head's queries followed by as many
	// gate values, and the attention output of each head is multiplied by
	// σ(gate) before O (Qwen3.5's gated attention).
	QGate bool
	// Recurrent, when set, replaces the layer's attention by a mixer over
	// recurrent states the sequence's cache keeps (Qwen3.5's Gated
	// DeltaNet, Granite 4's Mamba-2); the layer has no keys or values, and
	// AttnNorm, FFN and the other norms work as for attention.
	Recurrent layers.Recurrent
	// Laurel, when set, adds a low-rank residual beside the attention
	// (Gemma 3n); see [Laurel].
	Laurel *Laurel
}

// Temperature is llama.cpp's attention temperature tuning: the queries of
// the token at position p are multiplied by
// ln(⌊(p + Offset) / Floor⌋ + 1) · Scale + 1.
type Temperature struct {
	Scale, Offset float32
	Floor         int
}

// factor returns the multiplier at position pos, in llama.cpp's precision.
func (t *Temperature) factor(pos int) float32 {
	p := float32(pos)
	return float32(math.Log(float64(float32(math.Floor(float64((p+t.Offset)/float32(t.Floor)))))+1)*float64(t.Scale) + 1)
}

// Rotation is one rotary embedding of a network. Long, when set, replaces
// Rope for the sequences whose cache holds more than LongAfter positions:
// Phi-3's LongRoPE picks its long or short factors once per context, by its
// size, and the cache's size plays that part here.
type Rotation struct {
	kernels.Rope
	Long      *kernels.Rope
	LongAfter int
}

func (r *Rotation) pick(c *kvcache.Cache) *kernels.Rope {
	if r.Long != nil && c.Size() > r.LongAfter {
		return r.Long
	}
	return &r.Rope
}

// Recipe is a whole network.
type Recipe struct {
	Hyper  Hyper
	Embd   *kernels.Matrix // token_embd: vocab × embd
	Blocks []Block
	Ropes  []Rotation
	// EmbedScale multiplies the token embeddings (Gemma's √dim, Granite's
	// embedding multiplier) unless 0; EmbedNorm, when present, then norms
	// them (ModernBERT).
	EmbedScale float32
	EmbedNorm  layers.Norm
	// ResidualScale multiplies each block's output before it is added to
	// the residual stream (Granite) unless 0.
	ResidualScale float32
	OutNorm       layers.Norm
	Output        layers.Linear // the classifier; token_embd when tied
	// LogitScale multiplies the logits (Granite's 1/logit_scale) unless 0;
	// FinalSoftcap, when positive, then soft-caps them (Gemma).
	LogitScale, FinalSoftcap float32
	// Rank is a reranker's classification head, used by Rank when the
	// file's pooling is rank.
	Rank RankHead
	// Encoder marks a network used only for embeddings with bidirectional
	// attention (EmbeddingGemma): Embed evaluates the whole sequence in one
	// pass with a float32 cache, as llama.cpp's cacheless attention does,
	// and Forward and NewCache refuse.
	Encoder bool
	// Dense are projections applied, in order, to the pooled embedding
	// (EmbeddingGemma's dense_2 and dense_3).
	Dense []layers.Linear
	// PerLayer, when set, gives every layer a small embedding of each
	// token of its own (Gemma 4 E2B/E4B); see [PerLayerBlock].
	PerLayer *PerLayerInput
	// Streams, when set, keeps residual streams beside the layers' own
	// (Gemma 3n's AltUp); see [Streams].
	Streams Streams
}

// Model is a loaded decoder. It implements model.Model and model.Embedder.
type Model struct {
	r     Recipe
	info  model.Info
	pool  *kernels.Pool
	batch int // most tokens per pass through the layers

	sliding []bool // per cache layer: attends within a window
	window  int    // the largest window, 0 when no layer slides

	stateOf   []int // per block: its first recurrent state (two per recurrent mixer), -1 for attention
	stateSize []int // per recurrent state: its elements

	cacheLayer  []int           // per block: its layer of the cache
	shapes      []kvcache.Shape // per cache layer: the geometry of its keys and values
	qMax, kvMax int             // the widest queries and keys of a layer

	mu sync.Mutex // serialises Forward and Embed, which own s
	s  scratch
}

// New checks the recipe and returns the model. Its weights stay views of
// the file they were loaded from.
func New(r Recipe, cfg model.Config) (*Model, error) {
	hp := &r.Hyper
	if len(r.Blocks) != hp.Layers {
		return nil, fmt.Errorf("%s: %d blocks for block_count %d", hp.Arch, len(r.Blocks), hp.Layers)
	}
	m := &Model{r: r, batch: cfg.Batch(), cacheLayer: make([]int, hp.Layers), stateOf: make([]int, hp.Layers)}
	for l := range r.Blocks {
		b := &r.Blocks[l]
		m.stateOf[l] = -1
		if d := b.Recurrent; d != nil {
			if err := d.Validate(); err != nil {
				return nil, fmt.Errorf("%s: layer %d: %w", hp.Arch, l, err)
			}
			m.stateOf[l] = len(m.stateSize)
			m.stateSize = append(m.stateSize, d.ConvState(), d.RecState())
			m.cacheLayer[l] = -1
			continue
		}
		if err := b.Attn.Validate(); err != nil {
			return nil, fmt.Errorf("%s: layer %d: %w", hp.Arch, l, err)
		}
		if b.Rope != NoRope && (b.Rope < 0 || b.Rope >= len(r.Ropes)) {
			return nil, fmt.Errorf("%s: layer %d: rotation %d of %d", hp.Arch, l, b.Rope, len(r.Ropes))
		}
		m.qMax = max(m.qMax, b.Attn.Heads*b.Attn.HeadDim)
		m.kvMax = max(m.kvMax, b.Attn.KVHeads*b.Attn.HeadDim)
		if b.ShareKV {
			if b.KVFrom < 0 || b.KVFrom >= l || r.Blocks[b.KVFrom].ShareKV {
				return nil, fmt.Errorf("%s: layer %d shares the keys and values of layer %d, which has none of its own", hp.Arch, l, b.KVFrom)
			}
			from := &r.Blocks[b.KVFrom].Attn
			if from.KVHeads != b.Attn.KVHeads || from.HeadDim != b.Attn.HeadDim || from.Window != b.Attn.Window {
				return nil, fmt.Errorf("%s: layer %d shares the keys and values of layer %d, of another geometry or window", hp.Arch, l, b.KVFrom)
			}
			m.cacheLayer[l] = m.cacheLayer[b.KVFrom]
			continue
		}
		m.cacheLayer[l] = len(m.shapes)
		m.shapes = append(m.shapes, kvcache.Shape{KVHeads: b.Attn.KVHeads, HeadDim: b.Attn.HeadDim, VIsK: b.MLA != nil})
		m.sliding = append(m.sliding, b.Attn.Window > 0)
		if b.Attn.Window > 0 {
			if m.window != 0 && m.window != b.Attn.Window {
				return nil, fmt.Errorf("%s: sliding windows of %d and %d positions", hp.Arch, m.window, b.Attn.Window)
			}
			m.window = b.Attn.Window
		}
	}
	if d := r.Dense; len(d) > 0 && (d[0].W.Cols != hp.Embd || d[len(d)-1].W.Rows != hp.Embd) {
		return nil, fmt.Errorf("%s: dense projections must start and end at embedding_length %d", hp.Arch, hp.Embd)
	}
	if hp.Pooling == model.PoolingRank && r.Rank.Out.W == nil {
		return nil, fmt.Errorf("%s: pooling_type rank needs a classification head, and tensor %q is missing", hp.Arch, "cls.output.weight")
	}
	m.info = model.Info{
		Arch: hp.Arch, Name: hp.Name, VocabSize: r.Embd.Rows, ContextLength: hp.Context,
		EmbeddingLength: hp.Embd, FeedForwardLength: hp.FFN, Layers: hp.Layers,
		Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim,
	}
	for _, sh := range m.shapes {
		if len(m.shapes) != hp.Layers || sh != (kvcache.Shape{KVHeads: hp.KVHeads, HeadDim: hp.HeadDim}) {
			m.info.KVShapes = m.shapes // layers of different geometry or shared (Gemma 4)
			break
		}
	}
	m.pool = kernels.NewPool(cfg.Threads)
	return m, nil
}

// Recipe returns the network as loaded.
func (m *Model) Recipe() *Recipe { return &m.r }

// Info implements model.Model.
func (m *Model) Info() model.Info { return m.info }

// Close implements model.Model.
func (m *Model) Close() error { return m.pool.Close() }

// NewCache implements model.Model; size 0 means the trained context length.
// Sliding layers keep only Window−1+Config.BatchSize positions.
func (m *Model) NewCache(size int, f16 bool) (*kvcache.Cache, error) {
	hp := &m.r.Hyper
	if m.r.Encoder {
		return nil, m.encoderOnly()
	}
	if size == 0 {
		size = hp.Context
	}
	var sl kvcache.Sliding
	if m.window > 0 {
		sl = kvcache.Sliding{Window: m.window, Batch: m.batch, Layers: m.sliding}
	}
	c, err := kvcache.NewShaped(size, f16, m.shapes, sl)
	if err == nil && len(m.stateSize) > 0 {
		err = c.AddStates(m.stateSize...)
	}
	return c, err
}

// Forward implements model.Model. Long batches are evaluated in passes of
// at most Config.BatchSize tokens (fewer when a cache's sliding layers hold
// less); the caches are committed only when all passes succeed.
func (m *Model) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	if m.r.Encoder {
		return m.encoderOnly()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pass := m.batch
	if len(m.stateSize) > 0 {
		pass = min(pass, checkpointEvery)
	}
	if m.window > 0 {
		for _, c := range b.Caches {
			if c == nil || c.Layers() != len(m.shapes) {
				continue // NewPlan says what is wrong
			}
			for l := range m.r.Blocks {
				cl := m.cacheLayer[l]
				if cl < 0 {
					continue // a recurrent layer: no keys or values
				}
				if err := m.r.Blocks[l].Attn.CheckCache(c, cl); err != nil {
					return fmt.Errorf("%s: %w", m.info.Arch, err)
				}
				if c.Sliding(cl) && c.Slots(cl) < c.Size() {
					pass = min(pass, c.Slots(cl)-c.Window()+1) // a pass must fit the ring
				}
			}
		}
	}
	if m.window > 0 || len(m.stateSize) > 0 {
		// Check the caches before NewPlan rewinds them, so that a refused
		// batch leaves them as they were: sliding layers must still hold
		// the window, recurrent states must be able to resume there.
		if err := layers.CheckWindows(b.Caches, b.Seq, b.Pos); err != nil {
			return err
		}
	}
	p, err := model.NewPlan(b, m.info, len(logits))
	if err != nil {
		return err
	}
	return p.Run(pass, m.info.VocabSize, logits, func(t []int32, pos []int, c []*kvcache.Cache, out []bool, l []float32) error {
		k, err := m.hidden(ctx, t, pos, c, out)
		if err != nil {
			return err
		}
		l = l[:k*m.info.VocabSize]
		m.r.Output.Forward(m.pool, l, m.s.xb, k) // classifier
		if m.r.LogitScale != 0 {
			kernels.Scale(l, m.r.LogitScale)
		}
		if m.r.FinalSoftcap > 0 {
			layers.SoftCap(l, m.r.FinalSoftcap)
		}
		return nil
	})
}

// hidden runs one pass of n tokens through the layers and leaves the final
// normed hidden states of the k tokens marked in out in the first k rows of
// m.s.xb.
func (m *Model) hidden(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool) (k int, err error) {
	r, hp, n := &m.r, &m.r.Hyper, len(tokens)
	dim := hp.Embd
	s := m.scratch(n)
	x := s.x[:n*dim]

	for i, tok := range tokens {
		if err := kernels.GetRow(x[i*dim:(i+1)*dim], r.Embd, int(tok)); err != nil { // token embedding
			return 0, err
		}
	}
	if r.EmbedScale != 0 {
		kernels.Scale(x, r.EmbedScale)
	}
	r.EmbedNorm.Forward(x, x, n)
	if r.PerLayer != nil {
		if err := r.PerLayer.inputs(m, s, tokens, x, n); err != nil {
			return 0, err
		}
	}
	if r.Streams != nil {
		r.Streams.Begin(m.pool, x, n)
	}
	for j := range r.Ropes { // every layer of a rotation turns by the same angles
		rot, d := &r.Ropes[j], r.Ropes[j].Dims
		for i, p := range pos {
			rot.pick(caches[i]).Table(s.rope[j][i*d:(i+1)*d], p)
		}
	}

	if len(m.stateSize) > 0 {
		if err := beginStates(caches, pos); err != nil {
			return 0, err
		}
	}
	for l := range r.Blocks {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b := &r.Blocks[l]
		a := &b.Attn // this layer's geometry
		qDim, kvDim := a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
		if r.Streams != nil { // the layer's input, predicted from the streams
			r.Streams.Predict(m.pool, l, x, n)
		}
		h := x
		if b.AttnNorm.Present() {
			b.AttnNorm.Forward(s.xb, x, n) // attention norm
			h = s.xb
		}
		if b.Laurel != nil { // the low-rank branch beside the attention
			b.Laurel.forward(m.pool, s, h[:n*hp.Embd], n)
		}
		if b.Recurrent != nil { // a mixer over the recurrent states
			s.conv, s.rec = s.conv[:0], s.rec[:0]
			for _, c := range caches {
				s.conv = append(s.conv, c.State(m.stateOf[l]))
				s.rec = append(s.rec, c.State(m.stateOf[l]+1))
			}
			b.Recurrent.Forward(m.pool, s.xb, h, n, s.conv, s.rec)
			m.finishLayer(b, l, x, n, s)
			continue
		}
		switch {
		case b.MLA != nil: // latent attention: queries and cached latents
			var rot *kernels.Rope
			var tab []float32
			if b.Rope != NoRope {
				rot, tab = &r.Ropes[b.Rope].Rope, s.rope[b.Rope]
			}
			b.MLA.project(m.pool, s.q, s.k, h, n, rot, tab)
			copy(s.v[:n*kvDim], s.k[:n*kvDim]) // the values are the cached vector too
		case b.ShareKV: // the query only: keys and values are an earlier layer's
			b.Q.Forward(m.pool, s.q, h, n)
		case b.VFromK: // query and key; the values are the raw keys (Gemma 4)
			layers.Project(m.pool, h, n, layers.Proj{L: &b.Q, Dst: s.q}, layers.Proj{L: &b.K, Dst: s.k})
			copy(s.v[:n*kvDim], s.k[:n*kvDim])
		case b.QGate: // queries interleaved with their gates, head by head
			s.qg = grow(s.qg, 2*n*qDim)
			s.gate = grow(s.gate, n*qDim)
			layers.Project(m.pool, h, n,
				layers.Proj{L: &b.Q, Dst: s.qg}, layers.Proj{L: &b.K, Dst: s.k}, layers.Proj{L: &b.V, Dst: s.v})
			hd := a.HeadDim
			for r := 0; r < n*a.Heads; r++ {
				copy(s.q[r*hd:(r+1)*hd], s.qg[2*r*hd:(2*r+1)*hd])
				copy(s.gate[r*hd:(r+1)*hd], s.qg[(2*r+1)*hd:(2*r+2)*hd])
			}
		default:
			layers.Project(m.pool, h, n, // query, key, value
				layers.Proj{L: &b.Q, Dst: s.q}, layers.Proj{L: &b.K, Dst: s.k}, layers.Proj{L: &b.V, Dst: s.v})
		}
		if b.VNorm.Present() && !b.ShareKV { // per head (Gemma 4)
			b.VNorm.Forward(s.v, s.v, n*kvDim/len(b.VNorm.W))
		}
		if b.QNorm.Present() { // per head, or over all heads (OLMo 2)
			b.QNorm.Forward(s.q, s.q, n*qDim/len(b.QNorm.W))
		}
		if b.KNorm.Present() && !b.ShareKV {
			b.KNorm.Forward(s.k, s.k, n*kvDim/len(b.KNorm.W))
		}
		if b.Rope != NoRope && b.MLA == nil {
			rot := &r.Ropes[b.Rope].Rope
			layers.Rope(rot, s.q, a.Heads, a.HeadDim, s.rope[b.Rope], n) // rotate queries
			if !b.ShareKV {
				layers.Rope(rot, s.k, a.KVHeads, a.HeadDim, s.rope[b.Rope], n) // rotate keys
			}
		}
		if b.QScale != 0 {
			kernels.Scale(s.q[:n*qDim], b.QScale)
		}
		if b.Temp != nil {
			for i, p := range pos {
				kernels.Scale(s.q[i*qDim:(i+1)*qDim], b.Temp.factor(p))
			}
		}
		cl := m.cacheLayer[l]
		if !b.ShareKV {
			if err := b.Attn.Store(caches, pos, cl, s.k, s.v); err != nil { // append k, v to the cache
				return 0, err
			}
		}
		b.Attn.Forward(m.pool, s.att, s.q, caches, pos, cl) // attention over the cache
		att := s.att
		if b.MLA != nil { // out of the latent space, one head at a time
			b.MLA.expand(m.pool, s.q, s.att, n)
			att = s.q
		}
		if b.QGate { // each head's output times σ(its gate)
			for i, g := range s.gate[:n*qDim] {
				att[i] *= 1 / (1 + kernels.Exp(-g))
			}
		}
		b.O.Forward(m.pool, s.xb, att, n) // output projection
		m.finishLayer(b, l, x, n, s)
	}

	if len(m.stateSize) > 0 {
		endStates(caches, pos) // only a whole pass leaves valid states
	}
	if r.Streams != nil {
		r.Streams.End(m.pool, x, n)
	}
	for i, o := range out { // rows that want output, gathered to the front of xb
		if o {
			copy(s.xb[k*dim:(k+1)*dim], x[i*dim:(i+1)*dim])
			k++
		}
	}
	r.OutNorm.Forward(s.xb, s.xb, k) // final norm
	return k, nil
}

// finishLayer adds the attention's output (in s.xb) to the residual stream
// x and runs the rest of layer l: the feed-forward and what follows it.
func (m *Model) finishLayer(b *Block, l int, x []float32, n int, s *scratch) {
	dim := m.r.Hyper.Embd
	m.residual(x, s.xb[:n*dim], &b.PostAttnNorm, n)
	if b.Laurel != nil {
		b.Laurel.mix(x, s)
	}
	h := x
	if b.FFNNorm.Present() {
		b.FFNNorm.Forward(s.xb, x, n) // feed-forward norm
		h = s.xb
	}
	b.FFN.Forward(m.pool, s.xb, h, n, &s.ffn) // feed-forward
	m.residual(x, s.xb[:n*dim], &b.PostFFNNorm, n)
	if b.PerLayer != nil { // this layer's per-layer embedding (Gemma 4 E2B/E4B)
		b.PerLayer.add(m, x, s.perLayer, l, n)
	}
	if b.OutScale != 0 { // the whole layer's output (Gemma 4's layer scalar)
		kernels.Scale(x, b.OutScale)
	}
	if m.r.Streams != nil { // the streams corrected by the layer's output
		var in []float32
		if m.r.PerLayer != nil {
			in = s.perLayer
		}
		m.r.Streams.Correct(m.pool, l, x, in, n)
	}
}

// beginStates readies the recurrent states of every sequence in a pass:
// each must continue from its first token's position (or start at 0).
func beginStates(caches []*kvcache.Cache, pos []int) error {
	seen := map[*kvcache.Cache]bool{}
	for i, c := range caches {
		if !seen[c] { // the sequence's first token of the pass
			seen[c] = true
			if err := c.BeginStates(pos[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// endStates records where each sequence's states stand after a pass: after
// its last token.
func endStates(caches []*kvcache.Cache, pos []int) {
	last, count := map[*kvcache.Cache]int{}, map[*kvcache.Cache]int{}
	for i, c := range caches {
		last[c] = pos[i] + 1
		count[c]++
	}
	for c, p := range last {
		c.EndStates(p)
		// A prefix to come back to: the end of each prompt pass (see
		// checkpointEvery), and every checkpointEvery positions while
		// generating, not each generated token.
		if count[c] > 1 || p%checkpointEvery == 0 {
			c.SaveCheckpoint()
		}
	}
}

// checkpointEvery bounds the passes of a model with recurrent states, each
// of which ends in a checkpoint: a prompt keeps one every so many tokens,
// and a later prompt that shares a prefix resumes from the last one inside
// it.
const checkpointEvery = 256

// residual adds a block's output y, normed by post when present and scaled
// by the recipe's residual scale, to the residual stream x.
func (m *Model) residual(x, y []float32, post *layers.Norm, n int) {
	post.Forward(y, y, n)
	if m.r.ResidualScale != 0 {
		kernels.Scale(y, m.r.ResidualScale)
	}
	kernels.Add(x, y)
}

// scratch holds the activations of one pass, one row per token.
type scratch struct {
	n      int       // tokens the buffers are sized for
	x      []float32 // residual stream, n × embd
	xb     []float32 // normed input / block output, n × max(embd, heads·headDim)
	q, att []float32 // queries and attention output, n × heads·headDim
	k, v   []float32 // new keys and values, n × kvHeads·headDim
	rope   [][]float32
	ffn    layers.Scratch
	// perLayer holds the per-layer inputs, n × layers × per-layer width,
	// and pl one layer's gate, n × per-layer width.
	perLayer, pl []float32
	// qg and gate: gated attention's joint projection and its gates;
	// conv and rec: each token's recurrent states for a recurrent layer.
	qg, gate  []float32
	conv, rec [][]float32
	// laurel holds a layer's low-rank residual branch, n × embd, and
	// laurelLow its rank-wide middle.
	laurel, laurelLow []float32
}

// scratch returns buffers for n tokens, growing them when needed.
func (m *Model) scratch(n int) *scratch {
	s := &m.s
	if s.n >= n {
		return s
	}
	hp := &m.r.Hyper
	qDim, kvDim := m.qMax, m.kvMax
	s.n = n
	s.x = make([]float32, n*hp.Embd)
	s.xb = make([]float32, n*max(hp.Embd, qDim))
	s.q = make([]float32, n*qDim)
	s.att = make([]float32, n*qDim)
	s.k = make([]float32, n*kvDim)
	s.v = make([]float32, n*kvDim)
	s.rope = make([][]float32, len(m.r.Ropes))
	for j := range s.rope {
		s.rope[j] = make([]float32, n*m.r.Ropes[j].Dims)
	}
	return s
}

// Pooling implements model.Embedder: the file's pooling_type, PoolingNone
// (the last token) for the usual file, which declares none.
func (m *Model) Pooling() model.Pooling { return m.r.Hyper.Pooling }

// Embed implements model.Embedder: it runs tokens through the layers with
// a cache of its own (fp16, as llama.cpp's embedding context keeps it) and
// pools the final normed hidden states, those the classifier would read.
// Attention stays causal, as in llama.cpp for decoders.
func (m *Model) Embed(ctx context.Context, tokens []int32, pool model.Pooling, dst []float32) error {
	if err := model.CheckEmbed(m.info, tokens, pool, dst, m.r.Hyper.Context); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.pooled(ctx, tokens, pool, dst); err != nil {
		return err
	}
	x := dst[:m.r.Hyper.Embd]
	for _, d := range m.r.Dense { // projections of the pooled embedding
		y := make([]float32, d.W.Rows)
		d.Forward(m.pool, y, x, 1)
		x = y
	}
	copy(dst, x)
	return nil
}

// pooled evaluates tokens as one sequence of its own, from position 0 in a
// fresh cache, and pools the final normed states into dst. The caller
// holds m.mu and has checked the arguments.
func (m *Model) pooled(ctx context.Context, tokens []int32, pool model.Pooling, dst []float32) error {
	hp, batch := &m.r.Hyper, m.batch
	var c *kvcache.Cache
	var err error
	if m.r.Encoder { // the whole sequence at once, attention in float32
		c, err = kvcache.NewShaped(len(tokens), false, m.shapes, kvcache.Sliding{})
		batch = len(tokens)
	} else {
		c, err = m.NewCache(len(tokens), true)
	}
	if err != nil {
		return err
	}
	return model.EmbedDecoder(ctx, m.info, c, tokens, pool, batch, dst,
		func(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool) ([]float32, error) {
			k, err := m.hidden(ctx, tokens, pos, caches, out)
			return m.s.xb[:k*hp.Embd], err
		})
}

// encoderOnly is the error of Forward and NewCache on an encoder.
func (m *Model) encoderOnly() error {
	return fmt.Errorf("%s: %w (bidirectional attention: no KV cache or logits; use Embed or `ondo embed`)", m.info.Arch, model.ErrEmbeddingOnly)
}

// RankHead is a reranker's classification head as llama.cpp's rank
// pooling applies it: the final normed states pooled as Pool says (the
// last token for Qwen3, the mean for ModernBERT), then Cls with GELU (tanh
// unless GELU is set) and Norm when the file has them, then Out, softmax
// when Softmax is set (Qwen3: "yes" then "no"); the score is the first
// output.
type RankHead struct {
	Pool    model.Pooling
	Cls     layers.Linear
	GELU    bool
	Norm    layers.Norm
	Out     layers.Linear
	Softmax bool
}

// Rank implements model.Ranker with the recipe's head.
func (m *Model) Rank(ctx context.Context, tokens []int32) (float32, error) {
	h := &m.r.Rank
	if m.r.Hyper.Pooling != model.PoolingRank {
		return 0, fmt.Errorf("%s: %w", m.info.Arch, model.ErrNotRanker)
	}
	x := make([]float32, m.info.EmbeddingLength)
	if err := model.CheckEmbed(m.info, tokens, h.Pool, x, m.r.Hyper.Context); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.pooled(ctx, tokens, h.Pool, x); err != nil {
		return 0, err
	}
	if h.Cls.W != nil {
		y := make([]float32, h.Cls.W.Rows)
		h.Cls.Forward(m.pool, y, x, 1)
		for i, v := range y {
			if h.GELU {
				y[i] = layers.GELU(v)
			} else {
				y[i] = float32(math.Tanh(float64(v)))
			}
		}
		h.Norm.Forward(y, y, 1)
		x = y
	}
	return model.ClassifyHead(m.pool, &h.Out, x, h.Softmax), nil
}

// PerLayerInput is Gemma 4 E2B/E4B's per-layer embeddings: every token has
// a small embedding per layer (TokEmbd, Width × layers per row), combined
// with a projection of the token's ordinary embedding, as llama.cpp's
// gemma4 graph computes them: (Norm(Proj·x / √embd) + TokEmbd[token]·√Width)
// / √2, normed per layer's chunk.
type PerLayerInput struct {
	TokEmbd *kernels.Matrix // vocab × layers·Width
	Proj    layers.Linear   // embd → layers·Width
	Norm    layers.Norm     // Width
	Width   int
}

// inputs computes the per-layer inputs of the n tokens into s.perLayer
// from the scaled embeddings x.
func (pl *PerLayerInput) inputs(m *Model, s *scratch, tokens []int32, x []float32, n int) error {
	L, w := m.r.Hyper.Layers, pl.Width
	all := L * w
	if len(s.perLayer) < n*all {
		s.perLayer = make([]float32, n*all)
	}
	in := s.perLayer[:n*all]
	pl.Proj.Forward(m.pool, in, x, n)
	kernels.Scale(in, 1/float32(math.Sqrt(float64(m.r.Hyper.Embd))))
	pl.Norm.Forward(in, in, n*L)
	row := make([]float32, all)
	scale := float32(math.Sqrt(float64(w)))
	for i, tok := range tokens {
		if err := kernels.GetRow(row, pl.TokEmbd, int(tok)); err != nil {
			return err
		}
		kernels.Scale(row, scale)
		kernels.Add(in[i*all:(i+1)*all], row)
	}
	kernels.Scale(in, 1/float32(math.Sqrt2))
	return nil
}

// PerLayerBlock is one layer's use of its per-layer input: x += Norm(Proj ·
// (gelu(Gate·x) ⊙ input)).
type PerLayerBlock struct {
	Gate layers.Linear // embd → Width
	Proj layers.Linear // Width → embd
	Norm layers.Norm   // embd
}

// add adds layer l's per-layer contribution to the residual stream x of n
// tokens, the inputs being in (n × layers × Width).
func (pb *PerLayerBlock) add(m *Model, x, in []float32, l, n int) {
	s, w, L, dim := &m.s, m.r.PerLayer.Width, m.r.Hyper.Layers, m.r.Hyper.Embd
	if len(s.pl) < n*w {
		s.pl = make([]float32, n*w)
	}
	g := s.pl[:n*w]
	pb.Gate.Forward(m.pool, g, x, n)
	for i := range n {
		gi, ii := g[i*w:(i+1)*w], in[(i*L+l)*w:(i*L+l+1)*w]
		for j, v := range gi {
			gi[j] = layers.GELU(v) * ii[j]
		}
	}
	y := s.xb[:n*dim]
	pb.Proj.Forward(m.pool, y, g, n)
	pb.Norm.Forward(y, y, n)
	kernels.Add(x, y)
}
