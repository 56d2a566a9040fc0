// Package gemma2 implements Google's Gemma 2 architecture
// (general.architecture "gemma2"). Importing the package registers it with
// package model.
//
// Gemma 2 is a Llama-style decoder with these differences, all followed
// here as llama.cpp computes them: token embeddings scaled by √dim; RMS
// norms after the attention and after the feed-forward block as well as
// before them (GGUF norm weights already include Gemma's +1); a GeGLU
// feed-forward with tanh-approximated GELU; GPT-NeoX rotary pairing;
// queries scaled by 1/√query_pre_attn_scalar; attention logits soft-capped
// to ±50 and final logits to ±30; and sliding-window attention (4096
// positions) on every other layer, starting with layer 0, the others
// global. The KV cache of the sliding layers keeps only the window.
package gemma2

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "gemma2"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Gemma 2: √dim embeddings, sandwich norms, GeGLU, soft caps, alternate sliding layers")
}

// Model is a loaded Gemma 2 model.
type Model struct {
	*decoder.Model
	hp Hyper
}

// Hyper holds the hyperparameters, with llama.cpp's defaults for the
// optional keys: attention.sliding_window 4096, a sliding pattern of period
// 2, soft caps 50 and 30.
type Hyper struct {
	decoder.Hyper
	Sliding                   []bool  // per layer: attends within Window
	AttnSoftcap, FinalSoftcap float32 // attn_ and final_logit_softcapping
	// QueryScale is 1/√query_pre_attn_scalar, which GGUF does not store:
	// like llama.cpp, the head dimension, or embedding_length/head_count
	// for the 46-layer (27B) shape, whose scalar that is.
	QueryScale float32
	// Rope rotates the global layers and RopeLocal the sliding ones, with
	// rope.freq_base_swa when present; both with the model's scaling.
	Rope, RopeLocal kernels.Rope
}

// Hyper returns the hyperparameters.
func (m *Model) Hyper() Hyper { return m.hp }

// Load builds a Gemma 2 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*Model, error) {
	dh, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	hp := Hyper{Hyper: dh}
	if !meta.Has("attention.sliding_window") {
		hp.Window = 4096
	}
	hp.AttnSoftcap = meta.FloatOr("attn_logit_softcapping", 50)
	hp.FinalSoftcap = meta.FloatOr("final_logit_softcapping", 30)
	baseLocal := meta.FloatOr("rope.freq_base_swa", hp.RopeBase)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	switch {
	case hp.Experts > 0:
		return nil, decoder.Errorf(&hp.Hyper, "mixture-of-experts models (expert_count %d) are not supported", hp.Experts)
	case hp.Window <= 0:
		return nil, decoder.Errorf(&hp.Hyper, "attention.sliding_window %d is not positive", hp.Window)
	case !decoder.Finite(hp.AttnSoftcap) || hp.AttnSoftcap <= 0:
		return nil, decoder.Errorf(&hp.Hyper, "attn_logit_softcapping %v is not a positive number", hp.AttnSoftcap)
	case !decoder.Finite(hp.FinalSoftcap) || hp.FinalSoftcap <= 0:
		return nil, decoder.Errorf(&hp.Hyper, "final_logit_softcapping %v is not a positive number", hp.FinalSoftcap)
	}
	if hp.Sliding, err = decoder.SlidingLayers(f, meta, hp.Layers, 2); err != nil {
		return nil, err
	}
	scalar := hp.HeadDim
	if hp.Layers == 46 { // Gemma 2 27B
		scalar = hp.Embd / hp.Heads
	}
	hp.QueryScale = 1 / float32(math.Sqrt(float64(scalar)))
	if hp.Rope, hp.RopeLocal, err = hp.Ropes(baseLocal, true); err != nil {
		return nil, err
	}

	l := decoder.NewLoader(f, &hp.Hyper)
	r := l.Recipe(decoder.TiedOnly)
	r.Ropes = []decoder.Rotation{{Rope: hp.Rope}, {Rope: hp.RopeLocal}}
	r.EmbedScale = float32(math.Sqrt(float64(hp.Embd)))
	r.FinalSoftcap = hp.FinalSoftcap
	l.Layers(&r, decoder.Sandwich, func(i int, p string, b *decoder.Block) {
		b.QScale, b.Attn.Scale, b.Attn.Softcap = hp.QueryScale, 0, hp.AttnSoftcap
		if hp.Sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		b.FFN = l.GeGLU(p)
	})
	d, err := l.Finish(r, cfg)
	if err != nil {
		return nil, err
	}
	return &Model{Model: d, hp: hp}, nil
}
