package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("qwen35", arch{validate: qwen35Validate, weights: qwen35Weights, metadata: qwen35Metadata})
	registerArch("qwen35moe", arch{validate: qwen35Validate, weights: qwen35Weights, metadata: qwen35Metadata})
	registerArch("qwen3next", arch{validate: qwen35Validate, weights: qwen35Weights, metadata: qwen35Metadata})
}

// qwen35MoE reports whether the architecture's feed-forwards are experts.
func qwen35MoE(c *Config) bool { return c.Arch != "qwen35" }

// qwen35 synthetic geometry: a linear-attention layer has 2 key heads and
// 4 value heads of HeadDim state elements and a convolution over 4
// inputs; attention layers rotate a quarter of each head, in sections of
// about a third of the rotation pairs each (the real models' 11, 11, 10 of
// 32).
const (
	qwen35KHeads = 2
	qwen35VHeads = 4
	qwen35ConvK  = 4
)

// qwen35Validate checks the settings of a Qwen3.5 model: every fourth layer
// attends (so 4 layers at least), the others are Gated DeltaNet layers.
// qwen35moe's feed-forwards are Experts (default 8) of ExpertFFN (default
// FFN/2), ExpertsUsed (default 2) per token, beside a gated shared expert
// of ExpertFFN.
func qwen35Validate(c *Config) error {
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if qwen35MoE(c) {
		if c.Experts == 0 {
			c.Experts = 8
		}
		if c.ExpertFFN == 0 {
			c.ExpertFFN = c.FFN / 2
		}
		if c.HeadDim%8 != 0 || c.HeadDim <= 0 || c.Layers < 4 || c.ExpertFFN <= 0 {
			return fmt.Errorf("synth: %s needs a head dimension that is a multiple of 8, 4 layers at least and experts of positive size", c.Arch)
		}
		return validateExperts(c)
	}
	switch {
	case c.HeadDim%8 != 0 || c.HeadDim <= 0:
		return fmt.Errorf("synth: qwen35 head dimension %d must be a positive multiple of 8", c.HeadDim)
	case c.Layers < 4:
		return fmt.Errorf("synth: qwen35 needs 4 layers at least (every fourth attends), got %d", c.Layers)
	case c.Experts != 0:
		return fmt.Errorf("synth: qwen35 is dense")
	}
	return nil
}

// qwen35Weights are the tensors of a Qwen3.5 model as llama.cpp's converter
// writes them. The decay rates A (ssm_a, stored as −exp(A_log)) lie in
// [−3, −1]; conv and norm weights are around 0 and 1.
func qwen35Weights(c *Config, s scales) []weight {
	d, hd, vocab, ffn := int64(c.Dim), int64(c.HeadDim), int64(c.Vocab), int64(c.FFN)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	keyDim, valueDim := qwen35KHeads*hd, qwen35VHeads*hd
	ch := 2*keyDim + valueDim
	g := s.weight * s.attn
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws, norm(p+"attn_norm.weight", d), norm(p+"post_attention_norm.weight", d))
		if (l+1)%4 == 0 {
			ws = append(ws,
				weight{p + "attn_q.weight", []int64{d, 2 * q}, 0, s.proj(d)},
				weight{p + "attn_k.weight", []int64{d, kv}, 0, s.proj(d)},
				weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
				weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
				weight{p + "attn_q_norm.weight", []int64{hd}, g, 0.1 * g},
				weight{p + "attn_k_norm.weight", []int64{hd}, g, 0.1 * g})
		} else {
			ws = append(ws,
				weight{p + "attn_qkv.weight", []int64{d, ch}, 0, s.proj(d)},
				weight{p + "attn_gate.weight", []int64{d, valueDim}, 0, s.proj(d)},
				weight{p + "ssm_conv1d.weight", []int64{qwen35ConvK, ch}, 0, 0.5},
				weight{p + "ssm_dt.bias", []int64{qwen35VHeads}, 0, 1},
				weight{p + "ssm_a", []int64{qwen35VHeads}, -2, 1},
				norm(p+"ssm_norm.weight", hd),
				weight{p + "ssm_out.weight", []int64{valueDim, d}, 0, s.proj(valueDim)})
			if c.Arch == "qwen3next" { // per key head: its value heads' β, then their α
				ws = append(ws, weight{p + "ssm_ba.weight", []int64{d, 2 * qwen35VHeads}, 0, s.proj(d)})
			} else {
				ws = append(ws,
					weight{p + "ssm_beta.weight", []int64{d, qwen35VHeads}, 0, s.proj(d)},
					weight{p + "ssm_alpha.weight", []int64{d, qwen35VHeads}, 0, s.proj(d)})
			}
		}
		if qwen35MoE(c) {
			eff := int64(c.ExpertFFN)
			gate := []int64{d, 1}
			if c.Arch == "qwen3next" {
				gate = []int64{d} // Qwen3-Next's converter keeps it one-dimensional
			}
			ws = append(ws, expertWeights(p, d, eff, int64(c.Experts), s)...)
			ws = append(ws,
				weight{p + "ffn_gate_inp_shexp.weight", gate, 0, routerSpread(d)},
				weight{p + "ffn_gate_shexp.weight", []int64{d, eff}, 0, s.proj(d)},
				weight{p + "ffn_up_shexp.weight", []int64{d, eff}, 0, s.proj(d)},
				weight{p + "ffn_down_shexp.weight", []int64{eff, d}, 0, s.proj(eff)})
			continue
		}
		ws = append(ws,
			weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)})
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}

// qwen35Metadata is what llama.cpp's converter writes for Qwen3.5.
func qwen35Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	hd := uint32(c.HeadDim)
	base := c.RopeBase
	if base == 0 {
		base = 10000000
	}
	pairs := int32(hd / 8) // a quarter of the head rotates: hd/4 elements
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"rope.freq_base", base),
		gguf.NewKV(a+"rope.dimension_count", hd/4),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
		gguf.NewKV(a+"attention.key_length", hd),
		gguf.NewKV(a+"attention.value_length", hd),
		gguf.NewKV(a+"ssm.conv_kernel", uint32(qwen35ConvK)),
		gguf.NewKV(a+"ssm.state_size", hd),
		gguf.NewKV(a+"ssm.group_count", uint32(qwen35KHeads)),
		gguf.NewKV(a+"ssm.time_step_rank", uint32(qwen35VHeads)),
		gguf.NewKV(a+"ssm.inner_size", uint32(qwen35VHeads)*hd),
		gguf.NewKV(a+"full_attention_interval", uint32(4)),
	)
	if c.Arch != "qwen3next" { // Qwen3-Next rotates without sections
		// A third of the pairs (rounded up) for each of the first two
		// positions, the rest for the third: the real models' 11, 11, 10
		// of 32, and every pair turns with a text position.
		third := (pairs + 2) / 3
		kvs = append(kvs, gguf.NewKV(a+"rope.dimension_sections", []int32{third, third, pairs - 2*third, 0}))
	}
	if qwen35MoE(c) {
		kvs = append(kvs,
			gguf.NewKV(a+"expert_count", uint32(c.Experts)),
			gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
			gguf.NewKV(a+"expert_feed_forward_length", uint32(c.ExpertFFN)),
			gguf.NewKV(a+"expert_shared_feed_forward_length", uint32(c.ExpertFFN)))
	}
	return kvs
}
