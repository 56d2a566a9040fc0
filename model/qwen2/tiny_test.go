package qwen2_test

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
	_ "github.com/ondo-ai/ondo/model/qwen2"
)

// tiny is a small random Qwen2 model built in the test: metadata and float32
// weights; spec gives package tinyref's float64 forward pass, which the
// engine is checked against, what it needs to know beyond the weights.
type tiny struct {
	*tinygguf.Model

	dim, heads, kvHeads, hd, ffn, layers, vocab int
}

func newTiny(seed uint64, heads, kvHeads int) *tiny {
	t := &tiny{Model: tinygguf.New()}
	t.dim, t.heads, t.kvHeads, t.ffn, t.layers, t.vocab = 16, heads, kvHeads, 24, 2, 40
	t.hd = t.dim / heads
	t.Set("general.architecture", "qwen2")
	t.Set("qwen2.context_length", uint32(64))
	t.Set("qwen2.embedding_length", uint32(t.dim))
	t.Set("qwen2.feed_forward_length", uint32(t.ffn))
	t.Set("qwen2.block_count", uint32(t.layers))
	t.Set("qwen2.attention.head_count", uint32(heads))
	t.Set("qwen2.attention.head_count_kv", uint32(kvHeads))
	t.Set("qwen2.rope.freq_base", float32(10000))
	t.Set("qwen2.attention.layer_norm_rms_epsilon", float32(1e-6))
	r := rand.New(rand.NewPCG(seed, 2))
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
	d, kv := int64(t.dim), int64(kvHeads*t.hd)
	add("token_embd.weight", 1, d, int64(t.vocab))
	norm("output_norm.weight", t.dim)
	add("output.weight", 0.3, d, int64(t.vocab))
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		norm(p+"attn_norm.weight", t.dim)
		add(p+"attn_q.weight", 0.3, d, d)
		add(p+"attn_q.bias", 0.5, d)
		add(p+"attn_k.weight", 0.3, d, kv)
		add(p+"attn_k.bias", 0.5, kv)
		add(p+"attn_v.weight", 0.3, d, kv)
		add(p+"attn_v.bias", 0.5, kv)
		add(p+"attn_output.weight", 0.3, d, d)
		norm(p+"ffn_norm.weight", t.dim)
		add(p+"ffn_gate.weight", 0.3, d, int64(t.ffn))
		add(p+"ffn_up.weight", 0.3, d, int64(t.ffn))
		add(p+"ffn_down.weight", 0.3, int64(t.ffn), d)
	}
	return t
}

// fuseQKV replaces the q, k and v projections of every layer by one
// attn_qkv tensor (and bias) with their rows stacked.
func (t *tiny) fuseQKV() {
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		for _, suffix := range []string{".weight", ".bias"} {
			var fused []float32
			for _, n := range []string{"attn_q", "attn_k", "attn_v"} {
				fused = append(fused, t.Weights[p+n+suffix]...)
				t.DelTensor(p + n + suffix)
			}
			if suffix == ".weight" {
				t.AddTensor(p+"attn_qkv"+suffix, fused, int64(t.dim), int64(len(fused)/t.dim))
			} else {
				t.AddTensor(p+"attn_qkv"+suffix, fused, int64(len(fused)))
			}
		}
	}
}

