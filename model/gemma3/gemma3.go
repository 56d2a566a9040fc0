// Package gemma3 implements the text model of Google's Gemma 3
// (general.architecture "gemma3"): Gemma 3 1B, and the language model of
// 4B, 12B and 27B, whose vision tower is not supported. Importing the
// package registers it with package model.
//
// Gemma 3 is Gemma 2 (embeddings scaled by √dim, RMS norms before and after
// the attention and the feed-forward block, GeGLU with tanh-approximated
// GELU, GPT-NeoX rotary pairing, queries scaled by
// 1/√query_pre_attn_scalar) with these changes, all followed here as
// llama.cpp computes them: per-head RMS norms of the queries and keys
// before the rotation; no attention-logit soft-capping, and final
// soft-capping only when the file asks for it; five sliding-window layers
// (1024 positions) for each global one, the sliding layers rotating with
// base 10000 and no scaling, the global ones with rope.freq_base (1e6) and
// the model's linear scaling (8 for 4B and larger). The KV cache of the
// sliding layers keeps only the window (see kvcache.NewSliding).
package gemma3

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

const arch = "gemma3"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
}

// Model is a loaded Gemma 3 model.
type Model struct {
	hp   Hyper
	info model.Info

	tokEmbd   *kernels.Matrix // vocab × embd
	embdScale float32         // √embd
	outNorm   []float32
	output    *kernels.Matrix // the classifier; token_embd when tied
	blocks    []block

	pool  *kernels.Pool
	batch int // most tokens per pass through the layers

	mu sync.Mutex // serialises Forward, which owns s
	s  scratch
}

// block is one transformer layer's weights and attention.
type block struct {
	attnNorm     []float32
	q, k, v, o   layers.Linear
	qNorm, kNorm []float32 // per head
	postAttnNorm []float32
	ffnNorm      []float32
	ffn          layers.GeGLU
	postFFNNorm  []float32

	attn  layers.WindowAttention // windowed on sliding layers
	local bool                   // a sliding layer, rotated by Hyper.RopeLocal
}

// scratch holds the activations of one pass, one row per token.
type scratch struct {
	n            int       // tokens the buffers are sized for
	x            []float32 // residual stream, n × embd
	xb           []float32 // normed input / block output, n × max(embd, heads·headDim)
	q, att       []float32 // queries and attention output, n × heads·headDim
	k, v         []float32 // new keys and values, n × kvHeads·headDim
	hb, hb2      []float32 // feed-forward hidden, n × ffn
	ropeG, ropeL []float32 // cos/sin tables of the global and sliding layers
}

// Load builds a Gemma 3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*Model, error) {
	hp, err := readHyper(f)
	if err != nil {
		return nil, err
	}
	m := &Model{hp: hp, pool: kernels.NewPool(cfg.Threads), batch: cfg.Batch()}
	m.embdScale = float32(math.Sqrt(float64(hp.Embd)))
	if err := m.loadTensors(f); err != nil {
		return nil, err
	}
	name, _ := f.String("general.name")
	m.info = model.Info{
		Arch: arch, Name: name, VocabSize: m.tokEmbd.Rows, ContextLength: hp.Context,
		EmbeddingLength: hp.Embd, FeedForwardLength: hp.FFN, Layers: hp.Layers,
		Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim,
	}
	return m, nil
}

