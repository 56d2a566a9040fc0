package crosscheck

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
)

// qwen35Case is the Qwen3.5 case of familyCases.
func qwen35Case(t *testing.T) qwenPhiCase {
	for _, c := range familyCases {
		if strings.HasPrefix(c.name, "qwen35 ") {
			return c
		}
	}
	t.Fatal("no qwen35 case")
	return qwenPhiCase{}
}

// TestQwen35LongPrompt cross-checks the Gated DeltaNet over a prompt of 200
// tokens, past llama.cpp's chunk of 64 for prompts (its chunked form of the
// delta rule meets ondo's token-by-token recurrence), in F32 and Q8_0.
func TestQwen35LongPrompt(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, ty := range qwenPhiTypes[:2] {
		path := qwenPhiModel(t, dir, qwen35Case(t), ty.typ)
		c := crossCheck(t, path, prompt(200, 512), ty.tol)
		table = append(table, c.row("qwen35", "deltanet-8-layers, 200-token prompt", ty.typ))
		if c.err != nil {
			t.Error(c.err)
		}
	}
	t.Logf("| family | model | type | %s\n|---|---|---|---|---|---|---|\n%s", tableHeader, strings.Join(table, "\n"))
}

// TestQwen35CrossCheckCanFail shows the Qwen3.5 cross-check sees the parts
// of the Gated DeltaNet and of the gated attention: ondo on a copy of the
// F32 file with one part changed lands far outside the tolerance of
// llama.cpp on the original.
func TestQwen35CrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	path := qwenPhiModel(t, dir, qwen35Case(t), "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	theirs := result{logprobs: ref.LogProbs}
	// f32s edits the float32 tensors whose names end in suffix.
	f32s := func(suffix string, change func(i int, v float32) float32) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if !strings.HasSuffix(name, suffix) {
					return data
				}
				b := append([]byte(nil), data...)
				for i := 0; i < len(b)/4; i++ {
					v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
					binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(change(i, v)))
				}
				return b
			})
		}
	}
	zero := func(int, float32) float32 { return 0 }
	const conv = 4 // taps of the synthetic convolution
	for _, m := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"no decay (ssm_a zeroed)", f32s("ssm_a", zero)},
		{"decay bias zeroed", f32s("ssm_dt.bias", zero)},
		{"β projection zeroed (β = ½)", f32s("ssm_beta.weight", zero)},
		{"convolution's oldest tap zeroed", f32s("ssm_conv1d.weight", func(i int, v float32) float32 {
			if i%conv == 0 {
				return 0
			}
			return v
		})},
		{"output gate projection doubled", f32s("attn_gate.weight", func(_ int, v float32) float32 { return 2 * v })},
		{"delta-net norm halved", f32s("ssm_norm.weight", func(_ int, v float32) float32 { return v / 2 })},
		{"attention gates zeroed (σ = ½)", f32s("attn_q.weight", func(i int, v float32) float32 {
			// Rows of 256 inputs; each head's 64 query rows, then 64 gate rows.
			if row := i / 256; row%128 >= 64 {
				return 0
			}
			return v
		})},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}

// TestQwen35MoECrossCheckCanFail shows the Qwen3.5-MoE cross-check sees
// the shared expert's gate and the routing.
func TestQwen35MoECrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	var base qwenPhiCase
	for _, c := range familyCases {
		if strings.HasPrefix(c.name, "qwen35moe ") {
			base = c
		}
	}
	path := qwenPhiModel(t, dir, base, "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"shared expert's gate zeroed (σ = ½)", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if strings.HasSuffix(name, "ffn_gate_inp_shexp.weight") {
					return make([]byte, len(data))
				}
				return data
			})
		}},
		{"3 experts per token instead of 2", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "qwen35moe.expert_used_count", uint32(3)), copyTensors(f, nil)
		}},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
