// Package phi3 implements the Phi-3 architecture (general.architecture
// "phi3"): Phi-3 and Phi-3.5 mini and medium (4k and 128k), Phi-4 and
// Phi-4-mini. Importing the package registers it with package model.
//
// The network is Llama's with the projections stored fused and a LongRoPE
// rotation: attn_qkv holds the query, key and value rows stacked, ffn_up
// holds the gate rows and then the up rows of the SwiGLU feed-forward, the
// rotary embedding pairs element i of a head with element i+dims/2
// (GPT-NeoX style), divides each pair's frequency by a factor from
// rope_factors_long or rope_factors_short and scales cos and sin by
// rope.scaling.attn_factor, and the queries are scaled by 1/sqrt(headDim)
// before attention. Per layer: RMS norm, fused q/k/v projection, rotary
// embedding, grouped-query attention over the cache, output projection and
// residual, RMS norm, fused SwiGLU feed-forward and residual; final RMS
// norm and the classifier.
//
// Phi-3.5-MoE (phimoe) is another architecture; Phi-3-small's block-sparse
// attention has no GGUF conversion.
package phi3

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

const arch = "phi3"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
}

// Model is a loaded Phi-3 model.
type Model struct {
	hp   Hyper
	info model.Info

	tokEmbd *kernels.Matrix // vocab × embd
	outNorm []float32
	output  layers.Linear // the classifier; token_embd when tied
	blocks  []block
	attn    layers.Attention
	qScale  float32 // 1/sqrt(headDim), applied to the queries

	// ropeShort and ropeLong are hp.Rope with the short and the long
	// LongRoPE factors (no factors when the file has none).
	ropeShort, ropeLong kernels.Rope

	pool  *kernels.Pool
	batch int // most tokens per pass through the layers

	mu sync.Mutex // serialises Forward, which owns s
	s  scratch
}

// block is one transformer layer's weights. q, k and v are views of the
// rows of attn_qkv, and ffn's Gate and Up views of the two halves of
// ffn_up.
type block struct {
	attnNorm   []float32
	q, k, v, o layers.Linear
	ffnNorm    []float32
	ffn        layers.SwiGLU
}

// scratch holds the activations of one pass, one row per token.
type scratch struct {
	n       int       // tokens the buffers are sized for
	x       []float32 // residual stream, n × embd
	xb      []float32 // normed input / block output, n × embd
	q, att  []float32 // queries and attention output, n × heads·headDim
	k, v    []float32 // new keys and values, n × kvHeads·headDim
	hb, hb2 []float32 // feed-forward gate and up, n × ffn
	rope    []float32 // cos/sin tables, n × rope dims
}

// Load builds a Phi-3 model from f, checking every hyperparameter and
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
	// Phi-3 scales the queries, in float32, before they meet the keys;
	// attention itself then scales by 1 (llama.cpp's graph does the same,
	// which matters for the fp16 rounding of the queries).
	m.qScale = 1 / float32(math.Sqrt(float64(hp.HeadDim)))
	m.attn = layers.Attention{Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim, Scale: 1}
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
	split := func(name string, l layers.Linear, rows ...int) []layers.Linear {
		if err != nil {
			return make([]layers.Linear, len(rows))
		}
		parts, e := layers.SplitLinear(l, rows...)
		if e != nil {
			err = fmt.Errorf("%s: tensor %q: %w", arch, name, e)
			return make([]layers.Linear, len(rows))
		}
		return parts
	}

	m.tokEmbd = must(w.Matrix("token_embd.weight", hp.Embd, vocab))
	m.outNorm = vec(w.Vector("output_norm.weight", hp.Embd))
	if w.Has("output.weight") {
		m.output = layers.Linear{W: must(w.Matrix("output.weight", hp.Embd, vocab))}
	} else {
		m.output = layers.Linear{W: m.tokEmbd} // tied embeddings
	}
	long := vec(m.ropeFactors(w, "rope_factors_long.weight"))
	short := vec(m.ropeFactors(w, "rope_factors_short.weight"))
	m.ropeLong, m.ropeShort = hp.Rope, hp.Rope
	m.ropeLong.Factors, m.ropeShort.Factors = long, short

	// Blocks are appended, not preallocated: a corrupt block_count must
	// fail on a missing tensor, not allocate first.
	m.blocks = make([]block, 0, min(hp.Layers, len(f.Tensors)))
	for i := 0; i < hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		if w.Has(p + "ffn_gate_inp.weight") {
			return fmt.Errorf("%s: mixture-of-experts models (tensor %q) are not supported", arch, p+"ffn_gate_inp.weight")
		}
		b := block{attnNorm: vec(w.Vector(p+"attn_norm.weight", hp.Embd))}
		if w.Has(p+"attn_qkv.weight") || !w.Has(p+"attn_q.weight") {
			// The converter keeps Phi-3's fused qkv_proj; llama.cpp also
			// loads separate projections.
			qkv := split(p+"attn_qkv.weight", linear(p+"attn_qkv", hp.Embd, qDim+2*kvDim), qDim, kvDim, kvDim)
			b.q, b.k, b.v = qkv[0], qkv[1], qkv[2]
		} else {
			b.q = linear(p+"attn_q", hp.Embd, qDim)
			b.k = linear(p+"attn_k", hp.Embd, kvDim)
			b.v = linear(p+"attn_v", hp.Embd, kvDim)
		}
		b.o = layers.Linear{W: must(w.Matrix(p+"attn_output.weight", qDim, hp.Embd))}
		b.ffnNorm = vec(w.Vector(p+"ffn_norm.weight", hp.Embd))
		// ffn_up is gate_up_proj: the gate's rows first, then the up rows
		// (ggml_swiglu applies SiLU to the first half of each row).
		gu := split(p+"ffn_up.weight", layers.Linear{W: must(w.Matrix(p+"ffn_up.weight", hp.Embd, 2*hp.FFN))}, hp.FFN, hp.FFN)
		b.ffn = layers.SwiGLU{
			Gate: gu[0],
			Up:   gu[1],
			Down: layers.Linear{W: must(w.Matrix(p+"ffn_down.weight", hp.FFN, hp.Embd))},
		}
		if err != nil {
			return err
		}
		m.blocks = append(m.blocks, b)
	}
	return err
}

