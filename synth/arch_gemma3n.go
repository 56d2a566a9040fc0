package synth

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("gemma3n", arch{validate: gemma3nValidate, weights: gemma3nWeights, metadata: gemma3nMetadata})
}

// The synthetic Gemma 3n shape. llama.cpp's gemma3n graph fixes several
// sizes rather than reading them, so a file it loads must have them: four
// AltUp streams (stream 0 active), per-layer embeddings 256 wide, LAuReL
// of rank 64, keys and values of their own on the first 20 layers only
// (the others share), activation sparsity on the first 10 at the normal
// distribution's 95th percentile, a global layer every fifth, and final
// logits soft-capped at 30.
const (
	gemma3nStreams  = 4
	gemma3nPerLayer = 256
	gemma3nRank     = 64
	gemma3nKVLayers = 20
	gemma3nSparse   = 10
	gemma3nStdMul   = 1.6448533535003662
	gemma3nPeriod   = 5
	gemma3nSoftcap  = 30
)

func gemma3nGlobal(l int) bool { return l%gemma3nPeriod == gemma3nPeriod-1 }

// gemma3nValidate fills Gemma's defaults and the fixed sizes: PerLayer 256
// and SharedKV the layers past the 20th unless set, and refuses other
// values, which llama.cpp would not load or would read differently.
func gemma3nValidate(c *Config) error {
	if err := gemmaValidate(c); err != nil {
		return err
	}
	if c.PerLayer == 0 {
		c.PerLayer = gemma3nPerLayer
	}
	shared := max(c.Layers-gemma3nKVLayers, 0)
	if c.SharedKV == 0 {
		c.SharedKV = shared
	}
	switch {
	case c.Layers < gemma3nPeriod:
		return fmt.Errorf("synth: gemma3n needs at least %d layers for a global one", gemma3nPeriod)
	case c.PerLayer != gemma3nPerLayer:
		return fmt.Errorf("synth: gemma3n's per-layer embeddings are %d wide in llama.cpp, not %d", gemma3nPerLayer, c.PerLayer)
	case c.SharedKV != shared:
		return fmt.Errorf("synth: llama.cpp's gemma3n shares keys and values from layer %d on: %d of %d layers, not %d", gemma3nKVLayers, shared, c.Layers, c.SharedKV)
	case c.Experts > 0:
		return fmt.Errorf("synth: gemma3n has no experts")
	}
	return nil
}

// gemma3nWeights are Gemma 3's tensors plus AltUp's, LAuReL's and the
// per-layer embeddings'.
func gemma3nWeights(c *Config, s scales) []weight {
	d, ffn, vocab := int64(c.Dim), int64(c.FFN), int64(c.Vocab)
	hd := int64(c.HeadDim)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	pl, all, n := int64(c.PerLayer), int64(c.PerLayer)*int64(c.Layers), int64(gemma3nStreams)
	g := s.weight * s.attn
	// The router reads a normed input divided by the dimension: a spread
	// of √(3d)/2 gives its outputs a deviation of ½, where tanh bends.
	router := float32(math.Sqrt(3*float64(d)) / 2)
	ws := []weight{
		{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)},
		{"per_layer_token_embd.weight", []int64{all, vocab}, 0, s.embd(pl)},
		{"per_layer_model_proj.weight", []int64{d, all}, 0, s.proj(d)},
		norm("per_layer_proj_norm.weight", pl),
		{"altup_proj.weight", []int64{d, d, n - 1}, 0, s.proj(d)},
		{"altup_unembd_proj.weight", []int64{d, d, n - 1}, 0, s.proj(d)},
		norm("output_norm.weight", d),
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws, gemmaSandwich(p, d, q, hd, ffn, g, s)...)
		ws = append(ws,
			weight{p + "inp_gate.weight", []int64{d, pl}, 0, s.proj(d)},
			weight{p + "proj.weight", []int64{pl, d}, 0, s.proj(pl)},
			postNorm(p+"post_norm.weight", d, s),
			weight{p + "altup_router.weight", []int64{d, n}, 0, router},
			norm(p+"altup_router_norm.weight", d),
			weight{p + "altup_predict_coef.weight", []int64{n, n * n}, 0, 0.3},
			weight{p + "altup_correct_coef.weight", []int64{n, n}, 0, 0.3},
			norm(p+"altup_correct_scale.weight", d),
			weight{p + "laurel_l.weight", []int64{d, gemma3nRank}, 0, s.proj(d)},
			weight{p + "laurel_r.weight", []int64{gemma3nRank, d}, 0, s.proj(gemma3nRank)},
			postNorm(p+"laurel_post_norm.weight", d, s),
		)
		// Every layer has key and value projections, as in Google's files
		// and as llama.cpp requires, though the shared layers' are unused.
		ws = append(ws,
			weight{p + "attn_k.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_k_norm.weight", []int64{hd}, g, 0.1 * g},
		)
	}
	return ws
}

// gemma3nMetadata writes the keys as llama.cpp's converter does: the
// sliding pattern one boolean per layer, the sparsity one multiplier per
// layer (−∞ for a dense layer, the quantile of sparsity 0).
func gemma3nMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	swa := make([]bool, c.Layers)
	sparsity := make([]float32, c.Layers)
	for l := range swa {
		swa[l] = !gemma3nGlobal(l)
		sparsity[l] = float32(math.Inf(-1))
		if l < gemma3nSparse {
			sparsity[l] = gemma3nStdMul
		}
	}
	return append(gemmaMetadata(c),
		gguf.NewKV(a+"rope.freq_base_swa", float32(10000)),
		gguf.NewKV(a+"attention.sliding_window_pattern", swa),
		gguf.NewKV(a+"attention.shared_kv_layers", uint32(c.SharedKV)),
		gguf.NewKV(a+"embedding_length_per_layer_input", uint32(c.PerLayer)),
		gguf.NewKV(a+"altup.active_idx", uint32(0)),
		gguf.NewKV(a+"altup.num_inputs", uint32(gemma3nStreams)),
		gguf.NewKV(a+"activation_sparsity_scale", sparsity),
		gguf.NewKV(a+"final_logit_softcapping", float32(gemma3nSoftcap)),
	)
}
