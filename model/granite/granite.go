// Package granite implements IBM's Granite 3.x decoders: dense
// (general.architecture "granite") and mixture of experts ("granitemoe",
// with a shared expert when expert_shared_feed_forward_length is set).
// Importing the package registers both with package model.
//
// Granite is Llama (adjacent-pair rotation, llama3 factors when rope_freqs
// is present) with the four muP multipliers of its training, applied where
// llama.cpp's granite graphs apply them: token embeddings × embedding_scale,
// attention scores × attention.scale (instead of 1/√head_dim), each block's
// output × residual_scale before the residual, and logits ÷ logit_scale.
// A file with rope.scaling.finetuned false does not rotate at all.
package granite

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

func init() {
	for _, arch := range []string{"granite", "granitemoe"} {
		model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, arch, cfg) })
	}
	model.Describe("granite", "IBM Granite 3.x dense: Llama with embedding, attention, residual and logit multipliers")
	model.Describe("granitemoe", "IBM Granite 3.x mixture of experts: Granite's multipliers, softmax top-k experts, shared expert")
}

// Load builds a Granite model of architecture arch (granite or granitemoe)
// from f, checking every hyperparameter and tensor shape. The model's
// weights are views of f's mapping.
func Load(f *gguf.File, arch string, cfg model.Config) (*decoder.Model, error) {
	l, r, meta, err := decoder.Begin(f, arch, false)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	logitScale := meta.Float("logit_scale")
	residual := meta.FloatOr("residual_scale", 0)
	embedding := meta.FloatOr("embedding_scale", 0)
	attention := meta.FloatOr("attention.scale", 0)
	sharedFFN := meta.IntOr("expert_shared_feed_forward_length", 0)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	for _, v := range []struct {
		key string
		v   float32
	}{{"logit_scale", logitScale}, {"residual_scale", residual}, {"embedding_scale", embedding}, {"attention.scale", attention}} {
		if !decoder.Finite(v.v) || v.v < 0 || (v.key == "logit_scale" && v.v == 0) {
			return nil, decoder.Errorf(hp, "%s %v is not a positive number", v.key, v.v)
		}
	}
	switch {
	case arch == "granite" && hp.Experts > 0:
		return nil, decoder.Errorf(hp, "mixture-of-experts models (expert_count %d) are architecture granitemoe", hp.Experts)
	case arch == "granitemoe" && hp.Experts == 0:
		return nil, decoder.Errorf(hp, "metadata key %q: missing (granitemoe is a mixture of experts)", meta.Key("expert_count"))
	case sharedFFN < 0:
		return nil, decoder.Errorf(hp, "expert_shared_feed_forward_length %d is negative", sharedFFN)
	}
	rotate := true
	if f.Has(meta.Key("rope.scaling.finetuned")) {
		if rotate, err = f.Bool(meta.Key("rope.scaling.finetuned")); err != nil {
			return nil, decoder.Errorf(hp, "%v", err)
		}
	}
	r.EmbedScale, r.ResidualScale = embedding, residual
	r.LogitScale = 1 / logitScale
	l.Layers(r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		if !rotate {
			b.Rope = decoder.NoRope
		}
		if attention != 0 {
			b.Attn.Scale = attention
		}
		if hp.Experts == 0 {
			b.FFN = l.SwiGLU(p)
			return
		}
		moe := l.MoE(p)
		if moe == nil {
			return
		}
		moe.Norm = true
		if sharedFFN > 0 {
			moe.Shared = &layers.SwiGLU{
				Gate: l.Linear(p+"ffn_gate_shexp", hp.Embd, sharedFFN),
				Up:   l.Linear(p+"ffn_up_shexp", hp.Embd, sharedFFN),
				Down: l.Linear(p+"ffn_down_shexp", sharedFFN, hp.Embd),
			}
		}
		b.FFN = moe
	})
	return l.Finish(*r, cfg)
}
