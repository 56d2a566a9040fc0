package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("gemma2", arch{validate: gemmaValidate, weights: gemma2Weights, metadata: gemma2Metadata})
}

// Soft caps of the synthetic Gemma 2 models. Smaller than the real 50 and
// 30, so that the caps bend the scores and logits of a small random model
// noticeably and a test can tell whether they are applied.
const (
	gemma2AttnSoftcap  = 2
	gemma2FinalSoftcap = 10
)

// gemmaValidate fills the Gemma defaults: a sliding window of 8 positions
// (small, so that short test prompts cross it) and a head dimension of
// Dim/Heads; Gemma always ties its classifier to the embeddings.
func gemmaValidate(c *Config) error {
	if c.SlidingWindow == 0 {
		c.SlidingWindow = 8
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	switch {
	case c.SlidingWindow < 0:
		return fmt.Errorf("synth: sliding window %d is negative", c.SlidingWindow)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("synth: head dimension %d must be positive and even for RoPE", c.HeadDim)
	case c.Untied:
		return fmt.Errorf("synth: %s ties its output to the token embeddings; untied is not supported", c.Arch)
	}
	return nil
}

// gemma2Weights are the tensors of a Gemma 2 model: the Llama set plus a
// norm after the attention and after the feed-forward block, queries of
// Heads × HeadDim (which need not be Dim), and no output matrix.
func gemma2Weights(c *Config, s scales) []weight {
	return gemmaWeights(c, s, false)
}

// gemmaWeights are the tensors of Gemma 2, and of Gemma 3 when qkNorm adds
// its per-head query and key norms.
func gemmaWeights(c *Config, s scales, qkNorm bool) []weight {
	d, hd := int64(c.Dim), int64(c.HeadDim)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_q.weight", []int64{d, q}, 0, s.qk(d)},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.qk(d)},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
			postNorm(p+"post_attention_norm.weight", d, s),
			norm(p+"ffn_norm.weight", d),
			weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
			postNorm(p+"post_ffw_norm.weight", d, s),
		)
		if qkNorm {
			// The per-head norms set the scale of q and k whatever the
			// projections' is, so they carry the weight and attention
			// scales the projections have in the other families.
			g := s.weight * s.attn
			ws = append(ws,
				weight{p + "attn_q_norm.weight", []int64{hd}, g, 0.1 * g},
				weight{p + "attn_k_norm.weight", []int64{hd}, g, 0.1 * g},
			)
		}
	}
	return append(ws, norm("output_norm.weight", d))
}

// postNorm is a norm after a block's attention or feed-forward. It sets
// the scale of what the block adds to the residual stream, which the
// weights before it no longer do: WeightScale scales it as it scales the
// output projections of the other families.
func postNorm(name string, n int64, s scales) weight {
	return weight{name, []int64{n}, s.weight, 0.1 * s.weight}
}

// gemmaMetadata are the keys Gemma 2 and 3 share.
func gemmaMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	return append(shapeKeys(c),
		gguf.NewKV(a+"attention.key_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.value_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
		gguf.NewKV(a+"attention.sliding_window", uint32(c.SlidingWindow)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
	)
}

func gemma2Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	return append(gemmaMetadata(c),
		gguf.NewKV(a+"attn_logit_softcapping", float32(gemma2AttnSoftcap)),
		gguf.NewKV(a+"final_logit_softcapping", float32(gemma2FinalSoftcap)),
	)
}
