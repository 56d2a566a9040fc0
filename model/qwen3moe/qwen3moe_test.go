package qwen3moe_test

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/synthtest"
	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/internal/tinyref"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/qwen3moe"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tensor"
)

// synthConfig is a small Qwen3-MoE: 8 experts, 2 per token, heads wider
// than the embedding.
func synthConfig() synth.Config {
	return synth.Config{Arch: "qwen3moe", Type: "F32", Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 32,
		FFN: 96, ExpertFFN: 32, Experts: 8, ExpertsUsed: 2, Vocab: 300, Ctx: 64, Seed: 3}
}

// open writes the model of c (rewritten by edit when set) and loads it.
func open(t *testing.T, c synth.Config, edit synthtest.Edit) (model.Model, error) {
	t.Helper()
	return synthtest.Open(t, c, edit)
}

// set returns an edit that sets (or adds) key to v, or deletes it when v
// is nil.
func set(key string, v any) synthtest.Edit { return synthtest.Set(key, v, "") }

// TestBatchMatchesSteps checks that a prompt evaluated in passes of 5
// tokens gives the logits of one token at a time: grouping tokens by expert
// changes nothing.
func TestBatchMatchesSteps(t *testing.T) {
	m, err := open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Arch != "qwen3moe" || info.HeadDim != 32 || info.FeedForwardLength != 32 {
		t.Errorf("info %+v", info)
	}
	toks := []int32{1, 260, 270, 280, 290, 299, 265, 275, 285, 261, 262, 263, 264}
	vocab := info.VocabSize
	c, _ := m.NewCache(0, false)
	batch := make([]float32, len(toks)*vocab)
	if err := m.Forward(context.Background(), model.SeqBatch(c, toks, 0, true), batch); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	one := make([]float32, vocab)
	worst := 0.0
	for i, tok := range toks {
		if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, i, false), one); err != nil {
			t.Fatal(err)
		}
		for j, v := range one {
			worst = max(worst, math.Abs(float64(v-batch[i*vocab+j])))
		}
	}
	if worst > 1e-5 {
		t.Errorf("token by token differs from the batch by %.3g", worst)
	}

	// Embeddings: the last token's normed hidden state, computed in
	// passes; pooling changes the vector.
	e := m.(model.Embedder)
	last, mean := make([]float32, info.EmbeddingLength), make([]float32, info.EmbeddingLength)
	if err := e.Embed(context.Background(), toks, e.Pooling(), last); err != nil {
		t.Fatal(err)
	}
	if err := e.Embed(context.Background(), toks, model.PoolingMean, mean); err != nil {
		t.Fatal(err)
	}
	if e.Pooling() != model.PoolingNone || last[0] == mean[0] {
		t.Errorf("pooling %v; last %v, mean %v", e.Pooling(), last[:2], mean[:2])
	}
	if err := e.Embed(context.Background(), make([]int32, 65), model.PoolingMean, mean); err == nil ||
		err.Error() != "qwen3moe: 65 tokens exceed the context length 64" {
		t.Errorf("long input: error %v", err)
	}
}

// TestReference checks the logits of synthConfig's model, in two batches,
// against the float64 reference: Qwen3's attention (per-head q/k norms
// before NeoX rotation, heads wider than dim/heads) and a router's softmax
// choosing 2 of 8 SwiGLU experts, their weights renormalised to sum 1. The
// reference without the renormalisation must differ.
func TestReference(t *testing.T) {
	c := synthConfig()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, c); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := tinygguf.New()
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Type != tensor.F32 {
			t.Fatalf("tensor %s has type %v, want F32", ti.Name, ti.Type)
		}
		b, v := f.TensorData(ti), make([]float32, ti.Elements())
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
		w.AddTensor(ti.Name, v, ti.Shape...)
	}
	spec := tinyref.Spec{Dim: c.Dim, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Layers: c.Layers, Eps: 1e-6,
		Rope: tinyref.Rope{Base: 10000, NeoX: true}, ExpertsUsed: c.ExpertsUsed, NormExperts: true}
	toks := []int32{1, 260, 270, 280, 290, 299, 265, 275, 285, 261, 262}
	want := tinyref.Forward(w, spec, toks)

	m, err := model.Load(f, model.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vocab := m.Info().VocabSize
	cache, _ := m.NewCache(0, false)
	got := make([]float32, len(toks)*vocab)
	if err := m.Forward(context.Background(), model.SeqBatch(cache, toks[:4], 0, true), got); err != nil {
		t.Fatal(err)
	}
	if err := m.Forward(context.Background(), model.SeqBatch(cache, toks[4:], 4, true), got[4*vocab:]); err != nil {
		t.Fatal(err)
	}
	worst := tinyref.MaxDiff(got, want)
	t.Logf("max |logit diff| vs float64 reference: %.3g", worst)
	if worst > 1e-4 {
		t.Errorf("max logit diff %.3g > 1e-4", worst)
	}
	spec.NormExperts = false
	if d := tinyref.MaxDiff(got, tinyref.Forward(w, spec, toks)); d < 1e-3 {
		t.Errorf("the reference without renormalised experts differs by only %.3g", d)
	}
}

// TestLoadErrors checks that broken Qwen3-MoE files get errors naming the
// key or tensor at fault.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*synth.Config)
		edit synthtest.Edit
		want string
	}{
		{"missing expert_count", nil, set("qwen3moe.expert_count", nil), `qwen3moe: metadata key "qwen3moe.expert_count": missing`},
		{"missing expert_used_count", nil, set("qwen3moe.expert_used_count", nil), `qwen3moe: metadata key "qwen3moe.expert_used_count": missing`},
		{"expert_used_count too big", nil, set("qwen3moe.expert_used_count", uint32(9)), `qwen3moe: expert_used_count 9 is not between 1 and expert_count 8`},
		{"expert_count wrong type", nil, set("qwen3moe.expert_count", "eight"), `qwen3moe: metadata key "qwen3moe.expert_count" has type string, want an integer`},
		{"expert_count vs router", nil, set("qwen3moe.expert_count", uint32(16)), `qwen3moe: tensor "blk.0.ffn_gate_inp.weight" has shape [64 8], want [64 16]`},
		{"expert ffn", nil, set("qwen3moe.expert_feed_forward_length", uint32(48)), `qwen3moe: tensor "blk.0.ffn_gate_exps.weight" has shape [64 32 8], want [64 48 8]`},
		// Without expert_feed_forward_length llama.cpp takes
		// feed_forward_length / expert_used_count: 96/2 = 48 ≠ 32.
		{"expert ffn from ffn", nil, set("qwen3moe.expert_feed_forward_length", nil), `qwen3moe: tensor "blk.0.ffn_gate_exps.weight" has shape [64 32 8], want [64 48 8]`},
		{"key length", nil, set("qwen3moe.attention.key_length", uint32(16)), `qwen3moe: attention.value_length 32 differs from attention.key_length 16`},
		{"pooling", nil, set("qwen3moe.pooling_type", int32(-1)), `qwen3moe: metadata key "qwen3moe.pooling_type": unknown pooling type -1`},
		{"rope scaling", nil, set("qwen3moe.rope.freq_base", float32(-1)), `qwen3moe: rope.freq_base -1 is not a positive number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := synthConfig()
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			_, err := open(t, c, tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// Feed-forward length divided by the experts used, as llama.cpp does.
	c := synthConfig()
	c.FFN = 64
	if _, err := open(t, c, set("qwen3moe.expert_feed_forward_length", nil)); err != nil {
		t.Errorf("expert size from feed_forward_length/expert_used_count: %v", err)
	}
}
