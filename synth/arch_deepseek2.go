package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("deepseek2", arch{validate: deepseek2Validate, weights: deepseek2Weights, metadata: deepseek2Metadata})
}

// deepseek2Shape is a synthetic DeepSeek-V2's latent attention geometry,
// derived from the head size HeadDim (default dim/heads): a query head of
// HeadDim unrotated and HeadDim/2 rotated elements (the real models' 128 +
// 64), a value head of HeadDim, and a latent of rank 2·HeadDim.
type deepseek2Shape struct{ nope, rope, vhead, kvRank int64 }

func deepseek2Geometry(c *Config) deepseek2Shape {
	hd := int64(c.HeadDim)
	return deepseek2Shape{nope: hd, rope: hd / 2, vhead: hd, kvRank: 2 * hd}
}

// deepseek2Validate checks the settings of a DeepSeek-V2-style model:
// latent attention over one cached vector (the file says one KV head),
// the first layer dense with FFN, the others Experts (default 8) experts
// of ExpertFFN (default FFN/2) with ExpertsUsed (default 2) per token and
// one shared expert.
func deepseek2Validate(c *Config) error {
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if c.Experts == 0 {
		c.Experts = 8
	}
	if c.ExpertFFN == 0 {
		c.ExpertFFN = c.FFN / 2
	}
	switch {
	case c.HeadDim%4 != 0 || c.HeadDim <= 0:
		return fmt.Errorf("synth: deepseek2 head dimension %d must be a positive multiple of 4", c.HeadDim)
	case c.QLoraRank < 0:
		return fmt.Errorf("synth: q-lora-rank %d is negative", c.QLoraRank)
	case c.ExpertFFN <= 0:
		return fmt.Errorf("synth: expert-ffn %d is not positive", c.ExpertFFN)
	}
	c.KVHeads = 1
	return validateExperts(c)
}

// deepseek2Weights are the tensors of a DeepSeek-V2 model as llama.cpp's
// converter writes them (attn_kv_b already split into attn_k_b and
// attn_v_b).
func deepseek2Weights(c *Config, s scales) []weight {
	g := deepseek2Geometry(c)
	d, heads, vocab := int64(c.Dim), int64(c.Heads), int64(c.Vocab)
	qOut := heads * (g.nope + g.rope)
	ffn, eff, experts := int64(c.FFN), int64(c.ExpertFFN), int64(c.Experts)
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws, norm(p+"attn_norm.weight", d))
		if q := int64(c.QLoraRank); q > 0 {
			ws = append(ws,
				weight{p + "attn_q_a.weight", []int64{d, q}, 0, s.proj(d)},
				norm(p+"attn_q_a_norm.weight", q),
				weight{p + "attn_q_b.weight", []int64{q, qOut}, 0, s.qk(q)})
		} else {
			ws = append(ws, weight{p + "attn_q.weight", []int64{d, qOut}, 0, s.qk(d)})
		}
		ws = append(ws,
			weight{p + "attn_kv_a_mqa.weight", []int64{d, g.kvRank + g.rope}, 0, s.qk(d)},
			norm(p+"attn_kv_a_norm.weight", g.kvRank),
			weight{p + "attn_k_b.weight", []int64{g.nope, g.kvRank, heads}, 0, s.proj(g.nope)},
			weight{p + "attn_v_b.weight", []int64{g.kvRank, g.vhead, heads}, 0, s.proj(g.kvRank)},
			weight{p + "attn_output.weight", []int64{heads * g.vhead, d}, 0, s.proj(heads * g.vhead)},
			norm(p+"ffn_norm.weight", d),
		)
		if l == 0 { // the leading dense layer
			ws = append(ws,
				weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
				weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
				weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)})
			continue
		}
		ws = append(ws, expertWeights(p, d, eff, experts, s)...)
		if c.QLoraRank > 0 {
			ws = append(ws, weight{p + "exp_probs_b.bias", []int64{experts}, 0, 0.5})
		}
		ws = append(ws,
			weight{p + "ffn_gate_shexp.weight", []int64{d, eff}, 0, s.proj(d)},
			weight{p + "ffn_up_shexp.weight", []int64{d, eff}, 0, s.proj(d)},
			weight{p + "ffn_down_shexp.weight", []int64{eff, d}, 0, s.proj(eff)})
	}
	return append(ws, norm("output_norm.weight", d), weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
}

// deepseek2Metadata is what llama.cpp's converter writes for DeepSeek-V2,
// with YaRN over an original context of 16 positions and the
// yarn_log_multiplier the converter stores as 0.1·mscale_all_dim
// (0.707 for V2-Lite, 1 for V3).
func deepseek2Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	g := deepseek2Geometry(c)
	base := c.RopeBase
	if base == 0 {
		base = 10000
	}
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"rope.freq_base", base),
		gguf.NewKV(a+"rope.dimension_count", uint32(g.rope)),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
		gguf.NewKV(a+"attention.key_length", uint32(g.kvRank+g.rope)),
		gguf.NewKV(a+"attention.value_length", uint32(g.kvRank)),
		gguf.NewKV(a+"attention.key_length_mla", uint32(g.nope+g.rope)),
		gguf.NewKV(a+"attention.value_length_mla", uint32(g.vhead)),
		gguf.NewKV(a+"attention.kv_lora_rank", uint32(g.kvRank)),
		gguf.NewKV(a+"leading_dense_block_count", uint32(1)),
		gguf.NewKV(a+"expert_count", uint32(c.Experts)),
		gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
		gguf.NewKV(a+"expert_feed_forward_length", uint32(c.ExpertFFN)),
		gguf.NewKV(a+"expert_shared_count", uint32(1)),
		gguf.NewKV(a+"rope.scaling.type", "yarn"),
		gguf.NewKV(a+"rope.scaling.factor", float32(4)),
		gguf.NewKV(a+"rope.scaling.original_context_length", uint32(16)),
	)
	if c.QLoraRank > 0 {
		return append(kvs,
			gguf.NewKV(a+"attention.q_lora_rank", uint32(c.QLoraRank)),
			gguf.NewKV(a+"expert_gating_func", uint32(2)),
			gguf.NewKV(a+"expert_weights_norm", true),
			gguf.NewKV(a+"expert_weights_scale", float32(2.5)),
			gguf.NewKV(a+"expert_group_count", uint32(4)),
			gguf.NewKV(a+"expert_group_used_count", uint32(1)),
			gguf.NewKV(a+"rope.scaling.yarn_log_multiplier", float32(0.1)))
	}
	return append(kvs,
		gguf.NewKV(a+"expert_gating_func", uint32(1)),
		gguf.NewKV(a+"expert_weights_scale", float32(1)),
		gguf.NewKV(a+"rope.scaling.yarn_log_multiplier", float32(0.0707)))
}
