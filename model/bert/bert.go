// Package bert implements the BERT family of encoders that local embedding
// models are built on (general.architecture "bert": BGE, MiniLM,
// all-MiniLM, E5, GTE and their kin; and "nomic-bert": nomic-embed-text).
// Importing the package registers both with package model.
//
// An encoder computes embeddings, not logits: the model implements
// [model.Embedder], and its Forward and NewCache say it computes
// embeddings only. The network is llama.cpp's bert graph. The input is the
// sum of the token's embedding, the embedding of token type 0 (every token
// is in the first segment, as llama.cpp hardcodes) and, for BERT, the
// learned embedding of its position; then LayerNorm. Each layer attends
// bidirectionally (every token sees every other, no cache), adds the
// attention output to its input and normalises (LayerNorm with bias), runs
// the feed-forward (BERT: up, GELU, down, with biases; nomic-bert:
// SwiGLU), adds and normalises again. nomic-bert rotates queries and keys
// (GPT-NeoX style) instead of learning positions. The embedding pools the
// last layer's output as pooling_type says.
package bert

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

// The architectures the package registers.
const (
	bert   = "bert"
	nomic  = "nomic-bert"
	jinaV2 = "jina-bert-v2"
	jinaV3 = "jina-bert-v3"
)

// rotates reports whether architecture a rotates queries and keys (NeoX).
func rotates(a string) bool { return a == nomic || a == jinaV3 }

func init() {
	for _, a := range []string{bert, nomic, jinaV2, jinaV3} {
		model.Register(a, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, a, cfg) })
		model.MarkEmbeddingOnly(a)
	}
	model.Describe(bert, "BERT encoders (embeddings only): learned positions, post layer norms, GELU")
	model.Describe(nomic, "nomic-bert encoders (embeddings only): NeoX RoPE, post layer norms, SwiGLU")
	model.Describe(jinaV2, "Jina embeddings v2 (embeddings only): ALiBi instead of positions, GeGLU, optional q/k layer norms")
	model.Describe(jinaV3, "Jina embeddings v3 (embeddings only): XLM-RoBERTa with NeoX RoPE, GELU")
}

// Model is a loaded BERT-family encoder.
type Model struct {
	hp   Hyper
	info model.Info

	tokEmbd  *kernels.Matrix // vocab × embd
	posEmbd  *kernels.Matrix // positions × embd (BERT only)
	typeEmbd []float32       // the embedding of token type 0, or nil
	embdNorm layers.Norm
	blocks   []block
	// cls and clsOut are a reranker's head (pooling rank): a dense layer
	// with tanh on the [CLS] state, then one output per label.
	cls, clsOut layers.Linear

	pool *kernels.Pool

	mu sync.Mutex // serialises Embed, which owns s
	s  scratch
}

// block is one encoder layer's weights.
type block struct {
	q, k, v, o   layers.Linear
	qNorm, kNorm layers.Norm // jina-bert-v2: layer norms over all heads, optional
	attnNorm     layers.Norm // attn_output_norm: after the attention residual
	attnNorm2    layers.Norm // jina-bert-v2: the layer input added again and normed, optional
	ffn          layers.FeedForward
	outNorm      layers.Norm // layer_output_norm: after the feed-forward residual
}

// scratch holds the activations of one pass, one row per token.
type scratch struct {
	n      int       // tokens the buffers are sized for
	x      []float32 // layer input and output, n × embd
	xb, xc []float32 // attention output / feed-forward input and output, n × embd
	q, att []float32 // queries and attention output, n × embd
	k, v   []float32 // keys and values, n × kvHeads·headDim
	ffn    layers.Scratch
	rope   []float32 // cos/sin tables, n × rope dims (nomic-bert)
}

