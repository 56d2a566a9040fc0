package synth_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/phi3"
	_ "github.com/ondo-ai/ondo/model/qwen2"
	_ "github.com/ondo-ai/ondo/model/qwen3"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tensor"
)

// TestQwenPhiArchs writes each of the qwen2, qwen3 and phi3 synthetic
// models in a float and a mixed quantized type and checks the family's
// distinctive tensors and keys are there with llama.cpp's names and
// shapes, that the file is reproducible from its seed, and that ondo loads
// and runs it.
func TestQwenPhiArchs(t *testing.T) {
	cases := []struct {
		arch    string
		edit    func(*synth.Config)
		tensors map[string][]int64 // name → shape
		keys    map[string]any     // key → value (nil: present)
	}{
		{"qwen2", nil, map[string][]int64{
			"blk.0.attn_q.bias": {256}, "blk.0.attn_k.bias": {128}, "blk.1.attn_v.bias": {128},
			"blk.0.attn_q.weight": {256, 256}, "blk.0.attn_k.weight": {256, 128}, "blk.0.ffn_gate.weight": {256, 128},
		}, map[string]any{"qwen2.attention.layer_norm_rms_epsilon": float32(1e-6)}},
		{"qwen3", func(c *synth.Config) { c.HeadDim = 32 }, map[string][]int64{
			"blk.0.attn_q_norm.weight": {32}, "blk.1.attn_k_norm.weight": {32},
			"blk.0.attn_q.weight": {256, 128}, "blk.0.attn_k.weight": {256, 64}, "blk.0.attn_output.weight": {128, 256},
		}, map[string]any{"qwen3.attention.key_length": uint32(32), "qwen3.attention.value_length": uint32(32), "qwen3.rope.dimension_count": uint32(32)}},
		{"phi3", func(c *synth.Config) { c.SlidingWindow = 32 }, map[string][]int64{
			"rope_factors_long.weight": {32}, "rope_factors_short.weight": {32},
			"blk.0.attn_qkv.weight": {256, 512}, "blk.1.ffn_up.weight": {256, 256}, "blk.0.ffn_down.weight": {128, 256},
		}, map[string]any{
			"phi3.rope.scaling.original_context_length": uint32(8), "phi3.attention.sliding_window": uint32(32),
			"phi3.rope.scaling.attn_factor": nil, "phi3.context_length": uint32(256),
		}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		for _, typ := range []string{"F16", "Q4_K_M"} {
			t.Run(tc.arch+"/"+typ, func(t *testing.T) {
				c := synth.Config{Arch: tc.arch, Type: typ, Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Vocab: 300, Ctx: 256, Seed: 3}
				if tc.edit != nil {
					tc.edit(&c)
				}
				a, b := filepath.Join(dir, tc.arch+typ+"a.gguf"), filepath.Join(dir, tc.arch+typ+"b.gguf")
				for _, p := range []string{a, b} {
					if err := synth.Write(p, c); err != nil {
						t.Fatal(err)
					}
				}
				da, _ := os.ReadFile(a)
				db, _ := os.ReadFile(b)
				if !bytes.Equal(da, db) {
					t.Error("two writes of the same config differ")
				}
				f, err := gguf.Open(a)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for name, shape := range tc.tensors {
					ti, ok := f.Tensor(name)
					if !ok {
						t.Errorf("no tensor %q", name)
						continue
					}
					if !slices.Equal(ti.Shape, shape) {
						t.Errorf("tensor %q has shape %v, want %v", name, ti.Shape, shape)
					}
					// Biases, norms and rope factors stay float32, as
					// llama.cpp's quantizer leaves them.
					if len(shape) == 1 && ti.Type != tensor.F32 {
						t.Errorf("tensor %q has type %v, want F32", name, ti.Type)
					}
				}
				for key, want := range tc.keys {
					kv, ok := f.Lookup(key)
					if !ok {
						t.Errorf("no key %q", key)
					} else if want != nil && kv.Value != want {
						t.Errorf("key %q = %v (%T), want %v", key, kv.Value, kv.Value, want)
					}
				}
				if typ == "Q4_K_M" {
					// The mix gives the last attention-value tensor more bits; its
					// rule covers the fused qkv.
					name := "blk.1.attn_v.weight"
					if tc.arch == "phi3" {
						name = "blk.1.attn_qkv.weight"
					}
					if ti, _ := f.Tensor(name); ti == nil || ti.Type != tensor.Q6_K {
						t.Errorf("Q4_K_M: %s is not Q6_K", name)
					}
				}

				m, err := model.Load(f, model.Config{})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				cache, _ := m.NewCache(16, true)
				logits := make([]float32, m.Info().VocabSize)
				if err := m.Forward(context.Background(), model.SeqBatch(cache, []int32{1, 300 - 1, 42, 7}, 0, false), logits); err != nil {
					t.Fatal(err)
				}
				for i, v := range logits {
					if v != v || v > 1e6 || v < -1e6 {
						t.Fatalf("logit %d is %v", i, v)
					}
				}
			})
		}
	}
}

// TestQwenPhiConfigErrors checks the architecture-specific settings are
// validated.
func TestQwenPhiConfigErrors(t *testing.T) {
	base := synth.Config{Type: "F32", Dim: 64, Layers: 1, Heads: 4, KVHeads: 2, FFN: 128, Vocab: 300, Ctx: 256}
	for _, tc := range []struct {
		edit func(*synth.Config)
		want string
	}{
		{func(c *synth.Config) { c.Arch, c.HeadDim = "qwen3", 7 }, "head dimension 7 must be a positive even number"},
		{func(c *synth.Config) { c.Arch, c.Ctx = "phi3", 32 }, "phi3 needs ctx of at least 64"},
		{func(c *synth.Config) { c.Arch, c.SlidingWindow = "phi3", -1 }, "sliding window -1 is negative"},
	} {
		c := base
		tc.edit(&c)
		err := synth.Write(filepath.Join(t.TempDir(), "x.gguf"), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", c.Arch, err, tc.want)
		}
	}
}
