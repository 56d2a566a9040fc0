// Package qwen3moe implements the Qwen3 mixture-of-experts architecture
// (general.architecture "qwen3moe"): Qwen3-30B-A3B, Qwen3-235B-A22B,
// Qwen3-Coder-30B-A3B and their fine-tunes. Importing the package registers
// it with package model.
//
// The attention is Qwen3's (per-head q/k RMS norms, rotation on halves).
// Every feed-forward is a sparse mixture of experts: a router's softmax
// picks expert_used_count of expert_count SwiGLU experts per token, whose
// outputs are summed weighted by their probabilities renormalised to sum 1
// (llama.cpp's build_moe_ffn with norm_w, which it applies to this
// architecture whatever the checkpoint's norm_topk_prob). Without
// expert_feed_forward_length an expert is feed_forward_length /
// expert_used_count wide.
package qwen3moe

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "qwen3moe"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Qwen3 mixture of experts: q/k norms, softmax top-k experts, renormalised")
}

// Load builds a Qwen3-MoE model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	if hp.Experts == 0 {
		return nil, decoder.Errorf(&hp, "metadata key %q: missing (qwen3moe is a mixture of experts)", meta.Key("expert_count"))
	}
	if !meta.Has("expert_feed_forward_length") {
		if hp.FFN /= hp.ExpertsUsed; hp.FFN == 0 {
			return nil, decoder.Errorf(&hp, "feed_forward_length is too small for %d experts per token (and expert_feed_forward_length is absent)", hp.ExpertsUsed)
		}
	}
	rope, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: rope}}
	l.Layers(&r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		l.QKNorm(b, p)
		moe := l.MoE(p)
		if moe != nil {
			moe.Norm = true
		}
		b.FFN = moe
	})
	return l.Finish(r, cfg)
}