func (t *tiny) open(tb testing.TB) (model.Model, error) {
	tb.Helper()
	f, err := gguf.Open(t.Write(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return model.Load(f, model.Config{Threads: 2})
}

// spec describes t to the float64 reference: Qwen2's RMS norms, biased
// q/k/v projections (the bias tensors are in the file) and SwiGLU, and
// NeoX rotation with base 10000.
func (t *tiny) spec() tinyref.Spec {
	return tinyref.Spec{Dim: t.dim, Heads: t.heads, KVHeads: t.kvHeads, Layers: t.layers, Eps: 1e-6,
		Rope: tinyref.Rope{Base: 10000, NeoX: true}}
}

// TestTinyReference checks the forward pass against the float64 reference
// on small random models: grouped, full and multi-query attention, biased
// q/k/v projections (separate or fused into attn_qkv), NeoX rotation with
// Qwen's base and YaRN scaling, and tied or separate classifiers.
func TestTinyReference(t *testing.T) {
	cases := []struct {
		name    string
		heads   int
		kvHeads int
		edit    func(*tiny, *tinyref.Spec)
		fuse    bool // fuse q/k/v after computing the reference
	}{
		{"gqa", 4, 2, nil, false},
		{"mha", 2, 2, nil, false},
		{"mqa", 4, 1, nil, false},
		{"tied output", 4, 2, func(t *tiny, _ *tinyref.Spec) { t.DelTensor("output.weight") }, false},
		{"tied output with bias", 4, 2, func(t *tiny, _ *tinyref.Spec) {
			t.DelTensor("output.weight")
			b := make([]float32, t.vocab)
			for i := range b {
				b[i] = float32(i%7) * 0.2
			}
			t.AddTensor("output.bias", b, int64(t.vocab))
		}, false},
		{"freq base 1e6", 4, 2, func(t *tiny, s *tinyref.Spec) {
			t.Set("qwen2.rope.freq_base", float32(1e6))
			s.Rope.Base = 1e6
		}, false},
		{"yarn scaling", 2, 1, func(t *tiny, s *tinyref.Spec) {
			t.Set("qwen2.rope.freq_base", float32(100))
			t.Set("qwen2.rope.scaling.type", "yarn")
			t.Set("qwen2.rope.scaling.factor", float32(4))
			t.Set("qwen2.rope.scaling.original_context_length", uint32(16))
			s.Rope.Base, s.Rope.Scale, s.Rope.YaRN, s.Rope.OrigCtx = 100, 4, true, 16
		}, false},
		{"fused qkv", 4, 2, nil, true},
	}
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(42, tc.heads, tc.kvHeads)
			spec := tm.spec()
			if tc.edit != nil {
				tc.edit(tm, &spec)
			}
			want := tinyref.Forward(tm.Model, spec, tokens)
			if tc.fuse {
				tm.fuseQKV()
			}
			m, err := tm.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
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
			t.Logf("max |logit diff| vs float64 reference: %.3g", worst)
			if worst > 1e-4 {
				t.Errorf("max logit diff %.3g > 1e-4", worst)
			}
		})
	}
}

