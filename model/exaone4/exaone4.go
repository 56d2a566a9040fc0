// Package exaone4 implements LG AI Research's EXAONE 4.0 (general.architecture
// "exaone4"): the 1.2B on-device model and the 32B hybrid-reasoning model.
// Importing the package registers it with package model.
//
// EXAONE 4.0 moves the norms behind the blocks: no norm before the
// attention or the feed-forward, an RMS norm on each block's output
// (post_attention_norm, post_ffw_norm) before the residual, and per-head
// RMS norms of the queries and keys before the rotation (GPT-NeoX pairing,
// llama3 factors when rope_freqs is present). The 64-layer (32B) shape
// mixes attention as llama.cpp does: three sliding-window layers
// (attention.sliding_window, default 4096) for each global one
// (attention.sliding_window_pattern, default 4), and the global layers do
// not rotate at all. Other shapes attend globally and rotate everywhere.
package exaone4

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "exaone4"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "LG EXAONE 4.0 (Korean–English): post-norms, q/k norms, 3:1 sliding/global without RoPE on the 32B")
}

// Load builds an EXAONE 4.0 model from f, checking every hyperparameter
// and tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, meta, err := decoder.Begin(f, arch, true)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	sliding := make([]bool, hp.Layers)
	if hp.Layers == 64 { // the 32B shape, the only one llama.cpp runs with sliding windows
		if !meta.Has("attention.sliding_window") {
			hp.Window = 4096
		}
		if sliding, err = decoder.SlidingLayers(f, meta, hp.Layers, 4); err != nil {
			return nil, err
		}
	}
	l.Layers(r, decoder.PostNorms, func(i int, p string, b *decoder.Block) {
		l.QKNorm(b, p)
		if sliding[i] && hp.Window > 0 {
			b.Attn.Window = hp.Window
		} else if hp.Layers == 64 {
			b.Rope = decoder.NoRope // global layers of a sliding model do not rotate
		}
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(*r, cfg)
}
