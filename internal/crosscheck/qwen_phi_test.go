package crosscheck

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/synth"
)

// qwenPhiCase is one synthetic model of issue 6's families: the tiny
// preset changed by edit.
type qwenPhiCase struct {
	name string
	edit func(*synth.Config)
	// after, when set, rewrites the written file (what synth.Config
	// cannot say).
	after func(t *testing.T, path string)
}

// qwenPhiCases cover what each family adds to Llama: Qwen2's q/k/v biases
// with tied and separate classifiers; Qwen3's per-head q/k norms with a
// head size that is not dim/heads (4 heads of 96 over a dim of 256); Phi-3's
// fused attn_qkv and gate/up ffn_up with LongRoPE, once with a context
// beyond the pre-training one (long factors) and once within it (short
// factors), and a sliding window of 16 set in the metadata, shorter than
// the prompt, which llama.cpp ignores for phi3 and so must we. All rotate
// halves (NeoX).
var qwenPhiCases = []qwenPhiCase{
	{"qwen2 gqa", func(c *synth.Config) { c.Arch = "qwen2"; c.RopeBase = 1e6 }, nil},
	{"qwen2 mha-untied", func(c *synth.Config) { c.Arch, c.KVHeads, c.Untied = "qwen2", 4, true }, nil},
	{"qwen3 gqa hd96", func(c *synth.Config) { c.Arch, c.HeadDim, c.RopeBase = "qwen3", 96, 1e6 }, nil},
	{"qwen3 mha-untied", func(c *synth.Config) { c.Arch, c.KVHeads, c.Untied = "qwen3", 4, true }, nil},
	// ondo's cache holds the prompt and the greedy tokens (57 positions),
	// llama.cpp's context 256 (72 rounded up): both beyond 512/32 = 16,
	// so both take the long factors.
	{"phi3 long-rope swa16", func(c *synth.Config) { c.Arch, c.KVHeads, c.Untied, c.SlidingWindow = "phi3", 4, true, 16 }, nil},
	// Pre-training context 16384/32 = 512: both caches are within it.
	{"phi3 short-rope gqa", func(c *synth.Config) { c.Arch, c.Ctx = "phi3", 16384 }, nil},
	// Phi-4-mini rotates only part of each head (rope.dimension_count 96
	// of 128 there, 48 of 64 here): NeoX pairs i and i+24 of the first 48.
	{"phi3 partial-rope", func(c *synth.Config) { c.Arch = "phi3" }, func(t *testing.T, path string) { partialRope(t, path, 48) }},
}

// partialRope rewrites the Phi-3 model at path so that only the first dims
// elements of each head rotate, with the first dims/2 LongRoPE factors.
func partialRope(t *testing.T, path string, dims int) {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	kvs := slices.Clone(f.KV)
	for i, kv := range kvs {
		if kv.Key == "phi3.rope.dimension_count" {
			kvs[i] = gguf.NewKV(kv.Key, uint32(dims))
		}
	}
	var specs []gguf.TensorSpec
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data, shape := f.TensorData(ti), ti.Shape
		if strings.HasPrefix(ti.Name, "rope_factors_") {
			data, shape = data[:4*dims/2], []int64{int64(dims / 2)}
		}
		specs = append(specs, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: shape, Data: bytes.Clone(data)})
	}
	f.Close()
	if err := gguf.WriteFile(path, kvs, specs); err != nil {
		t.Fatal(err)
	}
}

// qwenPhiTypes are the tensor types of the cross-check with their
// tolerances, as in llamaTypes.
var qwenPhiTypes = []struct {
	typ string
	tol float64
}{{"F32", 1e-3}, {"Q8_0", 2e-2}, {"Q4_K_M", 2e-2}}

// qwenPhiModel writes the synthetic model of a case in the cross-check's
// usual form: the tiny preset, seed 7, the llama check's weight and
// attention scales, pure types except the _M mixes.
func qwenPhiModel(t *testing.T, dir string, tc qwenPhiCase, typ string) string {
	t.Helper()
	cfg, _ := synth.Preset("tiny")
	cfg.Type = typ
	cfg.Pure = !strings.HasSuffix(typ, "_M")
	cfg.Seed = 7
	cfg.WeightScale = weightScale
	cfg.AttnScale = attnScale
	tc.edit(&cfg)
	path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+"-"+typ+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	if tc.after != nil {
		tc.after(t, path)
	}
	return path
}

// TestQwenPhiMatchLlamaCpp is issue 6's cross-check: for Qwen2, Qwen3 and
// Phi-3 models in F32, Q8_0 and Q4_K_M, the last prompt position's
// log-probabilities within the type's tolerance of llama.cpp's and 32
// greedy tokens identical.
func TestQwenPhiMatchLlamaCpp(t *testing.T) { crossCheckCases(t, qwenPhiCases) }

// crossCheckCases cross-checks every case in every type of qwenPhiTypes
// and logs the table of the note: family, model, type, the differences and
// the greedy verdict.
func crossCheckCases(t *testing.T, cases []qwenPhiCase) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, tc := range cases {
		for _, ty := range qwenPhiTypes {
			t.Run(tc.name+"/"+ty.typ, func(t *testing.T) {
				path := qwenPhiModel(t, dir, tc, ty.typ)
				c := crossCheck(t, path, prompt(promptLen, 512), ty.tol)
				family, variant, _ := strings.Cut(tc.name, " ")
				table = append(table, c.row(family, variant, ty.typ))
				if c.err != nil {
					t.Error(c.err)
				}
			})
		}
	}
	t.Logf("cross-check against llama.cpp (prompt %d tokens, %d greedy steps, weight scale %.2f, attention scale %.0f)\n"+
		"| family | model | type | %s\n|---|---|---|---|---|---|---|\n%s",
		promptLen, greedySteps, weightScale, attnScale, tableHeader, strings.Join(table, "\n"))
}

// TestQwenPhiCrossCheckCanFail shows the cross-check sees the families'
// distinctive parts: ondo evaluating a model that differs from llama.cpp's
// in one of them must land far outside the F32 tolerance.
func TestQwenPhiCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	toks := prompt(promptLen, 512)
	for _, m := range []struct {
		name   string
		base   qwenPhiCase
		mutate func(*synth.Config)
	}{
		{"qwen2: rope base 1e6→2e6", qwenPhiCases[0], func(c *synth.Config) { c.RopeBase = 2e6 }},
		{"qwen3: q/k norms 10% larger", qwenPhiCases[2], func(c *synth.Config) { c.AttnScale *= 1.1 }},
		// Same weights (they do not depend on the context), but short
		// LongRoPE factors and another attention factor.
		{"phi3: short instead of long rope factors", qwenPhiCases[4], func(c *synth.Config) { c.Ctx = 16384 }},
	} {
		right := qwenPhiModel(t, dir, m.base, "F32")
		ref, err := lc.Eval(context.Background(), right, toks, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		wrongCase := qwenPhiCase{m.base.name + " wrong", func(c *synth.Config) { m.base.edit(c); m.mutate(c) }, m.base.after}
		wrong := qwenPhiModel(t, dir, wrongCase, "F32")
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
