package synth

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("phi3", arch{validate: phi3Validate, weights: phi3Weights, metadata: phi3Metadata, tokenizer: phi3Tokenizer})
}

// phi3Tokenizer is the SentencePiece-style vocabulary with its last piece
// replaced by Phi-3's control token <|endoftext|>: llama.cpp sets token
// attributes for models whose general.name contains "phi3" and fails to
// load a vocabulary without that token.
func phi3Tokenizer(c *Config) []gguf.KV {
	kvs := spmTokenizer(c)
	tokens, scores, types := Vocab(c.Vocab)
	last := len(tokens) - 1
	tokens[last], scores[last], types[last] = "<|endoftext|>", 0, typeControl
	for i, kv := range kvs {
		switch kv.Key {
		case "tokenizer.ggml.tokens":
			kvs[i] = gguf.NewKV(kv.Key, tokens)
		case "tokenizer.ggml.scores":
			kvs[i] = gguf.NewKV(kv.Key, scores)
		case "tokenizer.ggml.token_type":
			kvs[i] = gguf.NewKV(kv.Key, types)
		}
	}
	return kvs
}

// phi3ContextRatio is the ratio of a synthetic Phi-3's context to its
// pre-training context (rope.scaling.original_context_length), that of
// the 128k models (131072 = 32 × 4096). A cache longer than Ctx/32 rotates
// with the long LongRoPE factors, a shorter one with the short factors.
const phi3ContextRatio = 32

func phi3Validate(c *Config) error {
	if c.Ctx < 2*phi3ContextRatio {
		return fmt.Errorf("synth: phi3 needs ctx of at least %d (its pre-training context is ctx/%d)", 2*phi3ContextRatio, phi3ContextRatio)
	}
	if c.SlidingWindow < 0 {
		return fmt.Errorf("synth: sliding window %d is negative", c.SlidingWindow)
	}
	return nil
}

// phi3Weights are the tensors of a Phi-3 model, named and shaped as
// llama.cpp's converter writes them: the query, key and value projections
// fused into attn_qkv (rows: query, key, value), the gate and up
// projections fused into ffn_up (rows: gate, then up), and the LongRoPE
// frequency factors, one per rotated pair, long (large, for contexts beyond
// the pre-training one) and short (near 1).
//
// One spread covers all of attn_qkv, so the values get the query and key
// scale too; attn_output is shrunk by the same factor, which leaves the
// attention block's output at the scale of Llama's.
func phi3Weights(c *Config, s scales) []weight {
	d, hd := int64(c.Dim), int64(c.Dim/c.Heads)
	kv := int64(c.KVHeads) * hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
	ws := []weight{
		{"rope_factors_long.weight", []int64{hd / 2}, 4, 3},
		{"rope_factors_short.weight", []int64{hd / 2}, 1.05, 0.05},
		{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)},
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_qkv.weight", []int64{d, d + 2*kv}, 0, s.qk(d)},
			weight{p + "attn_output.weight", []int64{d, d}, 0, s.proj(d) / s.attn},
			norm(p+"ffn_norm.weight", d),
			weight{p + "ffn_up.weight", []int64{d, 2 * ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
		)
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}

// phi3Metadata writes what the converter writes for a LongRoPE model: the
// pre-training context, the attention factor it derives from the two
// contexts, and the sliding window (0, as for Phi-4, when not set).
func phi3Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	orig := c.Ctx / phi3ContextRatio
	scale := float64(c.Ctx) / float64(orig)
	attnFactor := math.Sqrt(1 + math.Log(scale)/math.Log(float64(orig)))
	return []gguf.KV{
		gguf.NewKV(a+"vocab_size", uint32(c.Vocab)),
		gguf.NewKV(a+"context_length", uint32(c.Ctx)),
		gguf.NewKV(a+"rope.scaling.original_context_length", uint32(orig)),
		gguf.NewKV(a+"embedding_length", uint32(c.Dim)),
		gguf.NewKV(a+"feed_forward_length", uint32(c.FFN)),
		gguf.NewKV(a+"block_count", uint32(c.Layers)),
		gguf.NewKV(a+"attention.head_count", uint32(c.Heads)),
		gguf.NewKV(a+"attention.head_count_kv", uint32(c.KVHeads)),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-5)),
		gguf.NewKV(a+"rope.dimension_count", uint32(c.Dim/c.Heads)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.sliding_window", uint32(c.SlidingWindow)),
		gguf.NewKV(a+"rope.scaling.attn_factor", float32(attnFactor)),
	}
}
