package crosscheck

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
)

// TestGptOssCrossCheckCanFail shows the gpt-oss cross-check sees each of
// its parts: ondo on a copy of the F32 file with one part changed lands far
// outside the tolerance of llama.cpp on the original.
func TestGptOssCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	var base qwenPhiCase
	for _, c := range familyCases {
		if strings.HasPrefix(c.name, "gpt-oss ") {
			base = c
		}
	}
	path := qwenPhiModel(t, dir, base, "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	theirs := result{logprobs: ref.LogProbs}
	// zero returns a tensor edit that zeroes the tensors whose names end
	// in suffix.
	zero := func(suffix string) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if !strings.HasSuffix(name, suffix) {
					return data
				}
				return make([]byte, len(data))
			})
		}
	}
	kv := func(key string, v any) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) { return setKV(f, key, v), copyTensors(f, nil) }
	}
	for _, m := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"sinks zeroed", zero("attn_sinks.weight")},
		{"router bias zeroed", zero("ffn_gate_inp.bias")},
		{"experts' gate biases zeroed", zero("ffn_gate_exps.bias")},
		{"experts' down biases zeroed", zero("ffn_down_exps.bias")},
		{"attention output bias zeroed", zero("attn_output.bias")},
		{"window 8→16", kv("gpt-oss.attention.sliding_window", uint32(16))},
		{"every layer sliding", kv("gpt-oss.attention.sliding_window_pattern", uint32(0))},
		{"YaRN off", kv("gpt-oss.rope.scaling.type", "linear")},
		{"3 experts per token instead of 2", kv("gpt-oss.expert_used_count", uint32(3))},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}

// TestGptOssMXFP4MatchesLlamaCpp cross-checks gpt-oss as it is published:
// experts in MXFP4, every other matrix in Q8_0 (MXFP4_MOE), within the
// quantized types' tolerance of llama.cpp, greedy tokens identical.
func TestGptOssMXFP4MatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	var base qwenPhiCase
	for _, c := range familyCases {
		if strings.HasPrefix(c.name, "gpt-oss ") {
			base = c
		}
	}
	path := qwenPhiModel(t, t.TempDir(), base, "MXFP4_MOE")
	c := crossCheck(t, path, prompt(promptLen, 512), qwenPhiTypes[1].tol)
	family, variant, _ := strings.Cut(base.name, " ")
	t.Logf("| family | model | type | %s\n|---|---|---|---|---|---|---|\n%s", tableHeader, c.row(family, variant, "MXFP4_MOE"))
	if c.err != nil {
		t.Error(c.err)
	}
}
