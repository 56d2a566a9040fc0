package crosscheck

import (
	"strings"
	"testing"
)

// TestGptOssCrossCheckCanFail shows the gpt-oss cross-check sees each of
// its parts.
func TestGptOssCrossCheckCanFail(t *testing.T) {
	checkMutations(t, "gpt-oss 8x2-swa", []mutation{
		{"sinks zeroed", zeroTensors("attn_sinks.weight")},
		{"router bias zeroed", zeroTensors("ffn_gate_inp.bias")},
		{"experts' gate biases zeroed", zeroTensors("ffn_gate_exps.bias")},
		{"experts' down biases zeroed", zeroTensors("ffn_down_exps.bias")},
		{"attention output bias zeroed", zeroTensors("attn_output.bias")},
		{"window 8→16", editKV("gpt-oss.attention.sliding_window", uint32(16))},
		{"every layer sliding", editKV("gpt-oss.attention.sliding_window_pattern", uint32(0))},
		{"YaRN off", editKV("gpt-oss.rope.scaling.type", "linear")},
		{"3 experts per token instead of 2", editKV("gpt-oss.expert_used_count", uint32(3))},
	})
}

// TestGptOssMXFP4MatchesLlamaCpp cross-checks gpt-oss as it is published:
// experts in MXFP4, every other matrix in Q8_0 (MXFP4_MOE), within the
// quantized types' tolerance of llama.cpp, greedy tokens identical.
func TestGptOssMXFP4MatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	base := familyCase(t, "gpt-oss 8x2-swa")
	path := qwenPhiModel(t, t.TempDir(), base, "MXFP4_MOE")
	c := crossCheck(t, path, prompt(promptLen, 512), qwenPhiTypes[1].tol)
	family, variant, _ := strings.Cut(base.name, " ")
	t.Logf("| family | model | type | %s\n|---|---|---|---|---|---|---|\n%s", tableHeader, c.row(family, variant, "MXFP4_MOE"))
	if c.err != nil {
		t.Error(c.err)
	}
}
