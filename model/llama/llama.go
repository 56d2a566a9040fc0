// Package llama implements the Llama architecture (general.architecture
// "llama"): Llama 2, Llama 3/3.1/3.2/3.3, TinyLlama, SmolLM, Mistral-7B and
// the many models that share their GGUF layout. Importing the package
// registers it with package model.
//
// The forward pass is the one in Karpathy's llama2.c run.c, batched over
// tokens: embed, then per layer RMS norm, q/k/v projections, rotary
// embedding (adjacent pairs), grouped-query attention over the cache,
// output projection and residual, RMS norm, SwiGLU feed-forward and
// residual; final RMS norm and the classifier.
//
// Mixtral 8x7B and 8x22B are Llama files with expert_count set: every
// feed-forward is then a sparse mixture of SwiGLU experts (see moe.go). The
// model also computes embeddings (embed.go), the final normed hidden state
// pooled as llama.cpp's embedding context pools it.
package llama

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

const arch = "llama"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
}

// Model is a loaded Llama model.
type Model struct {
	hp   Hyper
	info model.Info

	tokEmbd *kernels.Matrix // vocab × embd
	outNorm []float32
	output  layers.Linear // the classifier; token_embd when tied
	blocks  []block
	attn    layers.Attention

	pool  *kernels.Pool
	batch int // most tokens per pass through the layers

	mu sync.Mutex // serialises Forward, which owns s
	s  scratch
}

// block is one transformer layer's weights.
type block struct {
	attnNorm   []float32
	q, k, v, o layers.Linear
	ffnNorm    []float32
	ffn        layers.SwiGLU
	moe        *layers.MoE // replaces ffn in a mixture-of-experts model
}

// scratch holds the activations of one pass, one row per token.
type scratch struct {
	n       int       // tokens the buffers are sized for
	x       []float32 // residual stream, n × embd
	xb      []float32 // normed input / block output, n × embd
	q, att  []float32 // queries and attention output, n × heads·headDim
	k, v    []float32 // new keys and values, n × kvHeads·headDim
	hb, hb2 []float32 // feed-forward hidden, n × ffn
	rope    []float32 // cos/sin tables, n × rope dims
	moe     layers.MoEScratch
}

// Load builds a Llama model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*Model, error) {
	hp, err := readHyper(f)
	if err != nil {
		return nil, err
	}
	m := &Model{hp: hp, pool: kernels.NewPool(cfg.Threads), batch: cfg.Batch()}
	if err := m.loadTensors(f); err != nil {
		return nil, err
	}
	m.attn = layers.Attention{Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim, Scale: 1 / float32(math.Sqrt(float64(hp.HeadDim)))}
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
	if w.Has("output.weight") {
		m.output = linear("output", hp.Embd, vocab)
	} else {
		m.output = layers.Linear{W: m.tokEmbd} // tied embeddings
	}
	hp.Rope.Factors = vec(w.OptVector("rope_freqs.weight", hp.RopeDims/2))
	// Blocks are appended, not preallocated: a corrupt block_count must
	// fail on a missing tensor, not allocate first.
	m.blocks = make([]block, 0, min(hp.Layers, len(f.Tensors)))
	for i := 0; i < hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		b := block{
			attnNorm: vec(w.Vector(p+"attn_norm.weight", hp.Embd)),
			q:        linear(p+"attn_q", hp.Embd, qDim),
			k:        linear(p+"attn_k", hp.Embd, kvDim),
			v:        linear(p+"attn_v", hp.Embd, kvDim),
			o:        linear(p+"attn_output", qDim, hp.Embd),
			ffnNorm:  vec(w.Vector(p+"ffn_norm.weight", hp.Embd)),
		}
		if err != nil {
			return err
		}
		if b.moe, err = loadMoE(w, p, hp); err != nil {
			return err
		}
		if b.moe == nil {
			b.ffn = layers.SwiGLU{
				Gate: linear(p+"ffn_gate", hp.Embd, hp.FFN),
				Up:   linear(p+"ffn_up", hp.Embd, hp.FFN),
				Down: linear(p+"ffn_down", hp.FFN, hp.Embd),
			}
		}
		if err != nil {
			return err
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
func (m *Model) NewCache(size int, f16 bool) (*kvcache.Cache, error) {
	if size == 0 {
		size = m.hp.Context
	}
	return kvcache.New(m.hp.Layers, size, m.hp.KVHeads, m.hp.HeadDim, f16)
}

// Close implements model.Model.
func (m *Model) Close() error { return m.pool.Close() }

// Forward implements model.Model. Long batches are evaluated in passes of
// at most Config.BatchSize tokens; the caches are committed only when all
// passes succeed.
func (m *Model) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := model.NewPlan(b, m.info, len(logits))
	if err != nil {
		return err
	}
	return p.Run(m.batch, m.info.VocabSize, logits, func(t []int32, pos []int, c []*kvcache.Cache, out []bool, l []float32) error {
		return m.forward(ctx, t, pos, c, out, l)
	})
}

