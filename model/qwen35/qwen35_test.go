package qwen35_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/synthtest"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/qwen35"
	"github.com/ondo-ai/ondo/synth"
)

func synthConfig() synth.Config {
	c, _ := synth.Preset("tiny")
	c.Arch, c.Layers, c.Seed, c.WeightScale, c.AttnScale = "qwen35", 8, 7, 0.15, 5
	return c
}

// TestRecurrentState checks the recurrent layers' states in the cache: a
// prompt in passes of 5 gives the logits of one token at a time, two
// sequences batched together give their logits alone, the cache rewinds
// only to a checkpoint (each pass ends in one) or to 0 (ErrEvicted
// otherwise), and its size counts the states.
func TestRecurrentState(t *testing.T) {
	m, err := synthtest.Open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vocab := m.Info().VocabSize
	toks := []int32{1, 260, 270, 280, 290, 299, 265, 275, 285, 261, 262, 263, 264}
	c, err := m.NewCache(32, true)
	if err != nil {
		t.Fatal(err)
	}
	// 2 attention layers × 32 positions × 2 KV heads × 64 × (K, V) in
	// fp16, and per DeltaNet layer a window of 3 inputs of 512 channels
	// and 4 matrices of 64×64 in float32.
	if got, want := c.Bytes(), int64(2*32*2*64*2*2+6*(3*512+4*64*64)*4); got != want {
		t.Errorf("cache of %d bytes, want %d", got, want)
	}
	batch := make([]float32, len(toks)*vocab)
	if err := m.Forward(ctx, model.SeqBatch(c, toks, 0, true), batch); err != nil {
		t.Fatal(err)
	}
	// Passes of 5 left checkpoints at 5, 10 and 13: position 7 cannot be
	// resumed, 5 can, and resuming there gives the same logits.
	if err := c.Truncate(7); !errors.Is(err, kvcache.ErrEvicted) {
		t.Errorf("rewinding the recurrent state to 7: error %v, want ErrEvicted", err)
	}
	if err := m.Forward(ctx, model.SeqBatch(c, toks[7:9], 7, false), make([]float32, vocab)); !errors.Is(err, kvcache.ErrEvicted) {
		t.Errorf("evaluating from position 7 of 13: error %v, want ErrEvicted", err)
	}
	if r := c.Restorable(7); r != 5 {
		t.Errorf("Restorable(7) = %d, want the checkpoint at 5", r)
	}
	if err := c.Truncate(5); err != nil {
		t.Fatal(err)
	}
	resumed := make([]float32, vocab)
	if err := m.Forward(ctx, model.SeqBatch(c, toks[5:], 5, false), resumed); err != nil {
		t.Fatal(err)
	}
	for j, v := range resumed {
		if d := math.Abs(float64(v - batch[(len(toks)-1)*vocab+j])); d > 1e-5 {
			t.Fatalf("resumed from the checkpoint at 5: logit %d differs by %.3g", j, d)
		}
	}
	if err := c.Truncate(0); err != nil {
		t.Fatal(err)
	}
	one := make([]float32, vocab)
	worst := 0.0
	for i, tok := range toks {
		if err := m.Forward(ctx, model.SeqBatch(c, []int32{tok}, i, false), one); err != nil {
			t.Fatal(err)
		}
		for j, v := range one {
			worst = max(worst, math.Abs(float64(v-batch[i*vocab+j])))
		}
	}
	if worst > 1e-4 {
		t.Errorf("token by token differs from the batch by %.3g", worst)
	}

	// Two sequences, interleaved in one batch, each with its own states.
	a, _ := m.NewCache(32, true)
	b, _ := m.NewCache(32, true)
	other := []int32{1, 300, 301, 302}
	mixed := &model.Batch{
		Tokens: []int32{toks[0], other[0], toks[1], other[1], toks[2], other[2], other[3]},
		Pos:    []int{0, 0, 1, 1, 2, 2, 3},
		Seq:    []int{0, 1, 0, 1, 0, 1, 1},
		Caches: []*kvcache.Cache{a, b},
		Logits: []bool{false, false, false, false, true, false, true},
	}
	out := make([]float32, 2*vocab)
	if err := m.Forward(ctx, mixed, out); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	alone := make([]float32, vocab)
	if err := m.Forward(ctx, model.SeqBatch(c, other, 0, false), alone); err != nil {
		t.Fatal(err)
	}
	worst = 0
	for j := range alone {
		worst = max(worst, math.Abs(float64(alone[j]-out[vocab+j])), math.Abs(float64(batch[2*vocab+j]-out[j])))
	}
	if worst > 1e-4 {
		t.Errorf("interleaved sequences differ from alone by %.3g", worst)
	}
}

// TestLoadErrors checks that bad Qwen3.5 metadata is refused naming the key.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		v         any
		want      string
	}{
		{"inner size", "qwen35.ssm.inner_size", uint32(100), "qwen35: ssm.inner_size 100 is not ssm.time_step_rank 4 × ssm.state_size 64"},
		{"groups", "qwen35.ssm.group_count", uint32(3), "qwen35: ssm.conv_kernel 4, ssm.state_size 64, ssm.time_step_rank 4 and ssm.group_count 3 must be positive"},
		{"sections", "qwen35.rope.dimension_sections", []int32{4, 2, 2, 0}, "qwen35: rope.dimension_sections [4 2 2 0] leave rotated pair 7"},
		{"no conv kernel", "qwen35.ssm.conv_kernel", nil, `qwen35: metadata key "qwen35.ssm.conv_kernel": missing`},
		{"interval", "qwen35.full_attention_interval", uint32(2), `qwen35: missing tensor "blk.1.attn_q.weight"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := synthtest.Open(t, synthConfig(), synthtest.Set(tc.key, tc.v, ""))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