// TestLoadErrors checks that broken files get errors naming the key or
// tensor at fault.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*tiny)
		want string
	}{
		{"missing key", func(t *tiny) { t.Del("qwen2.embedding_length") }, `qwen2: metadata key "qwen2.embedding_length": missing`},
		{"missing eps", func(t *tiny) { t.Del("qwen2.attention.layer_norm_rms_epsilon") }, `"qwen2.attention.layer_norm_rms_epsilon": missing`},
		{"wrong key type", func(t *tiny) { t.Set("qwen2.block_count", "two") }, `qwen2: metadata key "qwen2.block_count" has type string, want an integer`},
		{"freq base type", func(t *tiny) { t.Set("qwen2.rope.freq_base", "1e6") }, `qwen2: metadata key "qwen2.rope.freq_base" has type string`},
		{"freq base zero", func(t *tiny) { t.Set("qwen2.rope.freq_base", float32(0)) }, `qwen2: rope.freq_base 0 is not a positive number`},
		{"rope scaling type", func(t *tiny) { t.Set("qwen2.rope.scaling.type", "dynamic") }, `qwen2: rope.scaling.type "dynamic" is not supported`},
		{"rope scaling factor", func(t *tiny) { t.Set("qwen2.rope.scaling.factor", float32(-2)) }, `qwen2: rope.scaling.factor -2 is not a non-negative number`},
		{"rope orig ctx type", func(t *tiny) { t.Set("qwen2.rope.scaling.original_context_length", "long") },
			`qwen2: metadata key "qwen2.rope.scaling.original_context_length" has type string`},
		{"heads do not divide", func(t *tiny) { t.Set("qwen2.attention.head_count", uint32(7)) },
			`qwen2: attention.head_count_kv 2 does not divide attention.head_count 7`},
		{"head_count vs embedding", func(t *tiny) {
			t.Set("qwen2.attention.head_count", uint32(7))
			t.Set("qwen2.attention.head_count_kv", uint32(7))
		}, `qwen2: attention.head_count 7 does not divide embedding_length 16`},
		{"key length", func(t *tiny) { t.Set("qwen2.attention.key_length", uint32(8)) },
			`qwen2: tensor "blk.0.attn_q.weight" has shape [16 16], want [16 32]`},
		{"rope dims", func(t *tiny) { t.Set("qwen2.rope.dimension_count", uint32(6)) },
			`qwen2: rope.dimension_count 6 is not an even number up to the head dimension 4`},
		{"moe", func(t *tiny) { t.Set("qwen2.expert_count", uint32(8)) }, `qwen2: mixture-of-experts models (expert_count 8) are not supported`},
		{"vocab size", func(t *tiny) { t.Set("qwen2.vocab_size", uint32(41)) }, `qwen2: vocab_size 41 differs from token_embd's 40 rows`},
		{"missing tensor", func(t *tiny) { t.DelTensor("blk.1.attn_q.weight") }, `qwen2: missing tensor "blk.1.attn_q.weight"`},
		{"wrong shape", func(t *tiny) {
			t.AddTensor("blk.0.attn_k.weight", make([]float32, 16*16), 16, 16)
		}, `qwen2: tensor "blk.0.attn_k.weight" has shape [16 16], want [16 8]`},
		{"wrong bias shape", func(t *tiny) {
			t.AddTensor("blk.1.attn_v.bias", make([]float32, 16), 16)
		}, `qwen2: tensor "blk.1.attn_v.bias" has shape [16], want [8]`},
		{"wrong fused shape", func(t *tiny) {
			t.fuseQKV()
			t.AddTensor("blk.0.attn_qkv.weight", make([]float32, 16*24), 16, 24)
		}, `qwen2: tensor "blk.0.attn_qkv.weight" has shape [16 24], want [16 32]`},
		{"huge block_count", func(t *tiny) { t.Set("qwen2.block_count", uint32(1<<30)) }, `qwen2: block_count 1073741824 is more than the file's`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(1, 4, 2)
			tc.edit(tm)
			m, err := tm.open(t)
			if err == nil {
				m.Close()
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestBatchAgreement checks that a prompt evaluated as one batch, token by
// token, and in passes of a small Config.BatchSize gives the same logits,
// over float32 and fp16 caches.
func TestBatchAgreement(t *testing.T) {
	tm := newTiny(3, 4, 2)
	f, err := gguf.Open(tm.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	for _, f16 := range []bool{false, true} {
		var rows [2][]float32
		for i, bs := range []int{0, 3} {
			m, err := model.Load(f, model.Config{BatchSize: bs})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := m.NewCache(16, f16)
			rows[i] = make([]float32, len(tokens)*m.Info().VocabSize)
			if err := m.Forward(context.Background(), model.SeqBatch(c, tokens, 0, true), rows[i]); err != nil {
				t.Fatal(err)
			}
			// Token by token must agree with the batch too.
			c.Reset()
			vocab := m.Info().VocabSize
			one := make([]float32, vocab)
			for p, tok := range tokens {
				if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, p, false), one); err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(one, rows[i][p*vocab:(p+1)*vocab]); d > 1e-5 {
					t.Errorf("f16=%v batch %d: position %d differs token by token by %.3g", f16, bs, p, d)
				}
			}
			m.Close()
		}
		if d := maxAbsDiff(rows[0], rows[1]); d != 0 {
			t.Errorf("f16=%v: batch size 3 differs from one pass by %.3g", f16, d)
		}
	}
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}