func (m *Model) loadTensors(f *gguf.File) error {
	hp := &m.hp
	w := model.NewWeights(f, arch)
	vocab, err := w.Vocab(hp.Embd)
	if err != nil {
		return err
	}
	qDim, kvDim := hp.Heads*hp.HeadDim, hp.KVHeads*hp.HeadDim

	must, vec := model.Keep[*kernels.Matrix](&err), model.Keep[[]float32](&err)
	linear := func(name string, in, out int) layers.Linear {
		return layers.Linear{W: must(w.Matrix(name+".weight", in, out)), B: vec(w.OptVector(name+".bias", out))}
	}

	m.tokEmbd = must(w.Matrix("token_embd.weight", hp.Embd, vocab))
	m.outNorm = vec(w.Vector("output_norm.weight", hp.Embd))
	m.output = m.tokEmbd // tied, unless the file has its own
	if w.Has("output.weight") {
		m.output = must(w.Matrix("output.weight", hp.Embd, vocab))
	}
	m.blocks = make([]block, 0, hp.Layers)
	for i := 0; i < hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		b := block{
			attnNorm:     vec(w.Vector(p+"attn_norm.weight", hp.Embd)),
			q:            linear(p+"attn_q", hp.Embd, qDim),
			k:            linear(p+"attn_k", hp.Embd, kvDim),
			v:            linear(p+"attn_v", hp.Embd, kvDim),
			o:            linear(p+"attn_output", qDim, hp.Embd),
			qNorm:        vec(w.Vector(p+"attn_q_norm.weight", hp.HeadDim)),
			kNorm:        vec(w.Vector(p+"attn_k_norm.weight", hp.HeadDim)),
			postAttnNorm: vec(w.Vector(p+"post_attention_norm.weight", hp.Embd)),
			ffnNorm:      vec(w.Vector(p+"ffn_norm.weight", hp.Embd)),
			ffn: layers.GeGLU{
				Gate: linear(p+"ffn_gate", hp.Embd, hp.FFN),
				Up:   linear(p+"ffn_up", hp.Embd, hp.FFN),
				Down: linear(p+"ffn_down", hp.FFN, hp.Embd),
			},
			postFFNNorm: vec(w.Vector(p+"post_ffw_norm.weight", hp.Embd)),
			attn:        layers.WindowAttention{Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim},
		}
		if err != nil {
			return err
		}
		if hp.Sliding[i] {
			b.attn.Window, b.local = hp.Window, true
		}
		m.blocks = append(m.blocks, b)
	}
	return err
}

// Hyper returns the hyperparameters.
func (m *Model) Hyper() Hyper { return m.hp }

// Info implements model.Model.
func (m *Model) Info() model.Info { return m.info }

// NewCache implements model.Model; size 0 means the trained context length.
// The sliding layers keep only Window−1+Config.BatchSize positions.
func (m *Model) NewCache(size int, f16 bool) (*kvcache.Cache, error) {
	if size == 0 {
		size = m.hp.Context
	}
	return kvcache.NewSliding(m.hp.Layers, size, m.hp.KVHeads, m.hp.HeadDim, f16,
		kvcache.Sliding{Window: m.hp.Window, Batch: m.batch, Layers: m.hp.Sliding})
}

// Close implements model.Model.
func (m *Model) Close() error { return m.pool.Close() }

// Forward implements model.Model. Long batches are evaluated in passes of
// at most Config.BatchSize tokens (fewer when a cache's sliding layers hold
// less); the caches are committed only when all passes succeed.
func (m *Model) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Check the caches before NewPlan rewinds them, so that a refused
	// batch leaves them as they were.
	pass := m.batch
	for _, c := range b.Caches {
		if c == nil || c.Layers() != len(m.blocks) {
			continue // NewPlan says what is wrong
		}
		for l := range m.blocks {
			if err := m.blocks[l].attn.CheckCache(c, l); err != nil {
				return fmt.Errorf("%s: %w", arch, err)
			}
			if c.Sliding(l) && c.Slots(l) < c.Size() {
				pass = min(pass, c.Slots(l)-c.Window()+1) // a pass must fit the ring
			}
		}
	}
	if err := layers.CheckWindows(b.Caches, b.Seq, b.Pos); err != nil {
		return err
	}
	p, err := model.NewPlan(b, m.info, len(logits))
	if err != nil {
		return err
	}
	return p.Run(pass, m.info.VocabSize, logits, func(t []int32, pos []int, c []*kvcache.Cache, out []bool, l []float32) error {
		return m.forward(ctx, t, pos, c, out, l)
	})
}

