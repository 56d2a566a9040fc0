package synth

import (
	"fmt"
	"math"
)

// The mixture-of-experts pieces the llama (Mixtral) and qwen3moe
// architectures share.

// validateExperts checks and defaults the expert counts shared by the
// mixture-of-experts architectures.
func validateExperts(c *Config) error {
	if c.ExpertsUsed == 0 {
		c.ExpertsUsed = min(2, c.Experts)
	}
	if c.Experts < 1 || c.ExpertsUsed < 1 || c.ExpertsUsed > c.Experts {
		return fmt.Errorf("synth: experts-used %d must be between 1 and experts %d", c.ExpertsUsed, c.Experts)
	}
	return nil
}

// routerSpread is the spread of a mixture-of-experts router, left out of
// WeightScale: routing should be decisive, as in a trained model, so that
// float32 rounding never changes which experts a token uses.
func routerSpread(fanIn int64) float32 { return float32(math.Sqrt(3 / float64(fanIn))) }

// expertWeights are the tensors of a sparse mixture of experts in the
// layout llama.cpp's converters write: the router ffn_gate_inp and the
// experts' SwiGLU matrices stacked in 3-D tensors [in, out, experts].
func expertWeights(p string, d, ffn, experts int64, s scales) []weight {
	return []weight{
		{p + "ffn_gate_inp.weight", []int64{d, experts}, 0, routerSpread(d)},
		{p + "ffn_gate_exps.weight", []int64{d, ffn, experts}, 0, s.proj(d)},
		{p + "ffn_up_exps.weight", []int64{d, ffn, experts}, 0, s.proj(d)},
		{p + "ffn_down_exps.weight", []int64{ffn, d, experts}, 0, s.proj(ffn)},
	}
}
