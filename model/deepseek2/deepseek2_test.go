package deepseek2_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/synthtest"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/deepseek2"
	"github.com/ondo-ai/ondo/synth"
)

// synthConfig is the cross-check's DeepSeek-V3 shape (internal/crosscheck):
// heads of 64+32 query elements, a latent of 128, 8 experts.
func synthConfig() synth.Config {
	c, _ := synth.Preset("tiny")
	c.Arch, c.QLoraRank, c.Seed, c.WeightScale, c.AttnScale = "deepseek2", 96, 7, 0.15, 5
	return c
}

// open writes c with metadata key set to v (removed when v is nil) unless
// key is empty, and loads it.
func open(t *testing.T, c synth.Config, key string, v any) (model.Model, error) {
	t.Helper()
	var edit synthtest.Edit
	if key != "" {
		edit = synthtest.Set(key, v, "")
	}
	return synthtest.Open(t, c, edit)
}

// TestLatentCache checks what latent attention is for: the cache holds one
// vector of kv_lora_rank + rope elements per token and layer, stored once
// (the values are the keys), a fraction of what a model attending with the
// same heads uncompressed would keep; and a prompt evaluated in passes of 5
// gives the logits of one token at a time.
func TestLatentCache(t *testing.T) {
	m, err := open(t, synthConfig(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	c, err := m.NewCache(64, true)
	if err != nil {
		t.Fatal(err)
	}
	perToken := c.Bytes() / 64 / int64(info.Layers)
	latent := int64(2 * (128 + 32))        // fp16 latent and rotated key
	plain := int64(2 * 4 * (64 + 32 + 64)) // fp16 keys (96) and values (64) of 4 heads
	if perToken != latent {
		t.Errorf("cache holds %d bytes per token and layer, want %d", perToken, latent)
	}
	t.Logf("KV cache per token and layer: %d bytes latent, %d uncompressed (%.1f×)", perToken, plain, float64(plain)/float64(perToken))

	toks := []int32{1, 260, 270, 280, 290, 299, 265, 275, 285, 261, 262, 263, 264}
	vocab := info.VocabSize
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
	if worst > 1e-4 {
		t.Errorf("token by token differs from the batch by %.3g", worst)
	}
}

// TestLoadErrors checks that files ondo cannot run as deepseek2 are refused
// with errors that name the key.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		v         any
		want      string
	}{
		{"before the MLA split", "deepseek2.attention.key_length_mla", nil, `deepseek2: metadata keys "deepseek2.attention.key_length_mla" and "deepseek2.attention.value_length_mla" are missing: the file predates`},
		{"groups", "deepseek2.expert_group_count", uint32(3), "deepseek2: expert_group_count 3 and expert_group_used_count 1 do not fit 8 experts"},
		{"key length", "deepseek2.attention.key_length", uint32(100), "deepseek2: attention.key_length 100 is not kv_lora_rank 128 plus rope.dimension_count 32"},
		{"gating", "deepseek2.expert_gating_func", uint32(3), "deepseek2: expert_gating_func 3 is not supported (1 softmax, 2 sigmoid)"},
		{"latent rank", "deepseek2.attention.kv_lora_rank", nil, `deepseek2: metadata key "deepseek2.attention.kv_lora_rank": missing`},
		{"dense layers", "deepseek2.leading_dense_block_count", uint32(3), "deepseek2: leading_dense_block_count 3 is not between 0 and block_count 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(t, synthConfig(), tc.key, tc.v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
