package synth

import (
	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("gemma3", arch{validate: gemmaValidate, weights: gemma3Weights, metadata: gemma3Metadata})
}

// gemma3RopeScale is the linear RoPE scaling of the global layers, as in
// Gemma 3 4B and larger.
const gemma3RopeScale = 8

// gemma3Weights are Gemma 2's tensors plus per-head RMS norms of the
// queries and keys.
func gemma3Weights(c *Config, s scales) []weight { return gemmaWeights(c, s, true) }

// gemma3Metadata describes Gemma 3: no soft-capping; sliding layers in
// llama.cpp's default pattern (five of every six, so layer 5 is the first
// global one) rotating with base 10000, global layers with rope.freq_base
// (set RopeBase; Gemma 3 uses 1e6) and linear scaling by 8.
func gemma3Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	return append(gemmaMetadata(c),
		gguf.NewKV(a+"rope.freq_base_swa", float32(10000)),
		gguf.NewKV(a+"rope.scaling.type", "linear"),
		gguf.NewKV(a+"rope.scaling.factor", float32(gemma3RopeScale)),
	)
}

func init() {
	registerArch("gemma-embedding", arch{validate: gemmaValidate, weights: gemmaEmbeddingWeights, metadata: gemmaEmbeddingMetadata})
}

// gemmaEmbeddingWeights are EmbeddingGemma's: Gemma 3's tensors and the
// two dense projections of the pooled embedding, dim → 2·dim → dim.
func gemmaEmbeddingWeights(c *Config, s scales) []weight {
	d := int64(c.Dim)
	return append(gemma3Weights(c, s),
		weight{"dense_2.weight", []int64{d, 2 * d}, 0, s.proj(d)},
		weight{"dense_3.weight", []int64{2 * d, d}, 0, s.proj(2 * d)},
	)
}

// gemmaEmbeddingMetadata describes EmbeddingGemma: Gemma 3's keys without
// RoPE scaling, mean pooling (unless Pooling says otherwise) and the dense
// projections' sizes.
func gemmaEmbeddingMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kvs := append(gemmaMetadata(c),
		gguf.NewKV(a+"rope.freq_base_swa", float32(10000)),
		gguf.NewKV(a+"dense_2_feat_in", uint32(c.Dim)),
		gguf.NewKV(a+"dense_2_feat_out", uint32(2*c.Dim)),
		gguf.NewKV(a+"dense_3_feat_in", uint32(2*c.Dim)),
		gguf.NewKV(a+"dense_3_feat_out", uint32(c.Dim)),
	)
	if c.Pooling == "" {
		kvs = append(kvs, gguf.NewKV(a+"pooling_type", uint32(1)))
	}
	return kvs
}
