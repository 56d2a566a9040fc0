package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("llama", arch{validate: llamaValidate, weights: llamaWeights, metadata: llamaMetadata})
}

// llamaValidate checks the mixture-of-experts settings: with Experts > 0
// every block is Mixtral's sparse mixture, each expert a SwiGLU of FFN
// (llama has no separate expert size), ExpertsUsed (default 2) per token.
func llamaValidate(c *Config) error {
	if c.Experts == 0 {
		if c.ExpertsUsed != 0 || c.ExpertFFN != 0 {
			return fmt.Errorf("synth: experts-used and expert-ffn need experts")
		}
		return nil
	}
	if c.ExpertFFN != 0 && c.ExpertFFN != c.FFN {
		return fmt.Errorf("synth: llama experts are feed_forward_length wide: expert-ffn %d must be 0 or ffn %d", c.ExpertFFN, c.FFN)
	}
	return validateExperts(c)
}

// llamaWeights are the tensors of a Llama-family model: RMS norms, GQA
// attention, a SwiGLU feed-forward, tied or separate output.
func llamaWeights(c *Config, s scales) []weight {
	d, hd := int64(c.Dim), int64(c.Dim/c.Heads)
	kv := int64(c.KVHeads) * hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_q.weight", []int64{d, d}, 0, s.qk(d)},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.qk(d)},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_output.weight", []int64{d, d}, 0, s.proj(d)},
			norm(p+"ffn_norm.weight", d),
		)
		if c.Experts > 0 {
			ws = append(ws, expertWeights(p, d, ffn, int64(c.Experts), s)...)
			continue
		}
		ws = append(ws,
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

func llamaMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"vocab_size", uint32(c.Vocab)),
		gguf.NewKV(a+"rope.dimension_count", uint32(c.Dim/c.Heads)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-5)),
	)
	if c.Experts > 0 {
		kvs = append(kvs,
			gguf.NewKV(a+"expert_count", uint32(c.Experts)),
			gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
		)
	}
	return kvs
}
