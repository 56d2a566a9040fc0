package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("modern-bert", arch{validate: modernBertValidate, weights: modernBertWeights, metadata: modernBertMetadata})
}

// modernBertValidate: ModernBERT's heads are dim/heads wide and all of
// them are key/value heads.
func modernBertValidate(c *Config) error {
	if c.KVHeads != c.Heads || c.HeadDim != 0 && c.HeadDim != c.Dim/c.Heads {
		return fmt.Errorf("synth: modern-bert has %d key/value heads of dim/heads, not %d of %d", c.Heads, c.KVHeads, c.HeadDim)
	}
	return nil
}

// modernBertWeights are ModernBERT's tensors as llama.cpp's converter
// writes them: layer norms without biases (none before layer 0), fused
// q/k/v and fused gate|up, no biases anywhere.
func modernBertWeights(c *Config, s scales) []weight {
	d, ffn, vocab := int64(c.Dim), int64(c.FFN), int64(c.Vocab)
	ws := []weight{
		{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)},
		norm("token_embd_norm.weight", d),
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if l > 0 {
			ws = append(ws, norm(p+"attn_norm.weight", d))
		}
		ws = append(ws,
			weight{p + "attn_qkv.weight", []int64{d, 3 * d}, 0, s.qk(d)},
			weight{p + "attn_output.weight", []int64{d, d}, 0, s.proj(d)},
			norm(p+"ffn_norm.weight", d),
			weight{p + "ffn_up.weight", []int64{d, 2 * ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
		)
	}
	return append(ws, norm("output_norm.weight", d))
}

// modernBertMetadata: layer-norm ε, attention both ways, mean pooling,
// and a symmetric sliding window when SlidingWindow is set.
func modernBertMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"attention.layer_norm_epsilon", float32(1e-5)),
		gguf.NewKV(a+"attention.causal", false),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"rope.freq_base_swa", float32(10000)),
	)
	if c.SlidingWindow > 0 {
		kvs = append(kvs, gguf.NewKV(a+"attention.sliding_window", uint32(c.SlidingWindow)))
	}
	if c.Pooling == "" {
		kvs = append(kvs, gguf.NewKV(a+"pooling_type", uint32(1)))
	}
	return kvs
}
