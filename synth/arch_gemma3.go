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