// Load builds an encoder of architecture a (bert or nomic-bert) from f,
// checking every hyperparameter and tensor shape. The model's weights are
// views of f's mapping.
func Load(f *gguf.File, a string, cfg model.Config) (*Model, error) {
	if a != bert && a != nomic && a != jinaV2 && a != jinaV3 {
		return nil, fmt.Errorf("bert: architecture %q is not bert, nomic-bert, jina-bert-v2 or jina-bert-v3", a)
	}
	hp, err := readHyper(f, a)
	if err != nil {
		return nil, err
	}
	m := &Model{hp: hp, pool: kernels.NewPool(cfg.Threads)}
	if err := m.loadTensors(f); err != nil {
		return nil, err
	}
	name, _ := f.String("general.name")
	m.info = model.Info{
		Arch: a, Name: name, VocabSize: m.tokEmbd.Rows, ContextLength: hp.Context,
		EmbeddingLength: hp.Embd, FeedForwardLength: hp.FFN, Layers: hp.Layers,
		Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hp.HeadDim,
	}
	return m, nil
}

func (m *Model) loadTensors(f *gguf.File) error {
	hp, a := &m.hp, m.hp.Arch
	w := model.NewWeights(f, a)
	vocab, err := w.Vocab(hp.Embd)
	if err != nil {
		return err
	}
	kvDim := hp.KVHeads * hp.HeadDim

	must, vec := model.Keep[*kernels.Matrix](&err), model.Keep[[]float32](&err)
	linear := func(name string, in, out int) layers.Linear {
		return layers.Linear{W: must(w.Matrix(name+".weight", in, out)), B: vec(w.OptVector(name+".bias", out))}
	}
	layerNorm := func(name string) layers.Norm {
		return layers.Norm{W: vec(w.Vector(name+".weight", hp.Embd)), B: vec(w.Vector(name+".bias", hp.Embd)), Eps: hp.Eps, Mean: true}
	}
	optLayerNorm := func(name string, n int) layers.Norm {
		if !w.Has(name + ".weight") {
			return layers.Norm{}
		}
		return layers.Norm{W: vec(w.Vector(name+".weight", n)), B: vec(w.OptVector(name+".bias", n)), Eps: hp.Eps, Mean: true}
	}

	m.tokEmbd = must(w.Matrix("token_embd.weight", hp.Embd, vocab))
	if a == jinaV2 && !w.Has("token_types.weight") {
		return fmt.Errorf("%s: missing tensor %q", a, "token_types.weight")
	}
	if w.Has("token_types.weight") {
		types := must(w.Matrix("token_types.weight", hp.Embd, hp.TokenTypes))
		if err == nil {
			m.typeEmbd = make([]float32, hp.Embd)
			err = kernels.GetRow(m.typeEmbd, types, 0)
		}
	}
	if a == bert {
		m.posEmbd = must(w.Matrix("position_embd.weight", hp.Embd, hp.Context))
	}
	m.embdNorm = layerNorm("token_embd_norm")
	if err != nil {
		return err
	}
	// Blocks are appended, not preallocated: a corrupt block_count must
	// fail on a missing tensor, not allocate first.
	m.blocks = make([]block, 0, min(hp.Layers, len(f.Tensors)))
	for i := 0; i < hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		var b block
		if w.Has(p + "attn_qkv.weight") {
			qkv := linear(p+"attn_qkv", hp.Embd, hp.Embd+2*kvDim)
			if err == nil {
				var parts []layers.Linear
				parts, err = layers.SplitLinear(qkv, hp.Embd, kvDim, kvDim)
				if err == nil {
					b.q, b.k, b.v = parts[0], parts[1], parts[2]
				}
			}
		} else {
			b.q = linear(p+"attn_q", hp.Embd, hp.Embd)
			b.k = linear(p+"attn_k", hp.Embd, kvDim)
			b.v = linear(p+"attn_v", hp.Embd, kvDim)
		}
		b.o = linear(p+"attn_output", hp.Embd, hp.Embd)
		b.attnNorm = layerNorm(p + "attn_output_norm")
		if a == jinaV2 {
			b.qNorm = optLayerNorm(p+"attn_q_norm", hp.Embd)
			b.kNorm = optLayerNorm(p+"attn_k_norm", kvDim)
			b.attnNorm2 = optLayerNorm(p+"attn_norm_2", hp.Embd)
		}
		switch {
		case a == jinaV2 && w.Has(p+"ffn_gate.weight"): // gelu(gate) · up
			b.ffn = &layers.GeGLU{
				Gate: layers.Linear{W: must(w.Matrix(p+"ffn_gate.weight", hp.Embd, hp.FFN))},
				Up:   linear(p+"ffn_up", hp.Embd, hp.FFN),
				Down: linear(p+"ffn_down", hp.FFN, hp.Embd),
			}
		case a == jinaV2: // ffn_up holds the gate rows, then the up rows
			gu, e := layers.SplitLinear(linear(p+"ffn_up", hp.Embd, 2*hp.FFN), hp.FFN, hp.FFN)
			if err == nil && e != nil {
				err = fmt.Errorf("%s: tensor %q: %w", a, p+"ffn_up.weight", e)
			}
			if err == nil {
				b.ffn = &layers.GeGLU{Gate: gu[0], Up: gu[1], Down: linear(p+"ffn_down", hp.FFN, hp.Embd)}
			}
		case a == nomic:
			// llama.cpp's graph uses no feed-forward biases here.
			b.ffn = &layers.SwiGLU{
				Up:   layers.Linear{W: must(w.Matrix(p+"ffn_up.weight", hp.Embd, hp.FFN))},
				Gate: layers.Linear{W: must(w.Matrix(p+"ffn_gate.weight", hp.Embd, hp.FFN))},
				Down: layers.Linear{W: must(w.Matrix(p+"ffn_down.weight", hp.FFN, hp.Embd))},
			}
		default:
			b.ffn = &layers.MLP{Up: linear(p+"ffn_up", hp.Embd, hp.FFN), Down: linear(p+"ffn_down", hp.FFN, hp.Embd), Act: layers.ActGELU}
		}
		b.outNorm = layerNorm(p + "layer_output_norm")
		if err != nil {
			return err
		}
		m.blocks = append(m.blocks, b)
	}
	if w.Has("cls.output.weight") {
		labels := 1
		if names, err := f.Strings(a + ".classifier.output_labels"); err == nil && len(names) > 0 {
			labels = len(names)
		}
		m.clsOut = linear("cls.output", hp.Embd, labels)
		if w.Has("cls.weight") {
			m.cls = linear("cls", hp.Embd, hp.Embd)
		}
		if err != nil {
			return err
		}
	}
	if hp.Pooling == model.PoolingRank && m.clsOut.W == nil {
		return fmt.Errorf("%s: pooling_type rank needs a classification head, and tensor %q is missing", a, "cls.output.weight")
	}
	return nil
}

