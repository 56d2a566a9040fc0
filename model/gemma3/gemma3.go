// Package gemma3 implements the text model of Google's Gemma 3
// (general.architecture "gemma3"): Gemma 3 1B, and the language model of
// 4B, 12B and 27B, whose vision tower is not supported. Importing the
// package registers it with package model.
//
// Gemma 3 is Gemma 2 (embeddings scaled by √dim, RMS norms before and after
// the attention and the feed-forward block, GeGLU with tanh-approximated
// GELU, GPT-NeoX rotary pairing, queries scaled by
// 1/√query_pre_attn_scalar) with these changes, all followed here as
// llama.cpp computes them: per-head RMS norms of the queries and keys
// before the rotation; no attention-logit soft-capping, and final
// soft-capping only when the file asks for it; five sliding-window layers
// (1024 positions) for each global one, the sliding layers rotating with
// base 10000 and no scaling, the global ones with rope.freq_base (1e6) and
// the model's linear scaling (8 for 4B and larger). The KV cache of the
// sliding layers keeps only the window.
//
// The package also registers "gemma-embedding", EmbeddingGemma: the Gemma 3
// network as an encoder for embeddings only. Every layer attends both ways
// (bidirectionally), the sliding layers within half their window on either
// side (llama.cpp's symmetric window, attention.sliding_window required),
// queries scaled by 1/√head_dim, and the pooled embedding goes through
// the dense_2 and dense_3 projections when the file has them.
package gemma3

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "gemma3"

// embeddingArch is EmbeddingGemma's architecture name.
const embeddingArch = "gemma-embedding"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Register(embeddingArch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return load(f, embeddingArch, cfg) })
	model.MarkEmbeddingOnly(embeddingArch)
	model.Describe(embeddingArch, "EmbeddingGemma (embeddings only): Gemma 3 attending both ways, symmetric sliding windows, dense projections after pooling")
	model.Describe(arch, "Gemma 3 (text): Gemma 2 with q/k norms, 5:1 sliding/global, separate local RoPE base")
}

// Model is a loaded Gemma 3 model.
type Model struct {
	*decoder.Model
	hp Hyper
}

// Hyper holds the hyperparameters, with llama.cpp's defaults for the
// optional keys: no sliding window unless attention.sliding_window is set,
// then a sliding pattern of period 6; no final soft cap unless
// final_logit_softcapping is set.
type Hyper struct {
	decoder.Hyper
	Sliding      []bool  // per layer: attends within Window
	FinalSoftcap float32 // final_logit_softcapping
	// QueryScale is 1/√query_pre_attn_scalar, which GGUF does not store:
	// like llama.cpp, the head dimension, or embedding_length/head_count
	// for the 62-layer (27B) shape, whose scalar that is.
	QueryScale float32
	// Rope rotates the global layers, with the model's scaling, and
	// RopeLocal the sliding ones: rope.freq_base_swa (default 10000) and
	// no scaling.
	Rope, RopeLocal kernels.Rope
}

// Hyper returns the hyperparameters.
func (m *Model) Hyper() Hyper { return m.hp }

// Load builds a Gemma 3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*Model, error) { return load(f, arch, cfg) }

// load builds a model of architecture a, gemma3 or gemma-embedding.
func load(f *gguf.File, a string, cfg model.Config) (*Model, error) {
	enc := a == embeddingArch
	dh, meta, err := decoder.ReadHyper(f, a)
	if err != nil {
		return nil, err
	}
	hp := Hyper{Hyper: dh}
	hp.FinalSoftcap = meta.FloatOr("final_logit_softcapping", 0)
	baseLocal := meta.FloatOr("rope.freq_base_swa", 10000)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	switch {
	case enc && hp.Window == 0:
		return nil, decoder.Errorf(&hp.Hyper, "metadata key %q: missing or 0 (EmbeddingGemma slides on most layers)", meta.Key("attention.sliding_window"))
	case hp.Experts > 0:
		return nil, decoder.Errorf(&hp.Hyper, "mixture-of-experts models (expert_count %d) are not supported", hp.Experts)
	case !decoder.Finite(hp.FinalSoftcap) || hp.FinalSoftcap < 0:
		return nil, decoder.Errorf(&hp.Hyper, "final_logit_softcapping %v is not a non-negative number", hp.FinalSoftcap)
	}
	hp.Sliding = make([]bool, hp.Layers)
	if hp.Window > 0 {
		if hp.Sliding, err = decoder.SlidingLayers(f, meta, hp.Layers, 6); err != nil {
			return nil, err
		}
	}
	scalar := hp.HeadDim
	if hp.Layers == 62 && !enc { // Gemma 3 27B
		scalar = hp.Embd / hp.Heads
	}
	hp.QueryScale = 1 / float32(math.Sqrt(float64(scalar)))
	if hp.Rope, hp.RopeLocal, err = hp.Ropes(baseLocal, false); err != nil {
		return nil, err
	}

	l := decoder.NewLoader(f, &hp.Hyper)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: hp.Rope}, {Rope: hp.RopeLocal}}
	r.EmbedScale = float32(math.Sqrt(float64(hp.Embd)))
	r.FinalSoftcap = hp.FinalSoftcap
	l.Layers(&r, decoder.Sandwich, func(i int, p string, b *decoder.Block) {
		l.QKNorm(b, p)
		b.QScale, b.Attn.Scale, b.Attn.Bidirectional = hp.QueryScale, 0, enc
		if hp.Sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		b.FFN = l.GeGLU(p)
	})
	if enc {
		r.Encoder = true
		if l.Has("dense_2.weight") {
			out := meta.IntOr("dense_2_feat_out", 0)
			if out <= 0 {
				l.Failf("tensor %q needs metadata key %q, a positive size", "dense_2.weight", meta.Key("dense_2_feat_out"))
			}
			r.Dense = append(r.Dense, l.Linear("dense_2", hp.Embd, out))
			if l.Has("dense_3.weight") {
				r.Dense = append(r.Dense, l.Linear("dense_3", out, hp.Embd))
			}
		}
	}
	d, err := l.Finish(r, cfg)
	if err != nil {
		return nil, err
	}
	return &Model{Model: d, hp: hp}, nil
}