// forward runs one pass of n tokens through the network, writing the logits
// of the tokens marked in out to consecutive rows of logits.
func (m *Model) forward(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool, logits []float32) error {
	k, err := m.hidden(ctx, tokens, pos, caches, out)
	if err != nil {
		return err
	}
	m.output.Forward(m.pool, logits, m.s.xb, k) // classifier
	return nil
}

// hidden runs one pass of n tokens through the layers and leaves the final
// normed hidden states of the k tokens marked in out in the first k rows of
// m.s.xb.
func (m *Model) hidden(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool) (k int, err error) {
	hp, n, dim := &m.hp, len(tokens), m.hp.Embd
	s := m.scratch(n)
	x := s.x[:n*dim]

	for i, tok := range tokens {
		if err := kernels.GetRow(x[i*dim:(i+1)*dim], m.tokEmbd, int(tok)); err != nil { // token embedding
			return 0, err
		}
	}
	layers.RopeTables(&hp.Rope, s.rope, pos) // every layer rotates by the same angles

	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		b := &m.blocks[l]
		layers.RMSNorm(s.xb, x, b.attnNorm, hp.Eps, n) // attention norm
		layers.Project(m.pool, s.xb, n,                // query, key, value
			layers.Proj{L: &b.q, Dst: s.q}, layers.Proj{L: &b.k, Dst: s.k}, layers.Proj{L: &b.v, Dst: s.v})
		layers.Rope(&hp.Rope, s.q, hp.Heads, hp.HeadDim, s.rope, n)    // rotate queries
		layers.Rope(&hp.Rope, s.k, hp.KVHeads, hp.HeadDim, s.rope, n)  // rotate keys
		if err := m.attn.Store(caches, pos, l, s.k, s.v); err != nil { // append k, v to the cache
			return 0, err
		}
		m.attn.Forward(m.pool, s.att, s.q, caches, pos, l) // attention over the cache
		b.o.Forward(m.pool, s.xb, s.att, n)                // output projection
		kernels.Add(x, s.xb[:n*dim])                       // residual
		layers.RMSNorm(s.xb, x, b.ffnNorm, hp.Eps, n)      // feed-forward norm
		if b.moe != nil {
			b.moe.Forward(m.pool, s.xb, s.xb, n, &s.moe) // mixture of experts
		} else {
			b.ffn.Forward(m.pool, s.xb, s.xb, n, s.hb, s.hb2) // SwiGLU feed-forward
		}
		kernels.Add(x, s.xb[:n*dim]) // residual
	}

	for i, o := range out { // rows that want output, gathered to the front of xb
		if o {
			copy(s.xb[k*dim:(k+1)*dim], x[i*dim:(i+1)*dim])
			k++
		}
	}
	layers.RMSNorm(s.xb, s.xb, m.outNorm, hp.Eps, k) // final norm
	return k, nil
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
		n:    n,
		x:    make([]float32, n*hp.Embd),
		xb:   make([]float32, n*max(hp.Embd, qDim)),
		q:    make([]float32, n*qDim),
		att:  make([]float32, n*qDim),
		k:    make([]float32, n*kvDim),
		v:    make([]float32, n*kvDim),
		hb:   make([]float32, n*hp.FFN),
		hb2:  make([]float32, n*hp.FFN),
		rope: make([]float32, n*hp.RopeDims),
	}
	return s
}
