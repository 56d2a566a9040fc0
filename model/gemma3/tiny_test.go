package gemma3_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/internal/tinyref"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/gemma3"
)

// tiny is a small random Gemma 3 model built in the test: metadata and float32
// weights; spec gives package tinyref's float64 forward pass, which the
// engine is checked against, what it needs to know beyond the weights.
type tiny struct {
	*tinygguf.Model

	dim, heads, kvHeads, hd, ffn, layers, vocab int
}

// newTiny returns a model of 7 layers (0–4 and 6 sliding, 5 global in the
// default pattern) with heads query and kvHeads key/value heads of 8
// dimensions over an embedding of 16.
func newTiny(seed uint64, heads, kvHeads int) *tiny { return newTinyShape(seed, heads, kvHeads, 8, 7) }

func newTinyShape(seed uint64, heads, kvHeads, hd, layers int) *tiny {
	t := &tiny{Model: tinygguf.New()}
	t.dim, t.heads, t.kvHeads, t.hd, t.ffn, t.layers, t.vocab = 16, heads, kvHeads, hd, 24, layers, 40
	t.Set("general.architecture", "gemma3")
	t.Set("gemma3.context_length", uint32(64))
	t.Set("gemma3.embedding_length", uint32(t.dim))
	t.Set("gemma3.feed_forward_length", uint32(t.ffn))
	t.Set("gemma3.block_count", uint32(t.layers))
	t.Set("gemma3.attention.head_count", uint32(heads))
	t.Set("gemma3.attention.head_count_kv", uint32(kvHeads))
	t.Set("gemma3.attention.key_length", uint32(t.hd))
	t.Set("gemma3.attention.value_length", uint32(t.hd))
	t.Set("gemma3.attention.layer_norm_rms_epsilon", float32(1e-6))
	t.Set("gemma3.attention.sliding_window", uint32(3))
	t.Set("gemma3.rope.freq_base", float32(1e6))
	t.Set("gemma3.rope.freq_base_swa", float32(10000))
	t.Set("gemma3.rope.scaling.type", "linear")
	t.Set("gemma3.rope.scaling.factor", float32(8))
	r := rand.New(rand.NewPCG(seed, 1))
	add := func(name string, scale float64, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * scale)
		}
		t.AddTensor(name, w, shape...)
	}
	norm := func(name string, n int) {
		add(name, 0.1, int64(n))
		for i := range t.Weights[name] {
			t.Weights[name][i] += 1
		}
	}
	d, q, kv := int64(t.dim), int64(heads*t.hd), int64(kvHeads*t.hd)
	add("token_embd.weight", 0.3, d, int64(t.vocab))
	norm("output_norm.weight", t.dim)
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		norm(p+"attn_norm.weight", t.dim)
		add(p+"attn_q.weight", 0.5, d, q)
		add(p+"attn_k.weight", 0.5, d, kv)
		add(p+"attn_v.weight", 0.3, d, kv)
		add(p+"attn_output.weight", 0.3, q, d)
		add(p+"attn_q_norm.weight", 0.5, int64(t.hd))
		add(p+"attn_k_norm.weight", 0.5, int64(t.hd))
		for _, n := range []string{"attn_q_norm.weight", "attn_k_norm.weight"} {
			for i := range t.Weights[p+n] {
				t.Weights[p+n][i] += 1.5
			}
		}
		norm(p+"post_attention_norm.weight", t.dim)
		norm(p+"ffn_norm.weight", t.dim)
		add(p+"ffn_gate.weight", 0.8, d, int64(t.ffn))
		add(p+"ffn_up.weight", 0.3, d, int64(t.ffn))
		add(p+"ffn_down.weight", 0.3, int64(t.ffn), d)
		norm(p+"post_ffw_norm.weight", t.dim)
	}
	return t
}

