package phi3_test

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
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/phi3"
)

// tiny is a small random Phi-3 model built in the test: metadata, float32
// weights in Phi-3's fused layout (attn_qkv, gate-and-up ffn_up) with
// LongRoPE factors; spec gives package tinyref's float64 forward pass,
// which the engine is checked against, what it needs to know beyond the
// weights.
type tiny struct {
	*tinygguf.Model

	dim, heads, kvHeads, hd, ffn, layers, vocab int
	ropeDims                                    int
}

// Context and pre-training context of the tiny models: a cache of more
// than tinyOrig positions rotates with the long factors.
const (
	tinyCtx  = 64
	tinyOrig = 16
)

func newTiny(seed uint64, heads, kvHeads int) *tiny {
	t := &tiny{Model: tinygguf.New()}
	t.dim, t.heads, t.kvHeads, t.ffn, t.layers, t.vocab = 16, heads, kvHeads, 24, 2, 40
	t.hd = t.dim / heads
	t.ropeDims = t.hd
	t.Set("general.architecture", "phi3")
	t.Set("phi3.context_length", uint32(tinyCtx))
	t.Set("phi3.rope.scaling.original_context_length", uint32(tinyOrig))
	t.Set("phi3.embedding_length", uint32(t.dim))
	t.Set("phi3.feed_forward_length", uint32(t.ffn))
	t.Set("phi3.block_count", uint32(t.layers))
	t.Set("phi3.attention.head_count", uint32(heads))
	t.Set("phi3.attention.head_count_kv", uint32(kvHeads))
	t.Set("phi3.attention.layer_norm_rms_epsilon", float32(1e-5))
	t.Set("phi3.rope.dimension_count", uint32(t.ropeDims))
	t.Set("phi3.rope.freq_base", float32(10000))
	t.Set("phi3.attention.sliding_window", uint32(0))
	t.Set("phi3.rope.scaling.attn_factor", float32(1.25))
	r := rand.New(rand.NewPCG(seed, 3))
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
	t.setFactors()
	add("token_embd.weight", 1, d, int64(t.vocab))
	norm("output_norm.weight", t.dim)
	add("output.weight", 0.3, d, int64(t.vocab))
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		norm(p+"attn_norm.weight", t.dim)
		add(p+"attn_qkv.weight", 0.3, d, d+2*kv)
		add(p+"attn_output.weight", 0.3, d, d)
		norm(p+"ffn_norm.weight", t.dim)
		add(p+"ffn_up.weight", 0.3, d, 2*int64(t.ffn))
		add(p+"ffn_down.weight", 0.3, int64(t.ffn), d)
	}
	return t
}

// setFactors writes LongRoPE factors for t.ropeDims: long ones growing
// from 1 to about 10 (as Phi-3's grow from 1 to about 60), short ones near 1.
func (t *tiny) setFactors() {
	n := t.ropeDims / 2
	long, short := make([]float32, n), make([]float32, n)
	for i := range long {
		long[i] = 1 + 9*float32(i*i)/float32(n*n)
		short[i] = 1 + 0.1*float32(i)/float32(n)
	}
	t.AddTensor("rope_factors_long.weight", long, int64(n))
	t.AddTensor("rope_factors_short.weight", short, int64(n))
}

