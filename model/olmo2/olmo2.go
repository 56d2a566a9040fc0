// Package olmo2 implements AI2's OLMo 2 and OLMo 3 (general.architecture
// "olmo2"). Importing the package registers it with package model.
//
// OLMo 2 norms the outputs of its blocks instead of their inputs: no norm
// before the attention or the feed-forward, an RMS norm on each block's
// output before the residual, and RMS norms of the queries and of the keys
// taken over all heads at once (attn_q_norm is embedding_length wide), then
// the rotation on halves (GPT-NeoX pairing). OLMo 3 adds sliding windows:
// with attention.sliding_window set, three layers of every four slide
// (attention.sliding_window_pattern) and rotate without the model's
// scaling, as llama.cpp's olmo2 graph does.
package olmo2

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "olmo2"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "OLMo 2/3: post-norms, full-width q/k norms, optional sliding windows")
}

// Load builds an OLMo 2 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	sliding := make([]bool, hp.Layers)
	if hp.Window > 0 {
		if sliding, err = decoder.SlidingLayers(f, meta, hp.Layers, 4); err != nil {
			return nil, err
		}
	}
	rope, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	local := rope // sliding layers: no scaling, no YaRN
	local.FreqScale, local.ExtFactor, local.AttnFactor = 1, 0, 1
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	if !l.Has("output.weight") {
		l.Failf("missing tensor %q", "output.weight")
	}
	r.Ropes = []decoder.Rotation{{Rope: rope}, {Rope: local}}
	l.Layers(&r, decoder.PostNorms, func(i int, p string, b *decoder.Block) {
		b.QNorm = l.Norm(p+"attn_q_norm", hp.Heads*hp.HeadDim)
		b.KNorm = l.Norm(p+"attn_k_norm", hp.KVHeads*hp.HeadDim)
		if sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(r, cfg)
}
