package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("gpt-oss", arch{validate: gptossValidate, weights: gptossWeights, metadata: gptossMetadata})
}

// gptossValidate checks the settings of a gpt-oss model: Experts (default
// 8) of which ExpertsUsed (default 2) per token, each ExpertFFN wide
// (default FFN), a head size HeadDim (default dim/heads) and a window for
// the sliding layers (default 8, for a tiny model what 128 is to a real
// one). gpt-oss always has its own output matrix.
func gptossValidate(c *Config) error {
	if c.Experts == 0 {
		c.Experts = 8
	}
	if c.ExpertFFN == 0 {
		c.ExpertFFN = c.FFN
	}
	if c.SlidingWindow == 0 {
		c.SlidingWindow = 8
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	switch {
	case c.ExpertFFN < 0:
		return fmt.Errorf("synth: expert-ffn %d is negative", c.ExpertFFN)
	case c.HeadDim%2 != 0:
		return fmt.Errorf("synth: head dimension %d must be even for RoPE", c.HeadDim)
	case c.SlidingWindow < 0:
		return fmt.Errorf("synth: sliding window %d is negative", c.SlidingWindow)
	}
	c.Untied = true
	return validateExperts(c)
}

// gptossWeights are the tensors of a gpt-oss model as llama.cpp's converter
// writes them: biases on every projection, one sink logit per head, the
// feed-forward's norm named post_attention_norm, and experts with biases.
// The experts' gate and up projections spread six times as wide as a
// projection that keeps its input's scale, whatever WeightScale, so that
// the clamp at 7 acts on a good share of them (about one in eight gates,
// one in four up values); their down projections are narrower by as much.
func gptossWeights(c *Config, s scales) []weight {
	d, hd := int64(c.Dim), int64(c.HeadDim)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	ffn, experts, vocab := int64(c.ExpertFFN), int64(c.Experts), int64(c.Vocab)
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_q.weight", []int64{d, q}, 0, s.qk(d)},
			weight{p + "attn_q.bias", []int64{q}, 0, 0.2 * s.qk(d)},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.qk(d)},
			weight{p + "attn_k.bias", []int64{kv}, 0, 0.2 * s.qk(d)},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_v.bias", []int64{kv}, 0, 0.1},
			weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
			weight{p + "attn_output.bias", []int64{d}, 0, 0.1},
			weight{p + "attn_sinks.weight", []int64{int64(c.Heads)}, 1, 1},
			norm(p+"post_attention_norm.weight", d),
			weight{p + "ffn_gate_inp.weight", []int64{d, experts}, 0, routerSpread(d)},
			weight{p + "ffn_gate_inp.bias", []int64{experts}, 0, 0.5},
			weight{p + "ffn_gate_exps.weight", []int64{d, ffn, experts}, 0, 6 * routerSpread(d)},
			weight{p + "ffn_gate_exps.bias", []int64{ffn, experts}, 0, 1},
			weight{p + "ffn_up_exps.weight", []int64{d, ffn, experts}, 0, 6 * routerSpread(d)},
			weight{p + "ffn_up_exps.bias", []int64{ffn, experts}, 0, 1},
			weight{p + "ffn_down_exps.weight", []int64{ffn, d, experts}, 0, s.proj(ffn) / 6},
			weight{p + "ffn_down_exps.bias", []int64{d, experts}, 0, 0.1},
		)
	}
	return append(ws, norm("output_norm.weight", d), weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
}

// gptossMetadata is what llama.cpp's converter writes for gpt-oss, with
// YaRN over an original context of 16 positions (gpt-oss: factor 32 over
// 4096) so that a short prompt already reaches the scaled frequencies.
func gptossMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	base := c.RopeBase
	if base == 0 {
		base = 150000
	}
	return append(shapeKeys(c),
		gguf.NewKV(a+"rope.freq_base", base),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-5)),
		gguf.NewKV(a+"attention.key_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.value_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.sliding_window", uint32(c.SlidingWindow)),
		gguf.NewKV(a+"expert_count", uint32(c.Experts)),
		gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
		gguf.NewKV(a+"expert_feed_forward_length", uint32(c.ExpertFFN)),
		gguf.NewKV(a+"rope.scaling.type", "yarn"),
		gguf.NewKV(a+"rope.scaling.factor", float32(4)),
		gguf.NewKV(a+"rope.scaling.original_context_length", uint32(16)),
	)
}
