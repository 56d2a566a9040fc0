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
	for _, arch := range []string{"granite", "granitemoe", "granitehybrid"} {
		model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, arch, cfg) })
	}
	model.Describe("granite", "IBM Granite 3.x dense: Llama with embedding, attention, residual and logit multipliers")
	model.Describe("granitemoe", "IBM Granite 3.x mixture of experts: Granite's multipliers, softmax top-k experts, shared expert")
	model.Describe("granitehybrid", "IBM Granite 4.0 hybrid: Mamba-2 layers beside attention layers, Granite's multipliers, dense or expert feed-forwards")
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
	if arch == "granitehybrid" && !meta.Has("logit_scale") {
		logitScale = 1 // optional for the hybrids: no scaling
	}
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
	case arch == "granitehybrid" && !meta.Has("ssm.inner_size"):
		return nil, decoder.Errorf(hp, "metadata key %q: missing (granitehybrid has Mamba-2 layers)", meta.Key("ssm.inner_size"))
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
	attn := func(_ int, p string) decoder.Block { return l.Attention(p) }
	if arch == "granitehybrid" {
		if attn, err = hybridLayers(f, meta, l); err != nil {
			return nil, err
		}
	}
	l.LayersOf(r, decoder.PreNorms, attn, func(_ int, p string, b *decoder.Block) {
		if !rotate || b.Recurrent != nil {
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

// hybridLayers returns how Granite 4.0's hybrids read a layer's mixer:
// Mamba-2 where attention.head_count_kv gives the layer no KV heads,
// attention (of the layer's KV heads) elsewhere.
func hybridLayers(f *gguf.File, meta *model.Meta, l *decoder.Loader) (func(int, string) decoder.Block, error) {
	hp := l.Hyper()
	kv, err := decoder.PerLayer(f, meta, "attention.head_count_kv", hp.Layers, hp.KVHeads)
	if err != nil {
		return nil, decoder.Errorf(hp, "%v", err)
	}
	convK := meta.Int("ssm.conv_kernel")
	inner := meta.Int("ssm.inner_size")
	state := meta.Int("ssm.state_size")
	heads := meta.Int("ssm.time_step_rank")
	groups := meta.Int("ssm.group_count")
	if err := meta.Err(); err != nil {
		return nil, err
	}
	if convK < 1 || inner <= 0 || state <= 0 || heads <= 0 || groups <= 0 || inner%heads != 0 || heads%groups != 0 {
		return nil, decoder.Errorf(hp, "ssm.conv_kernel %d, ssm.inner_size %d, ssm.state_size %d, ssm.time_step_rank %d and ssm.group_count %d do not make Mamba-2 heads",
			convK, inner, state, heads, groups)
	}
	ch := inner + 2*groups*state
	return func(i int, p string) decoder.Block {
		if kv[i] > 0 {
			if hp.Heads%kv[i] != 0 {
				l.Failf("layer %d: attention.head_count_kv %d does not divide attention.head_count %d", i, kv[i], hp.Heads)
			}
			return l.AttentionShaped(p, hp.Heads, kv[i], hp.HeadDim)
		}
		m := &layers.Mamba2{
			In:     l.Linear(p+"ssm_in", hp.Embd, inner+ch+heads),
			Out:    l.Linear(p+"ssm_out", inner, hp.Embd),
			Conv:   l.MatrixValues(p+"ssm_conv1d.weight", convK, ch),
			ConvB:  l.OptVector(p+"ssm_conv1d.bias", ch),
			DtBias: l.Vector(p+"ssm_dt.bias", heads),
			A:      l.MatrixValues(p+"ssm_a", 1, heads),
			D:      l.MatrixValues(p+"ssm_d", 1, heads),
			Norm:   layers.Norm{W: l.MatrixValues(p+"ssm_norm.weight", inner/groups, groups), Eps: hp.Eps},
			Inner:  inner, State: state, Heads: heads, Groups: groups, ConvK: convK,
		}
		return decoder.Block{Recurrent: m}
	}, nil
}
