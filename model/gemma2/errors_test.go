package gemma2_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
)

// TestLoadErrors checks that broken files get errors naming the key or
// tensor that is wrong, for Gemma 2's own metadata above all.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*tiny)
		want string
	}{
		{"gemma3n", func(t *tiny) { t.Set("general.architecture", "gemma3n") }, `unsupported architecture "gemma3n"`},
		{"missing embedding_length", func(t *tiny) { t.Del("gemma2.embedding_length") },
			`gemma2: metadata key "gemma2.embedding_length": missing`},
		{"missing eps", func(t *tiny) { t.Del("gemma2.attention.layer_norm_rms_epsilon") },
			`gemma2: metadata key "gemma2.attention.layer_norm_rms_epsilon": missing`},
		{"attention cap type", func(t *tiny) { t.Set("gemma2.attn_logit_softcapping", "fifty") },
			`gemma2: metadata key "gemma2.attn_logit_softcapping" has type string, want a number`},
		{"attention cap zero", func(t *tiny) { t.Set("gemma2.attn_logit_softcapping", float32(0)) },
			`gemma2: attn_logit_softcapping 0 is not a positive number`},
		{"final cap NaN", func(t *tiny) { t.Set("gemma2.final_logit_softcapping", float32(math.NaN())) },
			`gemma2: final_logit_softcapping NaN is not a positive number`},
		{"final cap negative", func(t *tiny) { t.Set("gemma2.final_logit_softcapping", float32(-30)) },
			`gemma2: final_logit_softcapping -30 is not a positive number`},
		{"window type", func(t *tiny) { t.Set("gemma2.attention.sliding_window", float32(3)) },
			`gemma2: metadata key "gemma2.attention.sliding_window" has type float32, want an integer`},
		{"window zero", func(t *tiny) { t.Set("gemma2.attention.sliding_window", uint32(0)) },
			`gemma2: attention.sliding_window 0 is not positive`},
		{"window negative", func(t *tiny) { t.Set("gemma2.attention.sliding_window", int32(-4)) },
			`gemma2: attention.sliding_window -4 is negative`},
		{"pattern type", func(t *tiny) { t.Set("gemma2.attention.sliding_window_pattern", "LG") },
			`gemma2: metadata key "gemma2.attention.sliding_window_pattern" has type string, want an integer`},
		{"pattern array length", func(t *tiny) { t.Set("gemma2.attention.sliding_window_pattern", []bool{true, false}) },
			`gemma2: metadata key "gemma2.attention.sliding_window_pattern" is an array of 2 bool, want 3 bools (one per layer) or an integer`},
		{"pattern array type", func(t *tiny) { t.Set("gemma2.attention.sliding_window_pattern", []uint32{1, 0, 1}) },
			`gemma2: metadata key "gemma2.attention.sliding_window_pattern" is an array of 3 uint32, want 3 bools`},
		{"pattern negative", func(t *tiny) { t.Set("gemma2.attention.sliding_window_pattern", int32(-2)) },
			`gemma2: attention.sliding_window_pattern -2 is negative`},
		{"local rope base", func(t *tiny) { t.Set("gemma2.rope.freq_base_swa", float32(0)) },
			`gemma2: rope.freq_base_swa: rope: frequency base 0 is not a positive number`},
		{"local rope base type", func(t *tiny) { t.Set("gemma2.rope.freq_base_swa", "ten thousand") },
			`gemma2: metadata key "gemma2.rope.freq_base_swa" has type string, want a number`},
		{"rope scaling type", func(t *tiny) { t.Set("gemma2.rope.scaling.type", "yarn") },
			`gemma2: rope.scaling.type "yarn" is not supported (none or linear)`},
		{"rope dims", func(t *tiny) { t.Set("gemma2.rope.dimension_count", uint32(10)) },
			`gemma2: rope.dimension_count 10 is not an even number up to the head dimension 8`},
		{"value length", func(t *tiny) { t.Set("gemma2.attention.value_length", uint32(4)) },
			`gemma2: attention.value_length 4 differs from attention.key_length 8`},
		{"heads do not group", func(t *tiny) { t.Set("gemma2.attention.head_count_kv", uint32(3)) },
			`gemma2: attention.head_count_kv 3 does not divide attention.head_count 4`},
		{"huge block_count", func(t *tiny) { t.Set("gemma2.block_count", uint32(1<<30)) },
			`gemma2: block_count 1073741824 is more than the file's`},
		{"missing post norm", func(t *tiny) { delete(t.Weights, "blk.1.post_attention_norm.weight") },
			`gemma2: missing tensor "blk.1.post_attention_norm.weight"`},
		{"missing post ffw norm", func(t *tiny) { delete(t.Weights, "blk.2.post_ffw_norm.weight") },
			`gemma2: missing tensor "blk.2.post_ffw_norm.weight"`},
		{"query shape", func(t *tiny) { t.AddTensor("blk.0.attn_q.weight", make([]float32, 16*16), 16, 16) },
			`gemma2: tensor "blk.0.attn_q.weight" has shape [16 16], want [16 32]`},
		{"untied", func(t *tiny) { t.AddTensor("output.weight", make([]float32, 16*40), 16, 40) },
			`gemma2: unexpected tensor "output.weight"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(1, 4, 2)
			tc.edit(tm)
			m, err := tm.open(t, model.Config{})
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

// TestSlidingCacheRewind checks rewinds of a cache whose sliding layers
// are rings: within the ring they give the logits of a fresh evaluation;
// beyond it Forward fails with kvcache.ErrEvicted and leaves the cache as
// it was, and a restart from position 0 works.
func TestSlidingCacheRewind(t *testing.T) {
	tm := newTiny(5, 4, 2)
	m, err := tm.open(t, model.Config{BatchSize: 2}) // rings of 3−1+2 = 4
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	vocab := m.Info().VocabSize
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17}
	fresh := func(toks []int32) []float32 {
		c, _ := m.NewCache(0, true)
		out := make([]float32, vocab)
		if err := m.Forward(ctx, model.SeqBatch(c, toks, 0, false), out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	c, err := m.NewCache(0, true)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, vocab)
	if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, false), out); err != nil {
		t.Fatal(err)
	}
	if c.Oldest() != len(tokens)-4 {
		t.Errorf("sliding layers hold from %d, want %d", c.Oldest(), len(tokens)-4)
	}
	// Replace the last two tokens: the window of position 10 (8, 9) is
	// still held.
	alt := append(append([]int32{}, tokens[:10]...), 5, 6)
	if err := m.Forward(ctx, model.SeqBatch(c, alt[10:], 10, false), out); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(out, fresh(alt)); d > 1e-6 {
		t.Errorf("rewound by 2: differs from a fresh evaluation by %.3g", d)
	}
	// Rewinding to position 4 needs positions 2 and 3, long overwritten.
	err = m.Forward(ctx, model.SeqBatch(c, []int32{9}, 4, false), out)
	if !errors.Is(err, kvcache.ErrEvicted) {
		t.Fatalf("rewind into evicted positions: error %v, want kvcache.ErrEvicted", err)
	}
	t.Logf("rewind into evicted positions: %v", err)
	if c.Len() != len(alt) {
		t.Errorf("failed rewind changed the cache length to %d", c.Len())
	}
	// Starting again from 0 needs nothing before it.
	if err := m.Forward(ctx, model.SeqBatch(c, tokens[:6], 0, false), out); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(out, fresh(tokens[:6])); d > 1e-6 {
		t.Errorf("restarted cache differs from a fresh one by %.3g", d)
	}
	// A cache whose sliding layers keep a smaller window than the model's
	// is refused.
	small, _ := kvcache.NewSliding(3, 64, 2, 8, true, kvcache.Sliding{Window: 2, Batch: 4, Layers: []bool{true, false, true}})
	err = m.Forward(ctx, model.SeqBatch(small, tokens[:1], 0, false), out)
	if err == nil || !strings.Contains(err.Error(), "keeps a window of 2 positions, the model attends to 3") {
		t.Errorf("small-window cache: error %v", err)
	}
	// A plain cache serves the model too; so does a ring made for a larger
	// batch, which passes of the model's size fit.
	plain, _ := kvcache.New(3, 64, 2, 8, true)
	big, _ := kvcache.NewSliding(3, 64, 2, 8, true, kvcache.Sliding{Window: 3, Batch: 16, Layers: []bool{true, false, true}})
	narrow, _ := kvcache.NewSliding(3, 64, 2, 8, true, kvcache.Sliding{Window: 3, Batch: 1, Layers: []bool{true, false, true}})
	for name, c := range map[string]*kvcache.Cache{"plain": plain, "larger ring": big, "one-token ring": narrow} {
		if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, false), out); err != nil {
			t.Fatalf("%s cache: %v", name, err)
		}
		if d := maxDiff(out, fresh(tokens)); d > 1e-6 {
			t.Errorf("%s cache differs from the model's own by %.3g", name, d)
		}
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestMultiSequenceBatch evaluates two sequences with ring caches in one
// batch, interleaved and longer than the pass size, and checks every row
// against evaluating each sequence alone.
func TestMultiSequenceBatch(t *testing.T) {
	m, err := newTiny(7, 4, 2).open(t, model.Config{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	vocab := m.Info().VocabSize
	seqs := [][]int32{{1, 5, 9, 13, 17, 21, 25, 29, 33}, {2, 4, 8, 16, 32, 0, 3}}
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
	for p := 0; p < 9; p++ {
		for s := range seqs {
			if p < len(seqs[s]) {
				order = append(order, at{s, p})
				b.Tokens = append(b.Tokens, seqs[s][p])
				b.Pos = append(b.Pos, p)
				b.Seq = append(b.Seq, s)
				b.Logits = append(b.Logits, true)
			}
		}
	}
	got := make([]float32, len(order)*vocab)
	if err := m.Forward(ctx, b, got); err != nil {
		t.Fatal(err)
	}
	for i, o := range order {
		want := alone[o.seq][o.pos*vocab : (o.pos+1)*vocab]
		if d := maxDiff(got[i*vocab:(i+1)*vocab], want); d > 1e-6 {
			t.Errorf("sequence %d position %d: differs from evaluating it alone by %.3g", o.seq, o.pos, d)
		}
	}
}
