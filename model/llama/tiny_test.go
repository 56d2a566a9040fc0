package llama_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/internal/tinyref"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tensor"
)

// tiny is a small random Llama model built in the test: metadata and float32
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
	t.Set("general.architecture", "llama")
	t.Set("llama.context_length", uint32(64))
	t.Set("llama.embedding_length", uint32(t.dim))
	t.Set("llama.feed_forward_length", uint32(t.ffn))
	t.Set("llama.block_count", uint32(t.layers))
	t.Set("llama.attention.head_count", uint32(heads))
	t.Set("llama.attention.head_count_kv", uint32(kvHeads))
	t.Set("llama.rope.dimension_count", uint32(t.hd))
	t.Set("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
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
		t.Weights[name], t.Shapes[name] = w, shape
		t.Names = append(t.Names, name)
	}
	norm := func(name string, n int) {
		add(name, 0.1, int64(n))
		for i := range t.Weights[name] {
			t.Weights[name][i] += 1
		}
	}
	d, q, kv := int64(t.dim), int64(heads*t.hd), int64(kvHeads*t.hd)
	add("token_embd.weight", 1, d, int64(t.vocab))
	norm("output_norm.weight", t.dim)
	add("output.weight", 0.3, d, int64(t.vocab))
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		norm(p+"attn_norm.weight", t.dim)
		add(p+"attn_q.weight", 0.3, d, q)
		add(p+"attn_k.weight", 0.3, d, kv)
		add(p+"attn_v.weight", 0.3, d, kv)
		add(p+"attn_output.weight", 0.3, q, d)
		norm(p+"ffn_norm.weight", t.dim)
		add(p+"ffn_gate.weight", 0.3, d, int64(t.ffn))
		add(p+"ffn_up.weight", 0.3, d, int64(t.ffn))
		add(p+"ffn_down.weight", 0.3, int64(t.ffn), d)
	}
	return t
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

// spec describes t to the float64 reference: Llama's RMS norms and SwiGLU,
// and rotation of adjacent pairs with base 10000; Mixtral's experts
// renormalised over the chosen ones.
func (t *tiny) spec() tinyref.Spec {
	return tinyref.Spec{Dim: t.dim, Heads: t.heads, KVHeads: t.kvHeads, Layers: t.layers, Eps: 1e-5,
		Rope: tinyref.Rope{Base: 10000}, NormExperts: true}
}

// TestTinyReference checks the forward pass against the float64 reference
// on small random models covering the hyperparameter paths: grouped and
// full attention, tied output, biases, linear and YaRN RoPE scaling and
// Llama 3 frequency factors.
func TestTinyReference(t *testing.T) {
	cases := []struct {
		name    string
		heads   int
		kvHeads int
		edit    func(*tiny, *tinyref.Spec)
	}{
		{"gqa", 4, 2, nil},
		{"mha", 2, 2, nil},
		{"mqa", 4, 1, nil},
		{"tied output", 4, 2, func(t *tiny, _ *tinyref.Spec) { t.DelTensor("output.weight") }},
		{"freq base", 4, 2, func(t *tiny, s *tinyref.Spec) {
			t.Set("llama.rope.freq_base", float32(500000))
			s.Rope.Base = 500000
		}},
		{"linear scaling", 4, 2, func(t *tiny, s *tinyref.Spec) {
			t.Set("llama.rope.scaling.type", "linear")
			t.Set("llama.rope.scaling.factor", float32(4))
			s.Rope.Scale = 4
		}},
		{"yarn scaling", 2, 1, func(t *tiny, s *tinyref.Spec) {
			t.Set("llama.rope.freq_base", float32(100))
			t.Set("llama.rope.scaling.type", "yarn")
			t.Set("llama.rope.scaling.factor", float32(4))
			t.Set("llama.rope.scaling.original_context_length", uint32(16))
			s.Rope.Base, s.Rope.Scale, s.Rope.YaRN, s.Rope.OrigCtx = 100, 4, true, 16
		}},
		{"rope freqs", 4, 2, func(t *tiny, s *tinyref.Spec) {
			ff := []float32{1, 2.5, 8, 32}[:t.hd/2]
			t.AddTensor("rope_freqs.weight", ff, int64(len(ff)))
			s.Rope.Factors = ff
		}},
		{"biases", 4, 2, func(t *tiny, _ *tinyref.Spec) {
			for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_gate", "ffn_down"} {
				name := "blk.1." + n
				rows := t.Shapes[name+".weight"][1]
				b := make([]float32, rows)
				for i := range b {
					b[i] = float32(i%5) * 0.1
				}
				t.AddTensor(name+".bias", b, rows)
			}
		}},
	}
	cases = append(cases, moeCases...)
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(42, tc.heads, tc.kvHeads)
			spec := tm.spec()
			if tc.edit != nil {
				tc.edit(tm, &spec)
			}
			m, err := tm.open(t)
			if err != nil {
				t.Fatal(err)
			}
			want := tinyref.Forward(tm.Model, spec, tokens)
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