// Hyper returns the hyperparameters.
func (m *Model) Hyper() Hyper { return m.hp }

// Info implements model.Model.
func (m *Model) Info() model.Info { return m.info }

// NewCache implements model.Model: an encoder keeps no cache, so it
// returns an error wrapping model.ErrEmbeddingOnly.
func (m *Model) NewCache(int, bool) (*kvcache.Cache, error) {
	return nil, fmt.Errorf("%s: %w (an encoder has no KV cache or logits; use Embed or `ondo embed`)", m.hp.Arch, model.ErrEmbeddingOnly)
}

// Forward implements model.Model: an encoder has no logits, so it returns
// an error wrapping model.ErrEmbeddingOnly.
func (m *Model) Forward(context.Context, *model.Batch, []float32) error {
	return fmt.Errorf("%s: %w (an encoder has no logits; use Embed or `ondo embed`)", m.hp.Arch, model.ErrEmbeddingOnly)
}

// Close implements model.Model.
func (m *Model) Close() error { return m.pool.Close() }

// Pooling implements model.Embedder: the file's pooling_type; PoolingNone,
// the last token ([SEP]), when it declares none, as llama.cpp does.
func (m *Model) Pooling() model.Pooling { return m.hp.Pooling }

// Embed implements model.Embedder. The whole sequence is encoded in one
// pass, since every token attends to every other; it may be at most
// context_length tokens long.
func (m *Model) Embed(ctx context.Context, tokens []int32, pool model.Pooling, dst []float32) error {
	if err := model.CheckEmbed(m.info, tokens, pool, dst, m.hp.Context); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.encode(ctx, tokens); err != nil {
		return err
	}
	model.PoolRows(dst, m.s.x, len(tokens), m.hp.Embd, pool)
	return nil
}