func (t *tiny) open(tb testing.TB, cfg model.Config) (model.Model, error) {
	tb.Helper()
	f, err := gguf.Open(t.Write(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return model.Load(f, cfg)
}

// ref describes the tiny model's attention and rotation in the terms of
// the Gemma 3 report's definitions; spec gives them to the float64 reference.
type ref struct {
	sliding     []bool  // per layer
	window      int     // a sliding layer's token at p sees (p−window, p]
	finalCap    float64 // 0: none
	base, local float64 // RoPE bases of the global and sliding layers
	scale       float64 // linear RoPE factor of the global layers, 0 = none
	queryScalar float64 // query_pre_attn_scalar
}

// spec describes t with r to the float64 reference: Gemma 2's layout
// (see package gemma2's test) with per-head q/k norms, no attention cap,
// and r's window, final cap, query scale and rotation: the global layers'
// base and linear scaling, the sliding layers' base unscaled.
func (t *tiny) spec(r ref) tinyref.Spec {
	global := tinyref.Rope{Base: r.base, NeoX: true, Scale: r.scale}
	local := tinyref.Rope{Base: r.local, NeoX: true}
	return tinyref.Spec{Dim: t.dim, Heads: t.heads, KVHeads: t.kvHeads, HeadDim: t.hd, Layers: t.layers, Eps: 1e-6,
		Ropes: tinyref.Pattern(r.sliding, global, local), Window: tinyref.Pattern(r.sliding, 0, r.window),
		Scale: 1 / math.Sqrt(r.queryScalar), FinalCap: r.finalCap,
		FFN: tinyref.GeGLU, GELUFP16: true, EmbedScale: math.Sqrt(float64(t.dim))}
}

// defaultRef is the reference of newTiny's model: window 3 on every layer
// but 5 (the default period 6), no caps, sliding layers rotating with base
// 10000, the global one with base 1e6 and linear scaling by 8, queries
// scaled by the head dimension.
func (t *tiny) defaultRef() ref {
	return ref{sliding: []bool{true, true, true, true, true, false, true}, window: 3,
		base: 1e6, local: 10000, scale: 8, queryScalar: float64(t.hd)}
}

// tinyTol bounds the logit differences from the float64 reference. The
// engine is float32 and so agrees to about 1e-5, except where ggml's GELU
// lookup meets a gate value the reference computes slightly differently on
// the other side of an fp16 rounding boundary: that moves one GELU output
// by 2⁻¹¹ of itself, and a few such flips move logits by up to about 4e-4.
// Mistakes in the features tested move them by 1e-2 to several units; the
// GELU itself is checked exactly in package layers.
const tinyTol = 1e-3

// TestTinyReference checks the forward pass against the float64 reference
// on small random models covering Gemma 2's features: √dim embeddings, post
// norms, GeGLU with ggml's GELU, attention and final soft-capping, sliding
// windows in the layer pattern, and RoPE bases and scaling.
func TestTinyReference(t *testing.T) {
	cases := []struct {
		name    string
		heads   int
		kvHeads int
		edit    func(*tiny, *ref)
	}{
		{"gqa", 4, 2, nil},
		{"mha", 2, 2, nil},
		{"mqa", 4, 1, nil},
		{"window 1", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.attention.sliding_window", uint32(1))
			r.window = 1
		}},
		{"no sliding window", 4, 2, func(t *tiny, r *ref) {
			t.Del("gemma3.attention.sliding_window")
			r.sliding = make([]bool, 7)
		}},
		{"sliding window 0", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.attention.sliding_window", uint32(0))
			r.sliding = make([]bool, 7)
		}},
		{"pattern 2", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.attention.sliding_window_pattern", uint32(2))
			r.sliding = []bool{true, false, true, false, true, false, true}
		}},
		{"pattern array", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.attention.sliding_window_pattern", []bool{false, true, true, false, false, true, true})
			r.sliding = []bool{false, true, true, false, false, true, true}
		}},
		{"final cap", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.final_logit_softcapping", float32(3))
			r.finalCap = 3
		}},
		{"attention cap ignored", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.attn_logit_softcapping", float32(1))
		}},
		{"default local base", 4, 2, func(t *tiny, r *ref) {
			t.Del("gemma3.rope.freq_base_swa")
		}},
		{"local base 100", 4, 2, func(t *tiny, r *ref) {
			t.Set("gemma3.rope.freq_base_swa", float32(100))
			r.local = 100
		}},
		{"no scaling", 4, 2, func(t *tiny, r *ref) {
			t.Del("gemma3.rope.scaling.type")
			t.Del("gemma3.rope.scaling.factor")
			r.scale = 0
		}},
		{"untied output", 4, 2, func(t *tiny, r *ref) {
			w := make([]float32, 16*40)
			for i := range w {
				w[i] = float32(i%7-3) * 0.05
			}
			t.AddTensor("output.weight", w, 16, 40)
		}},
		{"head dim by default dim/heads", 4, 2, func(t *tiny, r *ref) {
			*t = *newTinyShape(42, 4, 2, 4, 7)
			t.Del("gemma3.attention.key_length")
			t.Del("gemma3.attention.value_length")
			r.queryScalar = 4
		}},
	}
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17, 5, 5, 9}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(42, tc.heads, tc.kvHeads)
			r := tm.defaultRef()
			if tc.edit != nil {
				tc.edit(tm, &r)
			}
			want := tinyref.Forward(tm.Model, tm.spec(r), tokens)
			// The default batch, and passes of 2 tokens whose sliding
			// layers keep window−1+2 positions in a ring.
			for _, bs := range []int{0, 2} {
				m, err := tm.open(t, model.Config{BatchSize: bs})
				if err != nil {
					t.Fatal(err)
				}
				vocab := m.Info().VocabSize
				c, err := m.NewCache(0, false)
				if err != nil {
					t.Fatal(err)
				}
				// Two batches, the second continuing the first.
				got := make([]float32, len(tokens)*vocab)
				if err := m.Forward(context.Background(), model.SeqBatch(c, tokens[:5], 0, true), got); err != nil {
					t.Fatal(err)
				}
				if err := m.Forward(context.Background(), model.SeqBatch(c, tokens[5:], 5, true), got[5*vocab:]); err != nil {
					t.Fatal(err)
				}
				worst := tinyref.MaxDiff(got, want)
				t.Logf("batch size %d, cache %d bytes: max |logit diff| vs float64 reference: %.3g", bs, c.Bytes(), worst)
				if worst > tinyTol {
					t.Errorf("batch size %d: max logit diff %.3g > %.0e", bs, worst, tinyTol)
				}
				m.Close()
			}
		})
	}
}

