// Package exaone implements LG AI Research's EXAONE 3.0, 3.5 and EXAONE
// Deep (general.architecture "exaone"), Korean–English bilingual models.
// Importing the package registers it with package model.
//
// The network is Llama's with the rotation on halves (GPT-NeoX pairing),
// llama3-style frequency factors when rope_freqs is present, and q/k/v
// biases when the file has them; as in llama.cpp's exaone graph.
package exaone

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "exaone"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "LG EXAONE 3.0/3.5/Deep (Korean–English): Llama layout, NeoX RoPE")
}

// Load builds an EXAONE model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, _, err := decoder.Begin(f, arch, true)
	if err != nil {
		return nil, err
	}
	if hp := l.Hyper(); hp.Experts > 0 {
		return nil, decoder.Errorf(hp, "mixture-of-experts models (expert_count %d) are architecture exaone-moe", hp.Experts)
	}
	l.Layers(r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) { b.FFN = l.SwiGLU(p) })
	return l.Finish(*r, cfg)
}
