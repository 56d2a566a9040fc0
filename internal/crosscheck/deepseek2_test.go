package crosscheck

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
)

// TestDeepseek2CrossCheckCanFail shows the deepseek2 cross-check sees the
// parts of latent attention and of DeepSeek-V3's router: ondo on a copy of
// the F32 V3-shaped file with one part changed lands far outside the
// tolerance of llama.cpp on the original.
func TestDeepseek2CrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	var base qwenPhiCase
	for _, c := range familyCases {
		if c.name == "deepseek2 mla-v3" {
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
	kv := func(key string, v any) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) { return setKV(f, key, v), copyTensors(f, nil) }
	}
	// tensors edits the tensors whose names end in suffix.
	tensors := func(suffix string, change func([]byte) []byte) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if !strings.HasSuffix(name, suffix) {
					return data
				}
				return change(append([]byte(nil), data...))
			})
		}
	}
	// swapHeads exchanges the matrices of heads 0 and 1 of a per-head
	// tensor of 4 heads.
	swapHeads := func(b []byte) []byte {
		h := len(b) / 4
		a := append([]byte(nil), b[:h]...)
		copy(b[:h], b[h:2*h])
		copy(b[h:2*h], a)
		return b
	}
	zero := func(b []byte) []byte { return make([]byte, len(b)) }
	for _, m := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"attn_k_b heads 0 and 1 swapped", tensors("attn_k_b.weight", swapHeads)},
		{"attn_v_b heads 0 and 1 swapped", tensors("attn_v_b.weight", swapHeads)},
		{"latent norm zeroed", tensors("attn_kv_a_norm.weight", zero)},
		{"query norm zeroed", tensors("attn_q_a_norm.weight", zero)},
		{"selection bias zeroed", tensors("exp_probs_b.bias", zero)},
		{"shared expert zeroed", tensors("ffn_down_shexp.weight", zero)},
		{"yarn_log_multiplier 0.1→0.2", kv("deepseek2.rope.scaling.yarn_log_multiplier", float32(0.2))},
		{"YaRN off", kv("deepseek2.rope.scaling.type", "none")},
		{"softmax gating instead of sigmoid", kv("deepseek2.expert_gating_func", uint32(1))},
		{"weights not renormalised", kv("deepseek2.expert_weights_norm", false)},
		{"weights scale 2.5→1", kv("deepseek2.expert_weights_scale", float32(1))},
		{"every expert group used", kv("deepseek2.expert_group_count", uint32(0))},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
