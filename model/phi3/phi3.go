// Package phi3 implements the Phi-3 architecture (general.architecture
// "phi3"): Phi-3 and Phi-3.5 mini and medium (4k and 128k), Phi-4 and
// Phi-4-mini. Importing the package registers it with package model.
//
// The network is Llama's with the projections stored fused and a LongRoPE
// rotation: attn_qkv holds the query, key and value rows stacked, ffn_up
// holds the gate rows and then the up rows of the SwiGLU feed-forward, the
// rotary embedding pairs element i of a head with element i+dims/2 (GPT-NeoX
// style) over rope.dimension_count elements (fewer than the head for
// Phi-4-mini), divides each pair's frequency by a factor from
// rope_factors_long or rope_factors_short and scales cos and sin by
// rope.scaling.attn_factor, and the queries are scaled by 1/√headDim before
// attention. llama.cpp picks the long factors for a context longer than
// rope.scaling.original_context_length; the cache's size decides here.
//
// attention.sliding_window is read but not applied: llama.cpp evaluates
// every Phi-3 layer with full causal attention ("Phi SWA is currently
// disabled", llama.cpp PR 13676), and we give the logits llama.cpp gives.
// Phi-3.5-MoE (phimoe) is another architecture.
package phi3

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "phi3"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Phi-3/3.5/4 mini and medium: fused qkv and gate/up, LongRoPE, partial rotation")
}

// Load builds a Phi-3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, _, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	if hp.Experts > 0 {
		return nil, decoder.Errorf(&hp, "mixture-of-experts models (expert_count %d) are not supported; Phi-3.5-MoE files are architecture phimoe", hp.Experts)
	}
	rope, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	l := decoder.NewLoader(f, &hp)
	long, short := rope, rope
	long.Factors = ropeFactors(l, "rope_factors_long.weight", rope.Dims/2)
	short.Factors = ropeFactors(l, "rope_factors_short.weight", rope.Dims/2)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: short, Long: &long, LongAfter: rope.OrigCtx}}
	l.Layers(&r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		if l.Has(p + "ffn_gate_inp.weight") {
			l.Failf("mixture-of-experts models (tensor %q) are not supported", p+"ffn_gate_inp.weight")
		}
		// Phi-3 scales the queries, in float32, before they meet the keys;
		// attention itself then scales by 1, as in llama.cpp's graph (which
		// matters for the fp16 rounding of the queries).
		b.QScale, b.Attn.Scale = 1/float32(math.Sqrt(float64(hp.HeadDim))), 0
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(r, cfg)
}

// ropeFactors reads an optional LongRoPE factor tensor: one divisor of the
// base frequency per rotated pair, each a positive number.
func ropeFactors(l *decoder.Loader, name string, n int) []float32 {
	v := l.OptVector(name, n)
	for i, x := range v {
		if !(x > 0) || math.IsInf(float64(x), 0) {
			l.Failf("tensor %q: factor %d is %v, not a positive number", name, i, x)
			return nil
		}
	}
	return v
}