// forward runs one pass of n tokens through the network, writing the logits
// of the tokens marked in out to consecutive rows of logits.
func (m *Model) forward(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool, logits []float32) error {
	hp, n, dim := &m.hp, len(tokens), m.hp.Embd
	s := m.scratch(n)
	x := s.x[:n*dim]
	qDim := hp.Heads * hp.HeadDim

	for i, tok := range tokens {
		if err := kernels.GetRow(x[i*dim:(i+1)*dim], m.tokEmbd, int(tok)); err != nil { // token embedding
			return err
		}
	}
	kernels.Scale(x, m.embdScale) // × √dim
	layers.RopeTables(&hp.Rope, s.ropeG, pos)
	layers.RopeTables(&hp.RopeLocal, s.ropeL, pos)

	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := &m.blocks[l]
		rope, tab := &hp.Rope, s.ropeG
		if b.local {
			rope, tab = &hp.RopeLocal, s.ropeL
		}
		layers.RMSNorm(s.xb, x, b.attnNorm, hp.Eps, n)                 // attention norm
		b.q.Forward(m.pool, s.q, s.xb, n)                              // query
		b.k.Forward(m.pool, s.k, s.xb, n)                              // key
		b.v.Forward(m.pool, s.v, s.xb, n)                              // value
		layers.RMSNorm(s.q, s.q, b.qNorm, hp.Eps, n*hp.Heads)          // query norm, per head
		layers.RMSNorm(s.k, s.k, b.kNorm, hp.Eps, n*hp.KVHeads)        // key norm, per head
		layers.Rope(rope, s.q, hp.Heads, hp.HeadDim, tab, n)           // rotate queries
		layers.Rope(rope, s.k, hp.KVHeads, hp.HeadDim, tab, n)         // rotate keys
		kernels.Scale(s.q[:n*qDim], hp.QueryScale)                     // 1/√query_pre_attn_scalar
		if err := b.attn.Store(caches, pos, l, s.k, s.v); err != nil { // append k, v to the cache
			return err
		}
		b.attn.Forward(m.pool, s.att, s.q, caches, pos, l)    // soft-capped, windowed attention
		b.o.Forward(m.pool, s.xb, s.att, n)                   // output projection
		layers.RMSNorm(s.xb, s.xb, b.postAttnNorm, hp.Eps, n) // post-attention norm
		kernels.Add(x, s.xb[:n*dim])                          // residual
		layers.RMSNorm(s.xb, x, b.ffnNorm, hp.Eps, n)         // feed-forward norm
		b.ffn.Forward(m.pool, s.xb, s.xb, n, s.hb, s.hb2)     // GeGLU feed-forward
		layers.RMSNorm(s.xb, s.xb, b.postFFNNorm, hp.Eps, n)  // post-feed-forward norm
		kernels.Add(x, s.xb[:n*dim])                          // residual
	}

	k := 0 // rows that want logits, gathered to the front of xb
	for i, o := range out {
		if o {
			copy(s.xb[k*dim:(k+1)*dim], x[i*dim:(i+1)*dim])
			k++
		}
	}
	layers.RMSNorm(s.xb, s.xb, m.outNorm, hp.Eps, k) // final norm
	m.pool.MatMul(logits, m.output, s.xb, k)         // classifier
	if hp.FinalSoftcap > 0 {
		layers.SoftCap(logits[:k*m.info.VocabSize], hp.FinalSoftcap) // final soft-capping
	}
	return nil
}

// scratch returns buffers for n tokens, growing them when needed.
func (m *Model) scratch(n int) *scratch {
	s := &m.s
	if s.n >= n {
		return s
	}
	hp := &m.hp
	qDim, kvDim := hp.Heads*hp.HeadDim, hp.KVHeads*hp.HeadDim
	*s = scratch{
		n:     n,
		x:     make([]float32, n*hp.Embd),
		xb:    make([]float32, n*max(hp.Embd, qDim)),
		q:     make([]float32, n*qDim),
		att:   make([]float32, n*qDim),
		k:     make([]float32, n*kvDim),
		v:     make([]float32, n*kvDim),
		hb:    make([]float32, n*hp.FFN),
		hb2:   make([]float32, n*hp.FFN),
		ropeG: make([]float32, n*hp.Rope.Dims),
		ropeL: make([]float32, n*hp.RopeLocal.Dims),
	}
	return s
}
