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

// TestGraniteHybridCrossCheckCanFail shows the Granite 4.0 hybrid
// cross-check sees the parts of the Mamba-2 layers: ondo on a copy of the
// F32 file with one part changed lands far outside the tolerance of
// llama.cpp on the original.
func TestGraniteHybridCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	var base qwenPhiCase
	for _, c := range familyCases {
		if c.name == "granitehybrid mamba2-8-layers" {
			base = c
		}
	}
	path := qwenPhiModel(t, dir, base, "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
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
	for _, m := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"no decay (ssm_a zeroed)", f32s("ssm_a", zero)},
		{"skip connection D zeroed", f32s("ssm_d", zero)},
		{"convolution bias zeroed", f32s("ssm_conv1d.bias", zero)},
		{"step bias raised by 6", f32s("ssm_dt.bias", func(_ int, v float32) float32 { return v + 6 })},
		{"convolution's oldest tap zeroed", f32s("ssm_conv1d.weight", func(i int, v float32) float32 {
			if i%4 == 0 {
				return 0
			}
			return v
		})},
		{"group norm halved", f32s("ssm_norm.weight", func(_ int, v float32) float32 { return v / 2 })},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
