package crosscheck

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// gemma3nCases is Gemma 3n's shape in small: 25 layers of dim 256, the
// sizes llama.cpp's graph fixes (four AltUp streams, per-layer embeddings
// 256 wide, LAuReL of rank 64), sparse feed-forward blocks on layers 0–9,
// every fifth layer global (window 8 on the others), and layers 20–24
// attending to the keys and values of layer 18 (sliding) or 19 (global).
var gemma3nCases = []qwenPhiCase{
	{"gemma3n e-25-layers-shared", func(c *synth.Config) {
		c.Arch, c.Layers, c.RopeBase = "gemma3n", 25, 1e6
		c.WeightScale, c.AttnScale = gemma3nWeightScale, gemmaAttnScale
	}, nil},
}

// gemma3nWeightScale is between Gemma 4's and Gemma 3's: at 0.05 the
// blocks add so little to the residual stream that dropping the activation
// sparsity moved the log-probabilities by only 1e-2, at the mutation
// check's threshold; at 0.1 Q8_0 and Q4_K_M came within 1e-2 of the 2e-2
// tolerance (as did llama.cpp's own batch and token-by-token results).
const gemma3nWeightScale = 0.075

// gemma3nStdMul is the converter's multiplier for sparsity 0.95, the
// normal distribution's 95th percentile.
const gemma3nStdMul = 1.6448533535003662

// TestGemma3nMatchesLlamaCpp cross-checks Gemma 3n in F32, Q8_0 and
// Q4_K_M: the last prompt position's log-probabilities within the type's
// tolerance of llama.cpp's and 32 greedy tokens identical. (The table's
// heading gives the shared helper's default scales; the case sets
// gemma3nWeightScale and gemmaAttnScale.)
func TestGemma3nMatchesLlamaCpp(t *testing.T) { crossCheckCases(t, gemma3nCases) }

// TestGemma3nPassesMatchLlamaCpp cross-checks ondo evaluating a prompt of
// six windows in passes of 4 tokens, so that the sliding layers keep rings
// of 8−1+4 positions, the shared layers read those rings, and the AltUp
// streams restart with each pass: F32, within its tolerance of llama.cpp's
// one pass and 32 greedy tokens identical.
func TestGemma3nPassesMatchLlamaCpp(t *testing.T) {
	lc := llamaCpp(t)
	path := qwenPhiModel(t, t.TempDir(), gemma3nCases[0], "F32")
	toks := prompt(gemmaPrompts[1], 512)
	ref, err := lc.Eval(context.Background(), path, toks, greedySteps, 1)
	if err != nil {
		t.Fatal(err)
	}
	ours := runOndoWith(t, path, toks, greedySteps, model.Config{Threads: 2, BatchSize: gemmaRingBatch})
	diff, _ := compare(ours, result{logprobs: ref.LogProbs})
	verdict, err := greedyVerdict(ours, result{logprobs: ref.LogProbs, greedy: ref.Greedy}, qwenPhiTypes[0].tol)
	t.Logf("passes of %d, prompt %d: max |Δ log-prob| %.3g, greedy %s", gemmaRingBatch, len(toks), diff, verdict)
	if err != nil {
		t.Error(err)
	}
	if diff > qwenPhiTypes[0].tol {
		t.Errorf("max |Δ log-prob| %.3g > %.0e", diff, qwenPhiTypes[0].tol)
	}
}

// TestGemma3nCrossCheckCanFail shows the Gemma 3n cross-check sees each of
// its parts: ondo on a copy of the F32 model with one of them changed lands
// far (10× the tolerance) outside llama.cpp's log-probabilities on the
// original.
func TestGemma3nCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	path := qwenPhiModel(t, dir, gemma3nCases[0], "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	zero := func(int, float32) float32 { return 0 }
	// activation_sparsity_scale as written: the first ten layers' standard
	// deviation multiplier m, the others −∞ (dense) unless rest is finite.
	sparsity := func(m, rest float32) []float32 {
		v := make([]float32, 25)
		for i := range v {
			v[i] = rest
			if i < 10 {
				v[i] = m
			}
		}
		return v
	}
	inf := float32(math.Inf(-1))
	for i, m := range []mutation{
		{"AltUp predictions: coefficients zeroed", editF32("altup_predict_coef.weight", zero)},
		{"AltUp corrections: coefficients zeroed", editF32("altup_correct_coef.weight", zero)},
		{"AltUp router zeroed", editF32("altup_router.weight", zero)},
		{"LAuReL's low-rank branch zeroed", editF32("laurel_r.weight", zero)},
		{"per-layer token embeddings zeroed", editF32("per_layer_token_embd.weight", zero)},
		{"per-layer projection of the embeddings zeroed", editF32("per_layer_model_proj.weight", zero)},
		{"no activation sparsity", editKV("gemma3n.activation_sparsity_scale", sparsity(inf, inf))},
		{"activation sparsity on every layer", editKV("gemma3n.activation_sparsity_scale", sparsity(gemma3nStdMul, gemma3nStdMul))},
		{"sparsity cutoff at the mean (multiplier 1.645→0)", editKV("gemma3n.activation_sparsity_scale", sparsity(0, inf))},
		{"keys and values shared from layer 19 on, not 20", editKV("gemma3n.attention.shared_kv_layers", uint32(6))},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, fmt.Sprintf("gemma3n-wrong-%d.gguf", i)), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
