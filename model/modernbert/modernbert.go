// Package modernbert implements ModernBERT encoders (general.architecture
// "modern-bert": ModernBERT base and large, granite-embedding-small and
// others built on it) for embeddings. Importing the package registers it
// with package model.
//
// ModernBERT is an encoder on the decoder parts: token embeddings layer-
// normed, then per layer a layer norm (none before layer 0), fused q/k/v
// with NeoX rotation, attention both ways, the output projection and
// residual, a layer norm, a GeGLU whose gate and up rows are fused in
// ffn_up, and residual; a final layer norm. No biases. With
// attention.sliding_window set, two layers of every three (all but layers
// 0, 3, 6, …, attention.sliding_window_pattern giving another period)
// attend within half the window on either side and rotate
// with rope.freq_base_swa without scaling, as llama.cpp's modern-bert graph
// does. A file with pooling_type rank is a reranker: the mean state goes
// through cls (no bias), GELU, the cls.norm layer norm and cls.output.
package modernbert

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

const arch = "modern-bert"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.MarkEmbeddingOnly(arch)
	model.Describe(arch, "ModernBERT encoders (embeddings only): layer norms, NeoX RoPE, attention both ways with 2:1 symmetric sliding windows, fused GeGLU")
}

// Load builds a ModernBERT encoder from f, checking every hyperparameter
// and tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	baseLocal := meta.FloatOr("rope.freq_base_swa", 10000)
	act := meta.StringOr("hidden_act", "gelu")
	if err := meta.Err(); err != nil {
		return nil, err
	}
	if act != "gelu" && act != "geglu" {
		return nil, decoder.Errorf(&hp, "hidden_act %q is not supported (gelu)", act)
	}
	sliding := make([]bool, hp.Layers)
	if hp.Window > 0 {
		if sliding, err = decoder.SlidingLayersDenseFirst(f, meta, hp.Layers, 3); err != nil {
			return nil, err
		}
	}
	global, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	local := global
	local.Base, local.FreqScale = baseLocal, 1
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Encoder = true
	r.Ropes = []decoder.Rotation{{Rope: global}, {Rope: local}}
	r.EmbedNorm = l.LayerNorm("token_embd_norm", hp.Embd)
	r.OutNorm = l.LayerNorm("output_norm", hp.Embd)
	if hp.Pooling == model.PoolingRank { // a reranker: mean, dense, GELU, layer norm, output
		r.Rank = decoder.RankHead{Pool: model.PoolingMean, GELU: true, Out: l.ClsOut()}
		if l.Has("cls.weight") {
			r.Rank.Cls = layers.Linear{W: l.Matrix("cls.weight", hp.Embd, hp.Embd)} // llama.cpp reads no cls bias here
		}
		if l.Has("cls.norm.weight") {
			r.Rank.Norm = layers.Norm{W: l.Vector("cls.norm.weight", hp.Embd), Eps: hp.Eps, Mean: true}
		}
	}
	for i := range hp.Layers {
		p := decoder.Prefix(i)
		b := l.Attention(p)
		b.Attn.Bidirectional = true
		if i > 0 || l.Has(p+"attn_norm.weight") {
			b.AttnNorm = l.LayerNorm(p+"attn_norm", hp.Embd)
		}
		if sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		b.FFNNorm = l.LayerNorm(p+"ffn_norm", hp.Embd)
		b.FFN = l.GeGLU(p)
		r.Blocks = append(r.Blocks, b)
	}
	return l.Finish(r, cfg)
}
