// Package mistral3 implements the text model of Mistral AI's Ministral 3
// and Mistral Small 3.1/3.2 (general.architecture "mistral3"). Importing
// the package registers it with package model.
//
// The network is Llama's (adjacent-pair rotation, optional attn_output
// bias) with its long-context settings applied as llama.cpp applies them:
// YaRN scaling, with rope.scaling.yarn_log_multiplier when present, and
// attention temperature tuning — with attention.temperature_scale set,
// the queries of the token at position p are multiplied by
// ln(⌊p / original_context_length⌋ + 1) · scale + 1.
package mistral3

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "mistral3"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Ministral 3, Mistral Small 3.x (text): YaRN and attention temperature")
}

// Load builds a Mistral 3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	l, r, meta, err := decoder.Begin(f, arch, false)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	tempScale := meta.FloatOr("attention.temperature_scale", 0)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	if !decoder.Finite(tempScale) {
		return nil, decoder.Errorf(hp, "attention.temperature_scale %v is not a number", tempScale)
	}
	var temp *decoder.Temperature
	if tempScale != 0 {
		temp = &decoder.Temperature{Scale: tempScale, Floor: r.Ropes[0].OrigCtx}
	}
	l.Layers(r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		b.Temp = temp
		if hp.Experts > 0 {
			if moe := l.MoE(p); moe != nil {
				moe.Norm = true
				b.FFN = moe
			}
			return
		}
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(*r, cfg)
}
