package gptoss

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/synthtest"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// synthConfig is the cross-check's gpt-oss shape (internal/crosscheck):
// the tiny preset with 8 experts, 2 per token, window 8.
func synthConfig() synth.Config {
	c, _ := synth.Preset("tiny")
	c.Arch, c.Experts, c.ExpertsUsed, c.SlidingWindow = "gpt-oss", 8, 2, 8
	c.Seed, c.WeightScale, c.AttnScale = 7, 0.15, 5
	return c
}

func open(t *testing.T, c synth.Config, edit synthtest.Edit) (model.Model, error) {
	t.Helper()
	return synthtest.Open(t, c, edit)
}

// edit is synthtest.Set.
func edit(key string, v any, drop string) synthtest.Edit { return synthtest.Set(key, v, drop) }

// logits evaluates toks and returns the last position's logits.
func logits(t *testing.T, m model.Model, toks []int32) []float32 {
	t.Helper()
	c, err := m.NewCache(0, false)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, m.Info().VocabSize)
	if err := m.Forward(context.Background(), model.SeqBatch(c, toks, 0, false), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClampReached shows that the cross-check's shape drives the experts
// into the clamp: the same model without it gives other logits, so the
// cross-check's agreement with llama.cpp covers the clamp too.
func TestClampReached(t *testing.T) {
	toks := []int32{1, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312}
	m, err := open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Arch != "gpt-oss" || info.HeadDim != 64 || info.Heads != 4 {
		t.Errorf("info %+v", info)
	}
	clamped := logits(t, m, toks)
	defer func(l float32) { swigluLimit = l }(swigluLimit)
	swigluLimit = float32(math.Inf(1))
	m2, err := open(t, synthConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	free := logits(t, m2, toks)
	worst := 0.0
	for i := range free {
		worst = max(worst, math.Abs(float64(free[i]-clamped[i])))
	}
	if worst < 1e-2 {
		t.Errorf("without the clamp the logits move by at most %.3g: the clamp is not reached", worst)
	}
}

// TestLoadErrors checks that a file missing a part of gpt-oss is refused
// with an error naming it.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit synthtest.Edit
		want string
	}{
		{"no sinks", edit("", nil, "blk.1.attn_sinks.weight"), `gpt-oss: missing tensor "blk.1.attn_sinks.weight"`},
		{"no router bias", edit("", nil, "blk.0.ffn_gate_inp.bias"), `gpt-oss: missing tensor "blk.0.ffn_gate_inp.bias"`},
		{"no expert down bias", edit("", nil, "blk.0.ffn_down_exps.bias"), `gpt-oss: missing tensor "blk.0.ffn_down_exps.bias"`},
		{"no window", edit("gpt-oss.attention.sliding_window", nil, ""), `gpt-oss: metadata key "gpt-oss.attention.sliding_window": missing`},
		{"no experts", edit("gpt-oss.expert_count", nil, ""), `gpt-oss: metadata key "gpt-oss.expert_count": missing`},
		{"bad swa base", edit("gpt-oss.rope.freq_base_swa", float32(-1), ""), "gpt-oss: rope.freq_base_swa -1 is not a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := open(t, synthConfig(), tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
