// Package deepseek2 implements DeepSeek-V2/V3-style models
// (general.architecture "deepseek2"): DeepSeek-V2 and V2-Lite, V2.5, V3,
// Kakao's Kanana-2 MoE and GLM-4.7-Flash among them. Importing the package
// registers it with package model.
//
// Attention is multi-head latent attention (see decoder.MLA): the cache
// holds one latent vector and one rotated key per token instead of every
// head's keys and values. Queries come from a low-rank projection with its
// own norm (attention.q_lora_rank) or, in the Lite shapes, from one
// projection. Rotations pair adjacent elements, and scores are scaled by
// mscale²/√key_length_mla, where YaRN's mscale includes the
// yarn_log_multiplier (llama.cpp's DeepSeek-V2 special case). The first
// leading_dense_block_count layers have a SwiGLU of feed_forward_length; the
// others a mixture of experts (softmax or sigmoid gating,
// expert_gating_func; an optional selection bias exp_probs_b; weights
// renormalised when expert_weights_norm and scaled by expert_weights_scale)
// beside expert_shared_count shared experts, chosen within the
// expert_group_used_count best of expert_group_count groups when there are
// groups (DeepSeek-V3).
//
// Files converted before llama.cpp split attn_kv_b into attn_k_b and attn_v_b
// (no attention.key_length_mla) are refused: convert them again.
package deepseek2

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

const arch = "deepseek2"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "DeepSeek-V2/V3 (Kanana-2, GLM-4.7-Flash): multi-head latent attention caching one latent per token, experts with shared experts")
}