// encode runs the n tokens at positions 0…n-1 through the encoder and
// leaves the last layer's output in m.s.x.
func (m *Model) encode(ctx context.Context, tokens []int32) error {
	hp, n, dim := &m.hp, len(tokens), m.hp.Embd
	s := m.scratch(n)
	x := s.x[:n*dim]

	for i, tok := range tokens {
		xi := x[i*dim : (i+1)*dim]
		if err := kernels.GetRow(xi, m.tokEmbd, int(tok)); err != nil { // token embedding
			return err
		}
		if m.typeEmbd != nil {
			kernels.Add(xi, m.typeEmbd) // token type 0
		}
		if m.posEmbd != nil {
			if err := kernels.GetRow(s.xb[:dim], m.posEmbd, i); err != nil { // position embedding
				return err
			}
			kernels.Add(xi, s.xb[:dim])
		}
	}
	m.embdNorm.Forward(x, x, n) // embedding norm
	if rotates(hp.Arch) {
		pos := make([]int, n)
		for i := range pos {
			pos[i] = i
		}
		layers.RopeTables(&hp.Rope, s.rope, pos)
	}

	for l := range m.blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := &m.blocks[l]
		b.q.Forward(m.pool, s.q, x, n) // query
		b.k.Forward(m.pool, s.k, x, n) // key
		b.v.Forward(m.pool, s.v, x, n) // value
		b.qNorm.Forward(s.q, s.q, n)   // query and key layer norms (jina-bert-v2)
		b.kNorm.Forward(s.k, s.k, n)
		if rotates(hp.Arch) {
			layers.Rope(&hp.Rope, s.q, hp.Heads, hp.HeadDim, s.rope, n)   // rotate query halves
			layers.Rope(&hp.Rope, s.k, hp.KVHeads, hp.HeadDim, s.rope, n) // rotate key halves
		}
		m.attend(s.att, s.q, s.k, s.v, n)   // bidirectional attention (ALiBi for jina-bert-v2)
		b.o.Forward(m.pool, s.xb, s.att, n) // output projection
		kernels.Add(s.xb[:n*dim], x)        // residual
		b.attnNorm.Forward(s.xb, s.xb, n)   // attention norm
		if b.attnNorm2.Present() {          // the layer input once more (jina-bert-v2)
			kernels.Add(s.xb[:n*dim], x)
			b.attnNorm2.Forward(s.xb, s.xb, n)
		}
		b.ffn.Forward(m.pool, s.xc, s.xb, n, &s.ffn) // SwiGLU (nomic-bert) or GELU feed-forward
		kernels.Add(s.xc[:n*dim], s.xb[:n*dim])      // residual
		b.outNorm.Forward(x, s.xc, n)                // output norm
	}
	return nil
}

