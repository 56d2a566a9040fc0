// Package glm4 implements Z.ai's dense GLM-4 (general.architecture
// "glm4"): GLM-4-9B-0414, GLM-4-32B-0414 and GLM-Z1. Importing the package
// registers it with package model.
//
// GLM-4 norms both sides of both blocks (attn_norm and post_attention_norm
// around the attention, ffn_norm and post_ffw_norm around the
// feed-forward), has q/k/v biases, keeps the SwiGLU gate and up
// projections fused in ffn_up, and rotates only rope.dimension_count
// elements of each head (half of them) in adjacent pairs, as llama.cpp's
// glm4 graph does. Files with multi-section rotation (GLM-4V) are refused.
package glm4

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "glm4"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "GLM-4 9B/32B dense: sandwich norms, q/k/v biases, fused gate/up, half-rotated heads")
}

// Load builds a GLM-4 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	if meta.Has("rope.dimension_sections") {
		return nil, decoder.Errorf(&hp, "multi-section rotation (rope.dimension_sections, GLM-4V) is not supported")
	}
	rope, err := hp.Rope(false, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: rope}}
	l.Layers(&r, decoder.Sandwich, func(_ int, p string, b *decoder.Block) { b.FFN = l.SwiGLU(p) })
	return l.Finish(r, cfg)
}
