package crosscheck

import (
	"strings"
	"testing"
)

// TestQwen35LongPrompt cross-checks the Gated DeltaNet over a prompt of 200
// tokens, past llama.cpp's chunk of 64 for prompts (its chunked form of the
// delta rule meets ondo's token-by-token recurrence), in F32 and Q8_0.
func TestQwen35LongPrompt(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, ty := range qwenPhiTypes[:2] {
		path := qwenPhiModel(t, dir, familyCase(t, "qwen35 deltanet-8-layers"), ty.typ)
		c := crossCheck(t, path, prompt(200, 512), ty.tol)
		table = append(table, c.row("qwen35", "deltanet-8-layers, 200-token prompt", ty.typ))
		if c.err != nil {
			t.Error(c.err)
		}
	}
	t.Logf("| family | model | type | %s\n|---|---|---|---|---|---|---|\n%s", tableHeader, strings.Join(table, "\n"))
}

// TestQwen35CrossCheckCanFail shows the Qwen3.5 cross-check sees the parts
// of the Gated DeltaNet and of the gated attention.
func TestQwen35CrossCheckCanFail(t *testing.T) {
	zero := func(int, float32) float32 { return 0 }
	const conv = 4 // taps of the synthetic convolution
	checkMutations(t, "qwen35 deltanet-8-layers", []mutation{
		{"no decay (ssm_a zeroed)", editF32("ssm_a", zero)},
		{"decay bias zeroed", editF32("ssm_dt.bias", zero)},
		{"β projection zeroed (β = ½)", editF32("ssm_beta.weight", zero)},
		{"convolution's oldest tap zeroed", editF32("ssm_conv1d.weight", func(i int, v float32) float32 {
			if i%conv == 0 {
				return 0
			}
			return v
		})},
		{"output gate projection doubled", editF32("attn_gate.weight", func(_ int, v float32) float32 { return 2 * v })},
		{"delta-net norm halved", editF32("ssm_norm.weight", func(_ int, v float32) float32 { return v / 2 })},
		{"attention gates zeroed (σ = ½)", editF32("attn_q.weight", func(i int, v float32) float32 {
			// Rows of 256 inputs; each head's 64 query rows, then 64 gate rows.
			if row := i / 256; row%128 >= 64 {
				return 0
			}
			return v
		})},
	})
}

// TestQwen35MoECrossCheckCanFail shows the Qwen3.5-MoE cross-check sees
// the shared expert's gate and the routing.
func TestQwen35MoECrossCheckCanFail(t *testing.T) {
	checkMutations(t, "qwen35moe 8x2-shared-4-layers", []mutation{
		{"shared expert's gate zeroed (σ = ½)", zeroTensors("ffn_gate_inp_shexp.weight")},
		{"3 experts per token instead of 2", editKV("qwen35moe.expert_used_count", uint32(3))},
	})
}
