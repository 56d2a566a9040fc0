// Package llama implements the Llama architecture (general.architecture
// "llama"): Llama 2, Llama 3/3.1/3.2/3.3, TinyLlama, SmolLM, Mistral-7B and
// the many models that share their GGUF layout (HyperCLOVA X SEED, Kanana,
// Mi:dm, Trillion, A.X among them). Importing the package registers it with
// package model.
//
// The network is the decoder of Karpathy's llama2.c: per layer RMS norm,
// q/k/v projections (biases when the file has them), rotary embedding of
// adjacent pairs with llama3's frequency factors when rope_freqs is present,
// grouped-query attention, output projection and residual, RMS norm,
// SwiGLU feed-forward and residual; final RMS norm and the classifier.
// Mixtral 8x7B and 8x22B are Llama files with expert_count set: every
// feed-forward is then a sparse mixture of SwiGLU experts, gated by a
// softmax over all experts with the chosen probabilities renormalised, as
// llama.cpp's llama graph does.
package llama

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "llama"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Llama 2/3.x, Mistral 7B, Mixtral, TinyLlama, SmolLM, HyperCLOVA X SEED, Kanana, Mi:dm, Trillion, A.X: pre-norm decoder, adjacent-pair RoPE, SwiGLU or sparse experts")
}

// Load builds a Llama model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, _, err := decoder.Begin(f, arch, false)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	l.Layers(r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		switch {
		case hp.Experts > 0:
			moe := l.MoE(p)
			if moe != nil {
				moe.Norm = true
			}
			b.FFN = moe
		case l.Has(p + "ffn_gate_inp.weight"):
			l.Failf("tensor %q routes to experts, but metadata key %q is missing", p+"ffn_gate_inp.weight", arch+".expert_count")
		default:
			b.FFN = l.SwiGLU(p)
		}
	})
	return l.Finish(*r, cfg)
}
