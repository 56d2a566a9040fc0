package gemma3_test

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
// tensor that is wrong, for Gemma 3's own metadata above all.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*tiny)
		want string
	}{
		{"gemma3n", func(t *tiny) { t.Set("general.architecture", "gemma3n") }, `unsupported architecture "gemma3n"`},
		{"missing block_count", func(t *tiny) { t.Del("gemma3.block_count") },
			`gemma3: metadata key "gemma3.block_count": missing`},
		{"missing eps", func(t *tiny) { t.Del("gemma3.attention.layer_norm_rms_epsilon") },
			`gemma3: metadata key "gemma3.attention.layer_norm_rms_epsilon": missing`},
		{"final cap type", func(t *tiny) { t.Set("gemma3.final_logit_softcapping", "thirty") },
			`gemma3: metadata key "gemma3.final_logit_softcapping" has type string, want a number`},
		{"final cap negative", func(t *tiny) { t.Set("gemma3.final_logit_softcapping", float32(-1)) },
			`gemma3: final_logit_softcapping -1 is not a non-negative number`},
		{"final cap infinite", func(t *tiny) { t.Set("gemma3.final_logit_softcapping", float32(math.Inf(1))) },
			`gemma3: final_logit_softcapping +Inf is not a non-negative number`},
		{"window type", func(t *tiny) { t.Set("gemma3.attention.sliding_window", "1024") },
			`gemma3: metadata key "gemma3.attention.sliding_window" has type string, want an integer`},
		{"window negative", func(t *tiny) { t.Set("gemma3.attention.sliding_window", int32(-1)) },
			`gemma3: attention.sliding_window -1 is negative`},
		{"pattern type", func(t *tiny) { t.Set("gemma3.attention.sliding_window_pattern", float32(6)) },
			`gemma3: metadata key "gemma3.attention.sliding_window_pattern" has type float32, want an integer`},
		{"pattern array length", func(t *tiny) { t.Set("gemma3.attention.sliding_window_pattern", []bool{true}) },
			`gemma3: metadata key "gemma3.attention.sliding_window_pattern" is an array of 1 bool, want 7 bools (one per layer) or an integer`},
		{"local rope base", func(t *tiny) { t.Set("gemma3.rope.freq_base_swa", float32(-1)) },
			`gemma3: rope.freq_base_swa: rope: frequency base -1 is not a positive number`},
		{"global rope base", func(t *tiny) { t.Set("gemma3.rope.freq_base", float32(0)) },
			`gemma3: rope.freq_base 0 is not a positive number`},
		{"rope scaling factor", func(t *tiny) { t.Set("gemma3.rope.scaling.factor", float32(-8)) },
			`gemma3: rope.scaling.factor -8 is not a non-negative number`},
		{"rope scaling type", func(t *tiny) { t.Set("gemma3.rope.scaling.type", "longrope") },
			`gemma3: rope.scaling.type "longrope" is not supported (none or linear)`},
		{"heads", func(t *tiny) { t.Set("gemma3.attention.head_count", uint32(0)) },
			`gemma3: attention.head_count 0 is not positive`},
		{"experts", func(t *tiny) { t.Set("gemma3.expert_count", uint32(4)) },
			`gemma3: mixture-of-experts models (expert_count 4) are not supported`},
		{"missing q norm", func(t *tiny) { delete(t.Weights, "blk.3.attn_q_norm.weight") },
			`gemma3: missing tensor "blk.3.attn_q_norm.weight"`},
		{"k norm shape", func(t *tiny) { t.AddTensor("blk.0.attn_k_norm.weight", make([]float32, 16), 16) },
			`gemma3: tensor "blk.0.attn_k_norm.weight" has shape [16], want [8]`},
		{"output shape", func(t *tiny) { t.AddTensor("output.weight", make([]float32, 16*41), 16, 41) },
			`gemma3: tensor "output.weight" has shape [16 41], want [16 40]`},
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

// TestSlidingCache checks the cache of a Gemma 3 model: its sliding layers
// are rings of window−1+batch positions and the global layer holds the
// whole context; a decode far past the window matches a fresh evaluation;
// a rewind into evicted positions fails with kvcache.ErrEvicted.
func TestSlidingCache(t *testing.T) {
	tm := newTiny(5, 4, 2)
	m, err := tm.open(t, model.Config{BatchSize: 4}) // rings of 3−1+4 = 6
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.NewCache(0, true)
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < 7; l++ {
		want := 6
		if l == 5 {
			want = 64
		}
		if c.Slots(l) != want || c.Sliding(l) != (l != 5) {
			t.Errorf("layer %d: %d slots (sliding %v), want %d", l, c.Slots(l), c.Sliding(l), want)
		}
	}
	// 6 × 6 + 64 positions of 2 × 2 × 8 fp16 keys and values.
	if got, want := c.Bytes(), int64((6*6+64)*2*2*8*2); got != want {
		t.Errorf("cache of %d bytes, want %d", got, want)
	}
	ctx := context.Background()
	vocab := m.Info().VocabSize
	tokens := []int32{1, 7, 3, 39, 12, 12, 0, 25, 8, 30, 2, 17, 5, 9, 9, 14, 33, 21}
	out := make([]float32, vocab)
	if err := m.Forward(ctx, model.SeqBatch(c, tokens[:7], 0, false), out); err != nil {
		t.Fatal(err)
	}
	for i := 7; i < len(tokens); i++ { // decode one by one
		if err := m.Forward(ctx, model.SeqBatch(c, tokens[i:i+1], i, false), out); err != nil {
			t.Fatal(err)
		}
	}
	full, _ := kvcache.New(7, 64, 2, 8, true)
	want := make([]float32, vocab)
	if err := m.Forward(ctx, model.SeqBatch(full, tokens, 0, false), want); err != nil {
		t.Fatal(err)
	}
	d := 0.0
	for i := range out {
		d = max(d, math.Abs(float64(out[i]-want[i])))
	}
	if d > 1e-6 {
		t.Errorf("ring cache differs from a full cache by %.3g", d)
	}
	err = m.Forward(ctx, model.SeqBatch(c, tokens[5:6], 5, false), out)
	if !errors.Is(err, kvcache.ErrEvicted) {
		t.Errorf("rewind to 5 of %d: error %v, want kvcache.ErrEvicted", len(tokens), err)
	}
}