// ropeFactors reads an optional LongRoPE factor tensor: one divisor of the
// base frequency per rotated pair, each a positive number.
func (m *Model) ropeFactors(w *model.Weights, name string) ([]float32, error) {
	v, err := w.OptVector(name, m.hp.Rope.Dims/2)
	if err != nil || v == nil {
		return nil, err
	}
	for i, x := range v {
		if !(x > 0) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%s: tensor %q: factor %d is %v, not a positive number", arch, name, i, x)
		}
	}
	return v, nil
}

// ropeFor returns the rotation of the sequence in cache c. llama.cpp picks
// the LongRoPE factors once per context, by its size per sequence: long
// when it exceeds the pre-training context, short otherwise. The cache's
// size plays that part here, so a cache of up to OrigCtx positions
// rotates exactly as Phi-3's 4k model was trained.
func (m *Model) ropeFor(c *kvcache.Cache) *kernels.Rope {
	if c.Size() > m.hp.OrigCtx {
		return &m.ropeLong
	}
	return &m.ropeShort
}

// Hyper returns the hyperparameters.
func (m *Model) Hyper() Hyper { return m.hp }

// Info implements model.Model.
func (m *Model) Info() model.Info { return m.info }

// NewCache implements model.Model; size 0 means the trained context length
// (and so, for the 128k models, the long LongRoPE factors).
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
	hp, n, dim := &m.hp, len(tokens), m.hp.Embd
	qDim := hp.Heads * hp.HeadDim
	s := m.scratch(n)
	x := s.x[:n*dim]

	for i, tok := range tokens {
		if err := kernels.GetRow(x[i*dim:(i+1)*dim], m.tokEmbd, int(tok)); err != nil { // token embedding
			return err
		}
	}
	rd := hp.Rope.Dims
	for i, p := range pos { // every layer rotates by the same angles
		m.ropeFor(caches[i]).Table(s.rope[i*rd:(i+1)*rd], p)
	}

	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := &m.blocks[l]
		layers.RMSNorm(s.xb, x, b.attnNorm, hp.Eps, n)                 // attention norm
		b.q.Forward(m.pool, s.q, s.xb, n)                              // query (rows of attn_qkv)
		b.k.Forward(m.pool, s.k, s.xb, n)                              // key
		b.v.Forward(m.pool, s.v, s.xb, n)                              // value
		layers.Rope(&hp.Rope, s.q, hp.Heads, hp.HeadDim, s.rope, n)    // rotate query halves (LongRoPE)
		layers.Rope(&hp.Rope, s.k, hp.KVHeads, hp.HeadDim, s.rope, n)  // rotate key halves
		kernels.Scale(s.q[:n*qDim], m.qScale)                          // queries / sqrt(headDim)
		if err := m.attn.Store(caches, pos, l, s.k, s.v); err != nil { // append k, v to the cache
			return err
		}
		m.attn.Forward(m.pool, s.att, s.q, caches, pos, l) // attention over the cache
		b.o.Forward(m.pool, s.xb, s.att, n)                // output projection
		kernels.Add(x, s.xb[:n*dim])                       // residual
		layers.RMSNorm(s.xb, x, b.ffnNorm, hp.Eps, n)      // feed-forward norm
		b.ffn.Forward(m.pool, s.xb, s.xb, n, s.hb, s.hb2)  // SwiGLU over the halves of ffn_up
		kernels.Add(x, s.xb[:n*dim])                       // residual
	}

	k := 0 // rows that want logits, gathered to the front of xb
	for i, o := range out {
		if o {
			copy(s.xb[k*dim:(k+1)*dim], x[i*dim:(i+1)*dim])
			k++
		}
	}
	layers.RMSNorm(s.xb, s.xb, m.outNorm, hp.Eps, k) // final norm
	m.output.Forward(m.pool, logits, s.xb, k)        // classifier
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
		n:    n,
		x:    make([]float32, n*hp.Embd),
		xb:   make([]float32, n*max(hp.Embd, qDim)),
		q:    make([]float32, n*qDim),
		att:  make([]float32, n*qDim),
		k:    make([]float32, n*kvDim),
		v:    make([]float32, n*kvDim),
		hb:   make([]float32, n*hp.FFN),
		hb2:  make([]float32, n*hp.FFN),
		rope: make([]float32, n*hp.Rope.Dims),
	}
	return s
}
