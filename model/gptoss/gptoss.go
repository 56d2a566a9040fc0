// Package gptoss implements OpenAI's gpt-oss (general.architecture
// "gpt-oss"): the 20B and 120B open-weight mixtures of experts. Importing
// the package registers it with package model.
//
// Each block normalises (RMS) before the attention and, under the name
// post_attention_norm, before the feed-forward. The attention has biases on
// every projection, one learned sink logit per query head that joins each
// softmax, scores scaled by 1/√head_dim, and alternates a 128-position
// sliding window (even layers, by default) with full attention; all layers
// rotate with NeoX pairing and YaRN. The feed-forward is a mixture of
// experts chosen by the router's raw scores (with a bias), weighted by a
// softmax over the chosen experts' scores, each expert a clamped SwiGLU
// (α = 1.702, limit 7) with biases on its three projections. The experts
// are stored in MXFP4 in every released file.
package gptoss

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "gpt-oss"

// gpt-oss's clamped SwiGLU constants (llama.cpp's build_moe_ffn has them
// fixed as well). The limit is a variable only so that a test can show the
// clamp matters.
const swigluAlpha = 1.702

var swigluLimit float32 = 7

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "OpenAI gpt-oss: attention sinks, alternating sliding/full attention, experts weighted by a softmax over the chosen, clamped SwiGLU")
}

// Load builds a gpt-oss model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, meta, err := decoder.Begin(f, arch, true)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	if hp.Experts == 0 {
		return nil, decoder.Errorf(hp, "metadata key %q: missing (gpt-oss is a mixture of experts)", meta.Key("expert_count"))
	}
	if hp.Window == 0 {
		return nil, decoder.Errorf(hp, "metadata key %q: missing", meta.Key("attention.sliding_window"))
	}
	sliding, err := decoder.SlidingLayers(f, meta, hp.Layers, 2)
	if err != nil {
		return nil, err
	}
	// Sliding layers rotate with rope.freq_base_swa when it is given,
	// with the same scaling; by default with the model's base.
	local := 0
	if base := meta.FloatOr("rope.freq_base_swa", hp.RopeBase); base != hp.RopeBase {
		if !(base > 0) || !decoder.Finite(base) {
			return nil, decoder.Errorf(hp, "rope.freq_base_swa %v is not a positive number", base)
		}
		rot := r.Ropes[0]
		rot.Rope.Base = base
		r.Ropes = append(r.Ropes, rot)
		local = 1
	}
	if err := meta.Err(); err != nil {
		return nil, err
	}
	l.Layers(r, decoder.PreNormsGPTOSS, func(i int, p string, b *decoder.Block) {
		b.Attn.Sinks = l.Vector(p+"attn_sinks.weight", hp.Heads)
		if sliding[i] {
			b.Attn.Window = hp.Window
			b.Rope = local
		}
		moe := l.MoE(p)
		if moe == nil {
			return
		}
		moe.Router.B = l.Vector(p+"ffn_gate_inp.bias", hp.Experts)
		moe.GateB = l.ExpertBiases(p+"ffn_gate_exps.bias", hp.FFN)
		moe.UpB = l.ExpertBiases(p+"ffn_up_exps.bias", hp.FFN)
		moe.DownB = l.ExpertBiases(p+"ffn_down_exps.bias", hp.Embd)
		moe.SoftmaxChosen = true
		moe.Scale = meta.FloatOr("expert_weights_scale", 0)
		moe.ClampAlpha, moe.ClampLimit = swigluAlpha, swigluLimit
		if l.Err() == nil {
			if err := moe.Validate(); err != nil {
				l.Failf("%sffn: %v", p, err)
			}
		}
		b.FFN = moe
	})
	if err := meta.Err(); err != nil {
		return nil, err
	}
	return l.Finish(*r, cfg)
}