// TestHyper checks the hyperparameters llama.cpp derives rather than reads.
func TestHyper(t *testing.T) {
	tm := newTiny(1, 4, 2)
	f, err := gguf.Open(tm.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := gemma3.Load(f, model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hp := m.Hyper()
	if hp.QueryScale != 1/float32(math.Sqrt(8)) {
		t.Errorf("query scale %v, want 1/√8", hp.QueryScale)
	}
	if !hp.Rope.NeoX || hp.Rope.Dims != 8 || hp.Rope.Base != 1e6 || hp.Rope.FreqScale != 0.125 {
		t.Errorf("global rope %+v", hp.Rope)
	}
	if !hp.RopeLocal.NeoX || hp.RopeLocal.Base != 10000 || hp.RopeLocal.FreqScale != 1 {
		t.Errorf("local rope %+v", hp.RopeLocal)
	}
	if fmt.Sprint(hp.Sliding) != "[true true true true true false true]" || hp.Window != 3 || hp.FinalSoftcap != 0 {
		t.Errorf("sliding %v, window %d, final cap %v", hp.Sliding, hp.Window, hp.FinalSoftcap)
	}
	if !strings.Contains(m.Info().Arch, "gemma3") {
		t.Errorf("info %+v", m.Info())
	}
}

// TestQueryScale27B checks llama.cpp's rule for the query scale: the head
// dimension, except for the 62-layer (27B) shape, which uses
// embedding_length/head_count (16/4 here, not the head dimension 8).
func TestQueryScale27B(t *testing.T) {
	f, err := gguf.Open(newTinyShape(1, 4, 2, 8, 62).Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := gemma3.Load(f, model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Hyper().QueryScale; got != 0.5 {
		t.Errorf("query scale %v, want 1/√4", got)
	}
}
