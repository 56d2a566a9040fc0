package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("qwen3moe", arch{validate: qwen3moeValidate, weights: qwen3moeWeights, metadata: qwen3moeMetadata})
}

// qwen3moeValidate checks the settings of a Qwen3-MoE model: Experts
// (default 8) of which ExpertsUsed (default 2) per token, each a SwiGLU of
// ExpertFFN (default FFN), and a head size HeadDim (default dim/heads).
func qwen3moeValidate(c *Config) error {
	if c.Experts == 0 {
		c.Experts = 8
	}
	if c.ExpertFFN == 0 {
		c.ExpertFFN = c.FFN
	}
	if c.ExpertFFN < 0 {
		return fmt.Errorf("synth: expert-ffn %d is negative", c.ExpertFFN)
	}
	if c.HeadDim < 0 || c.HeadDim%2 != 0 {
		return fmt.Errorf("synth: head dimension %d must be a positive even number for RoPE", c.HeadDim)
	}
	return validateExperts(c)
}

func moeHeadDim(c *Config) int64 {
	if c.HeadDim != 0 {
		return int64(c.HeadDim)
	}
	return int64(c.Dim / c.Heads)
}

// qwen3moeWeights are the tensors of a Qwen3-MoE model as llama.cpp's
// converter writes them: Qwen3's attention (query and output projections
// of heads×headDim, per-head RMS norms of queries and keys) and a sparse
// mixture of experts in every block. The q/k norms fix the scale of
// queries and keys whatever the projections, so AttnScale and WeightScale
// act on the norm weights.
func qwen3moeWeights(c *Config, s scales) []weight {
	hd := moeHeadDim(c)
	d, q, kv := int64(c.Dim), int64(c.Heads)*hd, int64(c.KVHeads)*hd
	vocab := int64(c.Vocab)
	qkNorm := func(name string) weight { return weight{name, []int64{hd}, s.weight * s.attn, 0.1 * s.weight * s.attn} }
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_q.weight", []int64{d, q}, 0, s.proj(d)},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
			qkNorm(p+"attn_k_norm.weight"),
			qkNorm(p+"attn_q_norm.weight"),
			norm(p+"ffn_norm.weight", d),
		)
		ws = append(ws, expertWeights(p, d, int64(c.ExpertFFN), int64(c.Experts), s)...)
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}

// qwen3moeMetadata is what llama.cpp's converter writes for Qwen3-MoE.
// feed_forward_length is the dense size the checkpoint declares; the
// experts are expert_feed_forward_length wide.
func qwen3moeMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	hd := uint32(moeHeadDim(c))
	return append(shapeKeys(c),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
		gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
		gguf.NewKV(a+"attention.key_length", hd),
		gguf.NewKV(a+"attention.value_length", hd),
		gguf.NewKV(a+"expert_count", uint32(c.Experts)),
		gguf.NewKV(a+"expert_feed_forward_length", uint32(c.ExpertFFN)),
	)
}