// TestLoadErrors checks that broken files get errors naming what is wrong.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*tiny)
		want string
	}{
		{"unregistered arch", func(t *tiny) { t.Set("general.architecture", "xyz") }, `unsupported architecture "xyz"`},
		{"missing tensor", func(t *tiny) { t.DelTensor("blk.1.attn_q.weight") }, `llama: missing tensor "blk.1.attn_q.weight"`},
		{"missing embedding", func(t *tiny) { t.DelTensor("token_embd.weight") }, `llama: missing tensor "token_embd.weight"`},
		{"wrong shape", func(t *tiny) {
			t.AddTensor("blk.0.attn_k.weight", make([]float32, 16*16), 16, 16)
		}, `llama: tensor "blk.0.attn_k.weight" has shape [16 16], want [16 8]`},
		{"wrong norm shape", func(t *tiny) {
			t.AddTensor("blk.0.ffn_norm.weight", make([]float32, 8), 8)
		}, `llama: tensor "blk.0.ffn_norm.weight" has shape [8], want [16]`},
		{"heads do not divide", func(t *tiny) { t.Set("llama.attention.head_count", uint32(7)) },
			`llama: attention.head_count_kv 2 does not divide attention.head_count 7`},
		{"head_count vs embedding", func(t *tiny) {
			t.Set("llama.attention.head_count", uint32(7))
			t.Set("llama.attention.head_count_kv", uint32(7))
		}, `llama: attention.head_count 7 does not divide embedding_length 16`},
		{"zero heads", func(t *tiny) { t.Set("llama.attention.head_count", uint32(0)) }, `llama: attention.head_count 0 is not positive`},
		{"missing key", func(t *tiny) { t.Del("llama.embedding_length") }, `llama: metadata key "llama.embedding_length": missing`},
		{"wrong key type", func(t *tiny) { t.Set("llama.block_count", "two") }, `llama: metadata key "llama.block_count" has type string, want an integer`},
		{"missing eps", func(t *tiny) { t.Del("llama.attention.layer_norm_rms_epsilon") }, `llama.attention.layer_norm_rms_epsilon`},
		{"rope dims", func(t *tiny) { t.Set("llama.rope.dimension_count", uint32(3)) }, `llama: rope.dimension_count 3 is not an even number up to the head dimension 4`},
		{"rope scaling type", func(t *tiny) { t.Set("llama.rope.scaling.type", "ntk") }, `llama: rope.scaling.type "ntk" is not supported`},
		{"vocab size", func(t *tiny) { t.Set("llama.vocab_size", uint32(41)) }, `llama: vocab_size 41 differs from token_embd's 40 rows`},
		{"router without expert_count", func(t *tiny) {
			t.AddTensor("blk.0.ffn_gate_inp.weight", make([]float32, 16*8), 16, 8)
		}, `llama: tensor "blk.0.ffn_gate_inp.weight" routes to experts, but metadata key "llama.expert_count" is missing`},
		{"expert_count without experts", func(t *tiny) {
			t.Set("llama.expert_count", uint32(8))
			t.Set("llama.expert_used_count", uint32(2))
		}, `llama: missing tensor "blk.0.ffn_gate_inp.weight"`},
		{"huge block_count", func(t *tiny) { t.Set("llama.block_count", uint32(1<<30)) }, `llama: block_count 1073741824 is more than the file's`},
		{"unsupported type", func(t *tiny) {
			t.Raw = map[string]tensor.Type{"blk.0.attn_q.weight": tensor.I32}
		}, `llama: tensor "blk.0.attn_q.weight": kernels: tensor type I32 is not supported`},
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
			if want := tc.want + " (supported: llama)"; tc.name == "unregistered arch" && err.Error() != want {
				t.Fatalf("error %q, want exactly %q (the supported architectures named, no path)", err, want)
			}
		})
	}
}

