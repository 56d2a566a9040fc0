package gptoss

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// synthConfig is the cross-check's gpt-oss shape (internal/crosscheck):
// the tiny preset with 8 experts, 2 per token, window 8.
func synthConfig() synth.Config {
	c, _ := synth.Preset("tiny")
	c.Arch, c.Experts, c.ExpertsUsed, c.SlidingWindow = "gpt-oss", 8, 2, 8
	c.Seed, c.WeightScale, c.AttnScale = 7, 0.15, 5
	return c
}

// open writes c, rewrites its metadata with edit when set, and loads it.
func open(t *testing.T, c synth.Config, edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)) (model.Model, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := synth.Write(path, c); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		kvs, specs := edit(f)
		f.Close()
		path = filepath.Join(dir, "edited.gguf")
		if err := gguf.WriteFile(path, kvs, specs); err != nil {
			t.Fatal(err)
		}
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := model.Load(f, model.Config{Threads: 2, BatchSize: 5})
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// edit returns a rewrite of the file with metadata key set to v (removed
// when v is nil) and the tensors named drop left out.
func edit(key string, v any, drop string) func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
	return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		var kvs []gguf.KV
		for _, kv := range f.KV {
			if kv.Key == key {
				if v == nil {
					continue
				}
				kv = gguf.NewKV(key, v)
			}
			kvs = append(kvs, kv)
		}
		var specs []gguf.TensorSpec
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			if ti.Name == drop {
				continue
			}
			specs = append(specs, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: append([]byte(nil), f.TensorData(ti)...)})
		}
		return kvs, specs
	}
}

// logits evaluates toks and returns the last position's logits.
func logits(t *testing.T, m model.Model, toks []int32) []float32 {
	t.Helper()
	c, err := m.NewCache(0, false)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, m.Info().VocabSize)
	if err := m.Forward(context.Background(), model.SeqBatch(c, toks, 0, false), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClampReached shows that the cross-check's shape drives the experts
// into the clamp: the same model without it gives other logits, so the
// cross-check's agreement with llama.cpp covers the clamp too.
func TestClampReached(t *testing.T) {
	toks := []int32{1, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312}
	m, err := open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Arch != "gpt-oss" || info.HeadDim != 64 || info.Heads != 4 {
		t.Errorf("info %+v", info)
	}
	clamped := logits(t, m, toks)
	defer func(l float32) { swigluLimit = l }(swigluLimit)
	swigluLimit = float32(math.Inf(1))
	m2, err := open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	free := logits(t, m2, toks)
	worst := 0.0
	for i := range free {
		worst = max(worst, math.Abs(float64(free[i]-clamped[i])))
	}
	if worst < 1e-2 {
		t.Errorf("without the clamp the logits move by at most %.3g: the clamp is not reached", worst)
	}
}

// TestLoadErrors checks that a file missing a part of gpt-oss is refused
// with an error naming it.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
		want string
	}{
		{"no sinks", edit("", nil, "blk.1.attn_sinks.weight"), `gpt-oss: missing tensor "blk.1.attn_sinks.weight"`},
		{"no router bias", edit("", nil, "blk.0.ffn_gate_inp.bias"), `gpt-oss: missing tensor "blk.0.ffn_gate_inp.bias"`},
		{"no expert down bias", edit("", nil, "blk.0.ffn_down_exps.bias"), `gpt-oss: missing tensor "blk.0.ffn_down_exps.bias"`},
		{"no window", edit("gpt-oss.attention.sliding_window", nil, ""), `gpt-oss: metadata key "gpt-oss.attention.sliding_window": missing`},
		{"no experts", edit("gpt-oss.expert_count", nil, ""), `gpt-oss: metadata key "gpt-oss.expert_count": missing`},
		{"bad swa base", edit("gpt-oss.rope.freq_base_swa", float32(-1), ""), "gpt-oss: rope.freq_base_swa -1 is not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.edit
			if tc.name == "bad swa base" { // a key the synthetic file lacks: add it
				e = func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
					kvs, specs := edit("", nil, "")(f)
					return append(kvs, gguf.NewKV("gpt-oss.rope.freq_base_swa", float32(-1))), specs
				}
			}
			_, err := open(t, synthConfig(), e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
