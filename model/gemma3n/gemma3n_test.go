package gemma3n_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/gemma3n"
	"github.com/ondo-ai/ondo/model/layers"
	"github.com/ondo-ai/ondo/synth"
)

// write makes a small synthetic Gemma 3n: 25 layers (4, 9, … global),
// layers 20–24 sharing keys and values, per-layer embeddings and AltUp at
// the sizes llama.cpp fixes.
func write(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gemma3n.gguf")
	cfg := synth.Config{Arch: "gemma3n", Dim: 64, Layers: 25, Heads: 2, KVHeads: 1, FFN: 128, Vocab: 300, Ctx: 128, Seed: 5, WeightScale: 0.1}
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string, cfg model.Config) *decoder.Model {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := gemma3n.Load(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRecipe checks the layers the file describes: sparse feed-forward
// blocks on the first ten, the shared layers reading layer 18 (sliding) or
// 19 (global), and a cache of the 20 layers with keys and values.
func TestRecipe(t *testing.T) {
	m := open(t, write(t), model.Config{Threads: 1})
	r := m.Recipe()
	if r.Streams == nil || r.PerLayer == nil || r.PerLayer.Width != 256 {
		t.Fatalf("no AltUp streams or per-layer inputs of 256")
	}
	for i, b := range r.Blocks {
		_, sparse := b.FFN.(*layers.SparseGeGLU)
		if sparse != (i < 10) {
			t.Errorf("layer %d: sparse %v", i, sparse)
		}
		if b.Laurel == nil {
			t.Errorf("layer %d: no LAuReL", i)
		}
		global := i%5 == 4
		if (b.Attn.Window == 0) != global {
			t.Errorf("layer %d: window %d", i, b.Attn.Window)
		}
		want := -1
		switch {
		case i >= 20 && global:
			want = 19
		case i >= 20:
			want = 18
		}
		if b.ShareKV != (want >= 0) || b.ShareKV && b.KVFrom != want {
			t.Errorf("layer %d: shares %v from %d, want %d", i, b.ShareKV, b.KVFrom, want)
		}
	}
	if n := len(m.Info().KVShapes); n != 20 {
		t.Errorf("%d cache layers, want 20", n)
	}
	if r.FinalSoftcap != 30 {
		t.Errorf("final soft cap %v, want 30", r.FinalSoftcap)
	}
}

// TestPasses checks that the streams are per pass and per token: the last
// position's logits are the same whether the prompt goes through in one
// pass, in passes of 4 (the sliding layers then keep rings of 8−1+4
// positions), or token by token.
func TestPasses(t *testing.T) {
	path := write(t)
	toks := make([]int32, 21)
	for i := range toks {
		toks[i] = int32(3 + (i*37)%290)
	}
	run := func(batch int, oneByOne bool) []float32 {
		m := open(t, path, model.Config{Threads: 2, BatchSize: batch})
		c, err := m.NewCache(len(toks), false)
		if err != nil {
			t.Fatal(err)
		}
		logits := make([]float32, m.Info().VocabSize)
		ctx := context.Background()
		if !oneByOne {
			if err := m.Forward(ctx, model.SeqBatch(c, toks, 0, false), logits); err != nil {
				t.Fatal(err)
			}
			return logits
		}
		for i, tok := range toks {
			if err := m.Forward(ctx, model.SeqBatch(c, []int32{tok}, i, false), logits); err != nil {
				t.Fatal(err)
			}
		}
		return logits
	}
	whole := run(0, false)
	for _, tc := range []struct {
		name     string
		batch    int
		oneByOne bool
	}{{"passes of 4", 4, false}, {"token by token", 0, true}} {
		got := run(tc.batch, tc.oneByOne)
		var worst float64
		for i := range whole {
			worst = max(worst, math.Abs(float64(got[i]-whole[i])))
		}
		if worst > 1e-4 {
			t.Errorf("%s: logits differ from one pass by %.3g", tc.name, worst)
		}
	}
}

// TestErrors checks that wrong hyperparameters are refused with the key at
// fault.
func TestErrors(t *testing.T) {
	path := write(t)
	for _, tc := range []struct {
		key  string
		v    any
		want string
	}{
		{"gemma3n.altup.active_idx", uint32(4), "altup.active_idx 4 is not one of 4 streams"},
		{"gemma3n.altup.num_inputs", uint32(1), "altup.num_inputs 1"},
		{"gemma3n.attention.shared_kv_layers", uint32(24), "leaves fewer than two layers"},
		{"gemma3n.activation_sparsity_scale", []float32{1, 2}, "2 values for 25 layers"},
		{"gemma3n.activation_sparsity_scale", make([]float32, 25), ""}, // multiplier 0: sparse at the mean, valid
		{"gemma3n.embedding_length_per_layer_input", uint32(128), "per_layer_token_embd"},
		{"gemma3n.attention.sliding_window", uint32(0), "sliding_window"},
		{"gemma3n.final_logit_softcapping", float32(-1), "final_logit_softcapping -1"},
	} {
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var kvs []gguf.KV
		for _, kv := range f.KV {
			if kv.Key != tc.key {
				kvs = append(kvs, kv)
			}
		}
		kvs = append(kvs, gguf.NewKV(tc.key, tc.v))
		specs := make([]gguf.TensorSpec, len(f.Tensors))
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			specs[i] = gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: f.TensorData(ti)}
		}
		wrong := filepath.Join(t.TempDir(), "wrong.gguf")
		err = gguf.WriteFile(wrong, kvs, specs)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		g, err := gguf.Open(wrong)
		if err != nil {
			t.Fatal(err)
		}
		m, err := gemma3n.Load(g, model.Config{Threads: 1})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.key, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one saying %q", tc.key, err, tc.want)
		}
		if m != nil {
			m.Close()
		}
		g.Close()
	}
}

// TestSynthShape checks that synth refuses the sizes llama.cpp's gemma3n
// graph would read differently from the file.
func TestSynthShape(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		edit func(*synth.Config)
		want string
	}{
		{func(c *synth.Config) { c.PerLayer = 128 }, "256 wide"},
		{func(c *synth.Config) { c.SharedKV = 3 }, "from layer 20 on"},
		{func(c *synth.Config) { c.Layers = 4 }, "at least 5 layers"},
	} {
		cfg := synth.Config{Arch: "gemma3n", Dim: 64, Layers: 22, Heads: 2, FFN: 128, Vocab: 300, Ctx: 64}
		tc.edit(&cfg)
		err := synth.Write(filepath.Join(dir, "m.gguf"), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one saying %q", err, tc.want)
		}
	}
}