// unfuseQKV replaces every attn_qkv by separate attn_q, attn_k and attn_v,
// the other form llama.cpp loads.
func (t *tiny) unfuseQKV() {
	d, kv := t.dim, t.kvHeads*t.hd
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		w := t.Weights[p+"attn_qkv.weight"]
		t.DelTensor(p + "attn_qkv.weight")
		t.AddTensor(p+"attn_q.weight", w[:d*d], int64(d), int64(d))
		t.AddTensor(p+"attn_k.weight", w[d*d:d*(d+kv)], int64(d), int64(kv))
		t.AddTensor(p+"attn_v.weight", w[d*(d+kv):], int64(d), int64(kv))
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

// spec describes t to the float64 reference: Phi-3's RMS norms, q/k/v
// fused in attn_qkv and gate/up in ffn_up (the reference splits the rows
// from the tensors' shapes), SwiGLU, and NeoX rotation of the first
// t.ropeDims elements of each head with base 10000 and cos and sin scaled
// by the attention factor 1.25; the tests add the LongRoPE factors.
func (t *tiny) spec() tinyref.Spec {
	return tinyref.Spec{Dim: t.dim, Heads: t.heads, KVHeads: t.kvHeads, Layers: t.layers, Eps: 1e-5,
		Rope: tinyref.Rope{Base: 10000, NeoX: true, Dims: t.ropeDims, AttnFactor: 1.25}}
}

// TestTinyReference checks the forward pass against the float64 reference
// on small random models: fused attn_qkv (or separate projections) and
// fused gate/up, grouped and full attention, LongRoPE with the long
// factors for a cache beyond the pre-training context and the short ones
// within it, the attention factor, partial rotation (Phi-4-mini), tied
// output, and a sliding window in the metadata that, as in llama.cpp,
// changes nothing.
func TestTinyReference(t *testing.T) {
	long := func(t *tiny) []float32 { return t.Weights["rope_factors_long.weight"] }
	short := func(t *tiny) []float32 { return t.Weights["rope_factors_short.weight"] }
	cases := []struct {
		name      string
		heads     int
		kvHeads   int
		cacheSize int // 0: the trained context
		edit      func(*tiny, *tinyref.Spec)
		unfuse    bool // split attn_qkv after computing the reference
	}{
		{"gqa long factors", 2, 1, 0, func(t *tiny, s *tinyref.Spec) { s.Rope.Factors = long(t) }, false},
		{"mha long factors", 2, 2, 0, func(t *tiny, s *tinyref.Spec) { s.Rope.Factors = long(t) }, false},
		{"cache of 17: long factors", 4, 2, tinyOrig + 1, func(t *tiny, s *tinyref.Spec) { s.Rope.Factors = long(t) }, false},
		{"cache of 16: short factors", 4, 2, tinyOrig, func(t *tiny, s *tinyref.Spec) { s.Rope.Factors = short(t) }, false},
		{"no factors", 2, 1, 0, func(t *tiny, s *tinyref.Spec) {
			t.DelTensor("rope_factors_long.weight")
			t.DelTensor("rope_factors_short.weight")
			t.Del("phi3.rope.scaling.attn_factor")
			s.Rope.AttnFactor = 1
		}, false},
		{"partial rotation", 2, 1, 0, func(t *tiny, s *tinyref.Spec) {
			t.ropeDims = 4
			t.Set("phi3.rope.dimension_count", uint32(4))
			t.setFactors()
			s.Rope.Dims, s.Rope.Factors = 4, long(t)
		}, false},
		{"freq base", 2, 2, 0, func(t *tiny, s *tinyref.Spec) {
			t.Set("phi3.rope.freq_base", float32(500))
			s.Rope.Base, s.Rope.Factors = 500, long(t)
		}, false},
		{"tied output", 2, 1, 0, func(t *tiny, s *tinyref.Spec) {
			t.DelTensor("output.weight")
			s.Rope.Factors = long(t)
		}, false},
		{"separate q/k/v", 2, 1, 0, func(t *tiny, s *tinyref.Spec) { s.Rope.Factors = long(t) }, true},
		{"sliding window ignored", 2, 1, 0, func(t *tiny, s *tinyref.Spec) {
			t.Set("phi3.attention.sliding_window", uint32(3))
			s.Rope.Factors = long(t)
		}, false},
	}
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(42, tc.heads, tc.kvHeads)
			spec := tm.spec()
			tc.edit(tm, &spec)
			want := tinyref.Forward(tm.Model, spec, tokens)
			if tc.unfuse {
				tm.unfuseQKV()
			}
			m, err := tm.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			vocab := m.Info().VocabSize
			c, err := m.NewCache(tc.cacheSize, false)
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
		{"missing key", func(t *tiny) { t.Del("phi3.embedding_length") }, `phi3: metadata key "phi3.embedding_length": missing`},
		{"missing eps", func(t *tiny) { t.Del("phi3.attention.layer_norm_rms_epsilon") }, `"phi3.attention.layer_norm_rms_epsilon": missing`},
		{"wrong key type", func(t *tiny) { t.Set("phi3.feed_forward_length", "big") }, `phi3: metadata key "phi3.feed_forward_length" has type string, want an integer`},
		{"orig ctx type", func(t *tiny) { t.Set("phi3.rope.scaling.original_context_length", float32(4096)) },
			`phi3: metadata key "phi3.rope.scaling.original_context_length" has type float32, want an integer`},
		{"orig ctx negative", func(t *tiny) { t.Set("phi3.rope.scaling.original_context_length", int32(-1)) },
			`phi3: rope.scaling.original_context_length -1 is negative`},
		{"attn factor type", func(t *tiny) { t.Set("phi3.rope.scaling.attn_factor", "1.19") },
			`phi3: metadata key "phi3.rope.scaling.attn_factor" has type string`},
		{"attn factor NaN", func(t *tiny) { t.Set("phi3.rope.scaling.attn_factor", float32(math.NaN())) },
			`phi3: rope.scaling.attn_factor NaN is not a non-negative number`},
		{"sliding window type", func(t *tiny) { t.Set("phi3.attention.sliding_window", "2047") },
			`phi3: metadata key "phi3.attention.sliding_window" has type string, want an integer`},
		{"sliding window negative", func(t *tiny) { t.Set("phi3.attention.sliding_window", int32(-5)) },
			`phi3: attention.sliding_window -5 is negative`},
		{"rope dims odd", func(t *tiny) { t.Set("phi3.rope.dimension_count", uint32(3)) },
			`phi3: rope.dimension_count 3 is not an even number up to the head dimension 8`},
		{"rope dims too many", func(t *tiny) { t.Set("phi3.rope.dimension_count", uint32(16)) },
			`phi3: rope.dimension_count 16 is not an even number up to the head dimension 8`},
		{"rope scaling type", func(t *tiny) { t.Set("phi3.rope.scaling.type", "su") }, `phi3: rope.scaling.type "su" is not supported`},
		{"key length", func(t *tiny) { t.Set("phi3.attention.key_length", uint32(4)) },
			`phi3: rope.dimension_count 8 is not an even number up to the head dimension 4`},
		{"heads do not divide", func(t *tiny) { t.Set("phi3.attention.head_count_kv", uint32(3)) },
			`phi3: attention.head_count_kv 3 does not divide attention.head_count 2`},
		{"head_count vs embedding", func(t *tiny) {
			t.Set("phi3.attention.head_count", uint32(3))
			t.Set("phi3.attention.head_count_kv", uint32(3))
		}, `phi3: attention.head_count 3 does not divide embedding_length 16`},
		{"moe", func(t *tiny) { t.Set("phi3.expert_count", uint32(16)) }, `phi3: mixture-of-experts models (expert_count 16) are not supported`},
		{"vocab size", func(t *tiny) { t.Set("phi3.vocab_size", uint32(41)) }, `phi3: vocab_size 41 differs from token_embd's 40 rows`},
		{"missing qkv", func(t *tiny) { t.DelTensor("blk.1.attn_qkv.weight") }, `phi3: missing tensor "blk.1.attn_q.weight" (nor is there a fused "blk.1.attn_qkv.weight")`},
		{"qkv shape", func(t *tiny) {
			t.AddTensor("blk.0.attn_qkv.weight", make([]float32, 16*48), 16, 48)
		}, `phi3: tensor "blk.0.attn_qkv.weight" has shape [16 48], want [16 32]`},
		{"ffn_up not fused", func(t *tiny) {
			t.AddTensor("blk.1.ffn_up.weight", make([]float32, 16*24), 16, 24)
		}, `phi3: tensor "blk.1.ffn_up.weight" has shape [16 24], want [16 48]`},
		{"factors shape", func(t *tiny) {
			t.AddTensor("rope_factors_long.weight", make([]float32, 8), 8)
		}, `phi3: tensor "rope_factors_long.weight" has shape [8], want [4]`},
		{"factor zero", func(t *tiny) {
			t.AddTensor("rope_factors_short.weight", []float32{1, 1, 0, 1}, 4)
		}, `phi3: tensor "rope_factors_short.weight": factor 2 is 0, not a positive number`},
		{"moe tensor", func(t *tiny) {
			t.AddTensor("blk.0.ffn_gate_inp.weight", make([]float32, 16*4), 16, 4)
		}, `phi3: mixture-of-experts models (tensor "blk.0.ffn_gate_inp.weight") are not supported`},
		{"huge block_count", func(t *tiny) { t.Set("phi3.block_count", uint32(1<<30)) }, `phi3: block_count 1073741824 is more than the file's`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(1, 2, 1)
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
// over float32 and fp16 caches, and that two sequences in one batch with
// caches on either side of the pre-training context each get their own
// LongRoPE factors.
func TestBatchAgreement(t *testing.T) {
	tm := newTiny(3, 2, 1)
	f, err := gguf.Open(tm.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	for _, f16 := range []bool{false, true} {
		var rows [2][]float32
		for i, bs := range []int{0, 3} {
			m, err := model.Load(f, model.Config{BatchSize: bs})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := m.NewCache(tinyCtx, f16)
			vocab := m.Info().VocabSize
			rows[i] = make([]float32, len(tokens)*vocab)
			if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, true), rows[i]); err != nil {
				t.Fatal(err)
			}
			c.Reset()
			one := make([]float32, vocab)
			for p, tok := range tokens {
				if err := m.Forward(ctx, model.SeqBatch(c, []int32{tok}, p, false), one); err != nil {
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

	m, err := model.Load(f, model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vocab := m.Info().VocabSize
	alone := func(size int) []float32 {
		c, _ := m.NewCache(size, true)
		out := make([]float32, len(tokens)*vocab)
		if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, true), out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	shortRows, longRows := alone(tinyOrig), alone(tinyCtx)
	if d := maxAbsDiff(shortRows, longRows); d < 1e-3 {
		t.Fatalf("short and long factors give nearly the same logits (%.3g apart)", d)
	}
	cs, _ := m.NewCache(tinyOrig, true)
	cl, _ := m.NewCache(tinyCtx, true)
	b := &model.Batch{Caches: []*kvcache.Cache{cs, cl}}
	for p, tok := range tokens {
		for s := 0; s < 2; s++ {
			b.Tokens, b.Pos, b.Seq, b.Logits = append(b.Tokens, tok), append(b.Pos, p), append(b.Seq, s), append(b.Logits, true)
		}
	}
	got := make([]float32, 2*len(tokens)*vocab)
	if err := m.Forward(ctx, b, got); err != nil {
		t.Fatal(err)
	}
	for p := range tokens {
		for s, want := range [][]float32{shortRows, longRows} {
			i := 2*p + s
			if d := maxAbsDiff(got[i*vocab:(i+1)*vocab], want[p*vocab:(p+1)*vocab]); d > 1e-6 {
				t.Errorf("sequence %d position %d: differs from evaluating it alone by %.3g", s, p, d)
			}
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