// TestForwardErrors checks the batch checks (bad tokens and positions,
// running past the cache, short buffers, cancellation) and that a failed
// call leaves the cache as it was.
func TestForwardErrors(t *testing.T) {
	tm := newTiny(1, 4, 2)
	m, err := tm.open(t)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vocab := m.Info().VocabSize
	logits := make([]float32, 4*vocab)
	ctx := context.Background()
	c, err := m.NewCache(4, true)
	if err != nil {
		t.Fatal(err)
	}
	fail := func(b *model.Batch, want string) {
		t.Helper()
		n := c.Len()
		err := m.Forward(ctx, b, logits)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
		if c.Len() != n {
			t.Errorf("failed batch changed the cache length from %d to %d", n, c.Len())
		}
	}
	ok := func(b *model.Batch, wantLen int) {
		t.Helper()
		if err := m.Forward(ctx, b, logits); err != nil {
			t.Fatal(err)
		}
		if c.Len() != wantLen {
			t.Errorf("cache length %d, want %d", c.Len(), wantLen)
		}
	}
	fail(model.SeqBatch(c, []int32{40}, 0, false), "model: token 40 at batch index 0 out of range [0, 40)")
	fail(model.SeqBatch(c, []int32{-1}, 0, false), "model: token -1 at batch index 0")
	fail(model.SeqBatch(c, []int32{1}, 2, false), "model: sequence 0 starts at position 2, its cache holds 0")
	fail(model.SeqBatch(c, []int32{1, 2, 3, 4, 5}, 0, false), "kvcache: position 4 beyond context size 4")
	fail(&model.Batch{Tokens: []int32{1}, Pos: []int{0}}, "model: batch has no cache")
	fail(&model.Batch{Tokens: []int32{1, 2}, Pos: []int{0}, Caches: []*kvcache.Cache{c}}, "model: batch has 2 tokens and 1 positions")
	fail(&model.Batch{}, "model: empty batch")
	ok(model.SeqBatch(c, []int32{1, 2}, 0, true), 2)
	fail(&model.Batch{Tokens: []int32{1, 2}, Pos: []int{2, 4}, Caches: []*kvcache.Cache{c}}, "model: sequence 0: token 1 at position 4, want 3")
	fail(model.SeqBatch(c, []int32{1, 2, 3}, 2, false), "kvcache: position 4 beyond context size 4")
	ok(model.SeqBatch(c, []int32{3, 4}, 2, false), 4)
	fail(model.SeqBatch(c, []int32{1}, 4, false), "kvcache: position 4 beyond context size 4")
	ok(model.SeqBatch(c, []int32{5}, 1, false), 2) // rewinds to position 1
	if err := m.Forward(ctx, model.SeqBatch(c, []int32{1}, 2, false), make([]float32, vocab-1)); err == nil ||
		!strings.Contains(err.Error(), "logits buffer of 39 for 1 rows of 40") {
		t.Errorf("short logits buffer: error %v", err)
	}
	other, err := kvcache.New(1, 4, 2, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	fail(model.SeqBatch(other, []int32{1}, 0, false), "model: cache 0 is for 1 layers of 2×4, model has 2 layers of 2×4")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Forward(cctx, model.SeqBatch(c, []int32{1}, 2, false), logits); err != context.Canceled {
		t.Errorf("cancelled context: error %v", err)
	}
	if c.Len() != 2 {
		t.Errorf("cancelled batch changed the cache length to %d", c.Len())
	}
}

// TestMultiSequenceBatch evaluates two sequences with separate caches in
// one batch, interleaved, and checks every row against evaluating each
// sequence alone.
func TestMultiSequenceBatch(t *testing.T) {
	m, err := newTiny(7, 4, 2).open(t)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	vocab := m.Info().VocabSize
	seqs := [][]int32{{1, 5, 9, 13, 17, 21}, {2, 4, 8, 16}}
	alone := make([][]float32, len(seqs))
	for s, toks := range seqs {
		c, _ := m.NewCache(16, true)
		alone[s] = make([]float32, len(toks)*vocab)
		if err := m.Forward(ctx, model.SeqBatch(c, toks, 0, true), alone[s]); err != nil {
			t.Fatal(err)
		}
	}
	ca, _ := m.NewCache(16, true)
	cb, _ := m.NewCache(16, true)
	b := &model.Batch{Caches: []*kvcache.Cache{ca, cb}}
	type at struct{ seq, pos int }
	var order []at
	for p := 0; p < 6; p++ { // interleave: a0 b0 a1 b1 a2 b2 a3 b3 a4 a5
		for s := range seqs {
			if p < len(seqs[s]) {
				order = append(order, at{s, p})
			}
		}
	}
	// First batch: everything but the last token of each sequence, logits
	// for all; second batch: the last tokens, decode-style.
	var first, second []at
	for _, o := range order {
		if o.pos == len(seqs[o.seq])-1 {
			second = append(second, o)
		} else {
			first = append(first, o)
		}
	}
	for _, part := range [][]at{first, second} {
		*b = model.Batch{Caches: b.Caches}
		for _, o := range part {
			b.Tokens = append(b.Tokens, seqs[o.seq][o.pos])
			b.Pos = append(b.Pos, o.pos)
			b.Seq = append(b.Seq, o.seq)
			b.Logits = append(b.Logits, true)
		}
		got := make([]float32, len(part)*vocab)
		if err := m.Forward(ctx, b, got); err != nil {
			t.Fatal(err)
		}
		for i, o := range part {
			want := alone[o.seq][o.pos*vocab : (o.pos+1)*vocab]
			if d := maxAbsDiff(got[i*vocab:(i+1)*vocab], want); d > 1e-6 {
				t.Errorf("sequence %d position %d: differs from evaluating it alone by %.3g", o.seq, o.pos, d)
			}
		}
	}
	if ca.Len() != len(seqs[0]) || cb.Len() != len(seqs[1]) {
		t.Errorf("cache lengths %d and %d, want %d and %d", ca.Len(), cb.Len(), len(seqs[0]), len(seqs[1]))
	}
	// The same cache twice in one batch is refused.
	err = m.Forward(ctx, &model.Batch{Tokens: []int32{1}, Pos: []int{0}, Caches: []*kvcache.Cache{ca, ca}}, make([]float32, vocab))
	if err == nil || !strings.Contains(err.Error(), "caches 0 and 1 are the same cache") {
		t.Errorf("duplicate cache: error %v", err)
	}
}

// TestSmallBatchSize checks that a prompt longer than Config.BatchSize,
// evaluated in several passes, gives the logits of a single pass.
func TestSmallBatchSize(t *testing.T) {
	tm := newTiny(3, 4, 2)
	f, err := gguf.Open(tm.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}
	var rows [2][]float32
	for i, bs := range []int{0, 3} {
		m, err := model.Load(f, model.Config{BatchSize: bs})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := m.NewCache(0, true)
		rows[i] = make([]float32, len(tokens)*m.Info().VocabSize)
		if err := m.Forward(context.Background(), model.SeqBatch(c, tokens, 0, true), rows[i]); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	if d := maxAbsDiff(rows[0], rows[1]); d != 0 {
		t.Errorf("batch size 3 differs from one pass by %.3g", d)
	}
}
