package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("qwen2", arch{weights: qwen2Weights, metadata: qwenMetadata})
}

// qwen2Weights are the tensors of a Qwen2 model, named and shaped as
// llama.cpp's converter writes them: Llama's, plus biases on the query,
// key and value projections.
func qwen2Weights(c *Config, s scales) []weight {
	d, hd := int64(c.Dim), int64(c.Dim/c.Heads)
	kv := int64(c.KVHeads) * hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws,
			norm(p+"attn_norm.weight", d),
			weight{p + "attn_q.weight", []int64{d, d}, 0, s.qk(d)},
			weight{p + "attn_q.bias", []int64{d}, 0, s.qkBias()},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.qk(d)},
			weight{p + "attn_k.bias", []int64{kv}, 0, s.qkBias()},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_v.bias", []int64{kv}, 0, s.weight},
			weight{p + "attn_output.weight", []int64{d, d}, 0, s.proj(d)},
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

// qkBias is the spread of the query and key biases: about the size of
// the projections' outputs, so the bias shifts attention noticeably.
func (s scales) qkBias() float32 { return s.weight * s.attn }

// qwenMetadata is the metadata of Qwen2 and Qwen3: Llama's keys with
// Qwen's RMS epsilon (1e-6), and for Qwen3 the head size.
func qwenMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	hd := c.Dim / c.Heads
	if c.HeadDim != 0 {
		hd = c.HeadDim
	}
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"vocab_size", uint32(c.Vocab)),
	)
	if c.Arch == "qwen3" {
		kvs = append(kvs,
			gguf.NewKV(a+"attention.key_length", uint32(hd)),
			gguf.NewKV(a+"attention.value_length", uint32(hd)))
	}
	return append(kvs,
		gguf.NewKV(a+"rope.dimension_count", uint32(hd)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
	)
}
