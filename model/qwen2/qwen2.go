// Package qwen2 implements the Qwen2 architecture (general.architecture
// "qwen2"): Qwen1.5, Qwen2, Qwen2.5 and their coder and math variants.
// Importing the package registers it with package model.
//
// The network is Llama's with three differences: the query, key and value
// projections carry biases, the rotary embedding pairs element i of a head
// with element i+headDim/2 (GPT-NeoX style) instead of adjacent elements,
// and small models tie the classifier to the token embeddings.
//
// Qwen2-MoE (qwen2moe) and Qwen2-VL (qwen2vl) are other architectures.
package qwen2

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "qwen2"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Qwen1.5/2/2.5: Llama with q/k/v biases and NeoX RoPE")
}

// Load builds a Qwen2 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, _, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	if hp.Experts > 0 {
		return nil, decoder.Errorf(&hp, "mixture-of-experts models (expert_count %d) are not supported; Qwen2-MoE files are architecture qwen2moe", hp.Experts)
	}
	rope, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: rope}}
	l.Layers(&r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) { b.FFN = l.SwiGLU(p) })
	return l.Finish(r, cfg)
}
