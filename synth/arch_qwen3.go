package synth

import (
	"fmt"
)

func init() {
	registerArch("qwen3", arch{validate: qwen3Validate, weights: qwen3Weights, metadata: qwenMetadata})
}

// qwen3Validate checks the head size, which Qwen3 may set apart from
// dim/heads (Config.HeadDim).
func qwen3Validate(c *Config) error {
	if c.HeadDim < 0 || c.HeadDim%2 != 0 {
		return fmt.Errorf("synth: head dimension %d must be a positive even number for RoPE", c.HeadDim)
	}
	return nil
}

// qwen3Weights are the tensors of a Qwen3 model, named and shaped as
// llama.cpp's converter writes them: Llama's with query and output
// projections of heads×headDim, which need not be dim, and the per-head
// RMS norms of queries and keys. The norms fix the scale of queries and
// keys whatever the projections, so AttnScale (and WeightScale) act on the
// norm weights instead.
func qwen3Weights(c *Config, s scales) []weight {
	hd := int64(c.Dim / c.Heads)
	if c.HeadDim != 0 {
		hd = int64(c.HeadDim)
	}
	d, q, kv := int64(c.Dim), int64(c.Heads)*hd, int64(c.KVHeads)*hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
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
			weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
		)
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}