// Load builds a deepseek2 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, meta, err := decoder.Begin(f, arch, false)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	kvRank := meta.Int("attention.kv_lora_rank")
	qRank := meta.IntOr("attention.q_lora_rank", 0)
	keyMLA := meta.IntOr("attention.key_length_mla", 0)
	valueMLA := meta.IntOr("attention.value_length_mla", 0)
	denseLead := meta.IntOr("leading_dense_block_count", 0)
	shared := meta.IntOr("expert_shared_count", 0)
	weightsScale := meta.FloatOr("expert_weights_scale", 0)
	weightsNorm := meta.BoolOr("expert_weights_norm", false)
	gating := meta.IntOr("expert_gating_func", 0)
	groups := meta.IntOr("expert_group_count", 0)
	groupsUsed := meta.IntOr("expert_group_used_count", 0)
	logMul := meta.FloatOr("rope.scaling.yarn_log_multiplier", 0) / 0.1 // the converter wrote 0.1·mscale_all_dim
	denseFFN := hp.FFN
	if hp.Experts > 0 {
		denseFFN = meta.IntOr("feed_forward_length", 0)
	}
	if err := meta.Err(); err != nil {
		return nil, err
	}
	rope := hp.RopeDims
	nope := keyMLA - rope
	switch {
	case keyMLA == 0 || valueMLA == 0:
		return nil, decoder.Errorf(hp, "metadata keys %q and %q are missing: the file predates llama.cpp's split of attn_kv_b into attn_k_b and attn_v_b; convert the model again",
			meta.Key("attention.key_length_mla"), meta.Key("attention.value_length_mla"))
	case kvRank <= 0 || qRank < 0:
		return nil, decoder.Errorf(hp, "attention.kv_lora_rank %d must be positive and attention.q_lora_rank %d not negative", kvRank, qRank)
	case nope < 1:
		return nil, decoder.Errorf(hp, "attention.key_length_mla %d leaves no unrotated part beside %d rotated elements", keyMLA, rope)
	case hp.HeadDim != kvRank+rope:
		return nil, decoder.Errorf(hp, "attention.key_length %d is not kv_lora_rank %d plus rope.dimension_count %d", hp.HeadDim, kvRank, rope)
	case hp.KVHeads != 1:
		return nil, decoder.Errorf(hp, "attention.head_count_kv %d: latent attention caches one vector per token (1)", hp.KVHeads)
	case valueMLA > hp.HeadDim:
		return nil, decoder.Errorf(hp, "attention.value_length_mla %d exceeds the cached vector of %d", valueMLA, hp.HeadDim)
	case denseLead < 0 || denseLead > hp.Layers:
		return nil, decoder.Errorf(hp, "leading_dense_block_count %d is not between 0 and block_count %d", denseLead, hp.Layers)
	case denseLead < hp.Layers && hp.Experts == 0:
		return nil, decoder.Errorf(hp, "metadata key %q: missing for the %d mixture-of-experts layers", meta.Key("expert_count"), hp.Layers-denseLead)
	case denseLead > 0 && denseFFN <= 0:
		return nil, decoder.Errorf(hp, "feed_forward_length %d is not positive", denseFFN)
	case gating < 0 || gating > 2:
		return nil, decoder.Errorf(hp, "expert_gating_func %d is not supported (1 softmax, 2 sigmoid)", gating)
	case groups > 1 && (hp.Experts%groups != 0 || groupsUsed < 1 || groupsUsed >= groups):
		return nil, decoder.Errorf(hp, "expert_group_count %d and expert_group_used_count %d do not fit %d experts (used groups must be fewer than the groups, which divide the experts)",
			groups, groupsUsed, hp.Experts)
	case shared < 0:
		return nil, decoder.Errorf(hp, "expert_shared_count %d is negative", shared)
	case !decoder.Finite(logMul) || !decoder.Finite(weightsScale):
		return nil, decoder.Errorf(hp, "rope.scaling.yarn_log_multiplier and expert_weights_scale must be numbers")
	}

	// Scores: llama.cpp folds YaRN's magnitude into the score scale
	// (mscale², with the log multiplier), and the rotation itself keeps
	// only the attention factor.
	rot := &r.Ropes[0].Rope
	if hp.RopeScaling.Type == "yarn" && rot.FreqScale < 1 {
		rot.AttnFactor = float32(1 / (1 + 0.1*float32(math.Log(float64(1/rot.FreqScale)))))
		if a := hp.RopeScaling.AttnFactor; a != 0 {
			rot.AttnFactor *= a
		}
	}
	lnf := float32(math.Log(float64(1 / rot.FreqScale)))
	org := rot.AttnFactor * (1 + 0.1*lnf)
	mscale := org * (1 + 0.1*logMul*lnf)
	scale := mscale * mscale / float32(math.Sqrt(float64(keyMLA)))

	l.LayersOf(r, decoder.PreNorms, func(_ int, p string) decoder.Block {
		mla := &decoder.MLA{Heads: hp.Heads, Nope: nope, RopeDims: rope, KVRank: kvRank, VHead: valueMLA}
		qOut := hp.Heads * keyMLA
		if qRank > 0 {
			mla.QA = l.Linear(p+"attn_q_a", hp.Embd, qRank)
			mla.QANorm = l.Norm(p+"attn_q_a_norm", qRank)
			mla.QB = l.Linear(p+"attn_q_b", qRank, qOut)
		} else {
			mla.Q = l.Linear(p+"attn_q", hp.Embd, qOut)
		}
		mla.KVA = l.Linear(p+"attn_kv_a_mqa", hp.Embd, kvRank+rope)
		mla.KVANorm = l.Norm(p+"attn_kv_a_norm", kvRank)
		mla.KB = l.PerHead(p+"attn_k_b.weight", nope, kvRank, hp.Heads)
		mla.VB = l.PerHead(p+"attn_v_b.weight", kvRank, valueMLA, hp.Heads)
		return decoder.Block{
			MLA:  mla,
			O:    l.Linear(p+"attn_output", hp.Heads*valueMLA, hp.Embd),
			Attn: layers.Attention{Heads: hp.Heads, KVHeads: 1, HeadDim: kvRank + rope, Scale: scale},
		}
	}, func(i int, p string, b *decoder.Block) {
		if i < denseLead {
			b.FFN = l.SwiGLUOf(p, denseFFN)
			return
		}
		moe := l.MoE(p)
		if moe == nil {
			return
		}
		moe.Sigmoid = gating == 2
		moe.Norm = weightsNorm
		moe.Scale = weightsScale
		moe.SelectBias = l.OptVector(p+"exp_probs_b.bias", hp.Experts)
		if groups > 1 {
			moe.Groups, moe.GroupsUsed = groups, groupsUsed
			if err := moe.Validate(); err != nil {
				l.Failf("%sffn: %v", p, err)
			}
		}
		if shared > 0 {
			moe.Shared = l.SwiGLUNamed(p, "_shexp", hp.FFN*shared)
		}
		b.FFN = moe
	})
	return l.Finish(*r, cfg)
}
