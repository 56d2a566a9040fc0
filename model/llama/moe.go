package llama

import (
	"fmt"

	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// loadMoE reads the mixture-of-experts feed-forward of the block with
// tensor prefix p (Mixtral's layout: a router ffn_gate_inp and the experts
// stacked in 3-D tensors ffn_{gate,up,down}_exps, each expert a SwiGLU of
// feed_forward_length). It returns nil for a dense block.
//
// llama.cpp's llama graph gates with a softmax over all experts, keeps the
// expert_used_count most likely and renormalises their probabilities to sum
// 1; it reads no expert_weights_scale for this architecture.
func loadMoE(w *model.Weights, p string, hp *Hyper) (*layers.MoE, error) {
	router := p + "ffn_gate_inp.weight"
	switch {
	case hp.Experts == 0 && w.Has(router):
		return nil, fmt.Errorf("%s: tensor %q routes to experts, but metadata key %q is missing", arch, router, arch+".expert_count")
	case hp.Experts == 0:
		return nil, nil
	case !w.Has(p+"ffn_gate_exps.weight") && w.Has(p+"ffn_gate.0.weight"):
		return nil, fmt.Errorf("%s: tensor %q: experts stored one tensor each (an old Mixtral conversion) are not supported; convert the model again", arch, p+"ffn_gate.0.weight")
	}
	r, err := w.Matrix(router, hp.Embd, hp.Experts)
	if err != nil {
		return nil, err
	}
	f := &layers.MoE{Router: layers.Linear{W: r}, Used: hp.ExpertsUsed, Norm: true}
	if f.Gate, err = w.Experts(p+"ffn_gate_exps.weight", hp.Embd, hp.FFN, hp.Experts); err != nil {
		return nil, err
	}
	if f.Up, err = w.Experts(p+"ffn_up_exps.weight", hp.Embd, hp.FFN, hp.Experts); err != nil {
		return nil, err
	}
	if f.Down, err = w.Experts(p+"ffn_down_exps.weight", hp.FFN, hp.Embd, hp.Experts); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", arch, p+"ffn", err)
	}
	return f, nil
}