// attend computes multi-head attention in which each of the n tokens sees
// all n: out = softmax(scale · q·k) · v per token and query head, with
// grouped key/value heads, everything in float32 (no cache rounds it).
func (m *Model) attend(out, q, k, v []float32, n int) {
	hp := &m.hp
	hd, heads := hp.HeadDim, hp.Heads
	group := heads / hp.KVHeads
	kvDim := hp.KVHeads * hd
	scale := 1 / float32(math.Sqrt(float64(hd)))
	var slopes []float32
	if hp.Arch == jinaV2 {
		slopes = alibiSlopes(heads, alibiMaxBias)
	}
	m.pool.Parallel(n*heads, 2*n*hd, func(lo, hi int) {
		att := make([]float32, n)
		for job := lo; job < hi; job++ {
			i, h := job/heads, job%heads
			qh := q[(i*heads+h)*hd : (i*heads+h+1)*hd]
			oh := out[(i*heads+h)*hd : (i*heads+h+1)*hd]
			off := (h / group) * hd
			for t := range att {
				att[t] = kernels.Dot(qh, k[t*kvDim+off:t*kvDim+off+hd]) * scale
				if slopes != nil { // ALiBi: −slope·|distance|, rounded before the add as in ggml
					att[t] += float32(slopes[h] * -float32(max(i-t, t-i)))
				}
			}
			kernels.Softmax(att)
			clear(oh)
			for t, w := range att {
				kernels.Axpy(oh, w, v[t*kvDim+off:t*kvDim+off+hd])
			}
		}
	})
}

// scratch returns buffers for n tokens, growing them when needed.
func (m *Model) scratch(n int) *scratch {
	s := &m.s
	if s.n >= n {
		return s
	}
	hp := &m.hp
	kvDim := hp.KVHeads * hp.HeadDim
	*s = scratch{
		n:    n,
		x:    make([]float32, n*hp.Embd),
		xb:   make([]float32, n*hp.Embd),
		xc:   make([]float32, n*hp.Embd),
		q:    make([]float32, n*hp.Embd),
		att:  make([]float32, n*hp.Embd),
		k:    make([]float32, n*kvDim),
		v:    make([]float32, n*kvDim),
		rope: make([]float32, n*max(hp.Rope.Dims, 1)),
	}
	return s
}

// Rank implements model.Ranker for a reranker (pooling rank): the [CLS]
// state of the encoded pair through the head, cls with tanh (when the file
// has it) and cls.output, as llama.cpp's rank pooling; the first output.
func (m *Model) Rank(ctx context.Context, tokens []int32) (float32, error) {
	if m.hp.Pooling != model.PoolingRank {
		return 0, fmt.Errorf("%s: %w", m.hp.Arch, model.ErrNotRanker)
	}
	if err := model.CheckEmbed(m.info, tokens, model.PoolingCLS, make([]float32, m.hp.Embd), m.hp.Context); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.encode(ctx, tokens); err != nil {
		return 0, err
	}
	x := m.s.x[:m.hp.Embd]
	if m.cls.W != nil {
		h := make([]float32, m.hp.Embd)
		m.cls.Forward(m.pool, h, x, 1)
		for i, v := range h {
			h[i] = float32(math.Tanh(float64(v)))
		}
		x = h
	}
	return model.ClassifyHead(m.pool, &m.clsOut, x, false), nil
}

// alibiMaxBias is llama.cpp's f_max_alibi_bias for jina-bert-v2.
const alibiMaxBias = 8

// alibiSlopes returns the ALiBi slope of each of heads attention heads as
// ggml's soft_max computes them for a maximum bias b: with n the largest
// power of two not above heads, m0 = 2^(−b/n) and m1 = 2^(−b/2/n), head h
// gets m0^(h+1) if h < n and m1^(2(h−n)+1) otherwise, in float32.
func alibiSlopes(heads int, b float32) []float32 {
	n := 1 << uint(math.Floor(math.Log2(float64(heads))))
	m0 := float32(math.Pow(2, float64(-b/float32(n))))
	m1 := float32(math.Pow(2, float64(-(b/2)/float32(n))))
	s := make([]float32, heads)
	for h := range s {
		if h < n {
			s[h] = float32(math.Pow(float64(m0), float64(h+1)))
		} else {
			s[h] = float32(math.Pow(float64(m1), float64(2*(h-n)+1)))
		}
	}
	return s
}
