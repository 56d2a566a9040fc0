// Package smollm3 implements Hugging Face's SmolLM3 (general.architecture
// "smollm3"). Importing the package registers it with package model.
//
// The network is Llama's (adjacent-pair rotation, llama3 factors when
// rope_freqs is present) except that every fourth layer — layers 3, 7,
// 11, … — attends without any position rotation (NoPE), as llama.cpp's
// smollm3 graph does.
package smollm3

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "smollm3"

// noRopeEvery is llama.cpp's n_no_rope_layer_step for SmolLM3.
const noRopeEvery = 4

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "SmolLM3: Llama layout, no RoPE on every fourth layer")
}

// Load builds a SmolLM3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, _, err := decoder.Begin(f, arch, false)
	if err != nil {
		return nil, err
	}
	l.Layers(r, decoder.PreNorms, func(i int, p string, b *decoder.Block) {
		if (i+1)%noRopeEvery == 0 {
			b.Rope = decoder.NoRope
		}
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(*r, cfg)
}
