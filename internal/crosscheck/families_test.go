package crosscheck

import (
	"context"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/synth"
)

// familyCases are issue 14's families, each in the shapes that exercise
// what it adds to Llama: EXAONE's NeoX rotation; EXAONE 4's post-norms and
// q/k norms, once in its 64-layer shape, whose layers slide (window 8,
// shorter than the prompt) three in four, the fourth global and unrotated;
// SmolLM3's unrotated fourth layer; OLMo 2's post-norms and full-width q/k
// norms, once with OLMo 3's sliding windows; GLM-4's sandwich norms,
// biases, fused gate/up and half-rotated heads; Granite's four
// multipliers, dense and as a mixture of experts with a shared expert;
// Mistral 3's YaRN and attention temperature; gpt-oss's sinks, biases,
// alternating windows (8, shorter than the prompt), YaRN and experts
// weighted by a softmax over the chosen, with the clamp at 7 reached.
var familyCases = []qwenPhiCase{
	{"exaone gqa", func(c *synth.Config) { c.Arch, c.RopeBase = "exaone", 1e6 }, nil},
	{"exaone mha-untied", func(c *synth.Config) { c.Arch, c.KVHeads, c.Untied = "exaone", 4, true }, nil},
	{"exaone4 gqa", func(c *synth.Config) { postNormScales(c); c.Arch = "exaone4" }, nil},
	{"exaone4 swa-64-layers", func(c *synth.Config) {
		postNormScales(c)
		c.Arch, c.Layers, c.Dim, c.FFN, c.SlidingWindow = "exaone4", 64, 128, 256, 8
	}, nil},
	{"smollm3 gqa-4-layers", func(c *synth.Config) { c.Arch, c.Layers = "smollm3", 4 }, nil},
	{"olmo2 gqa", func(c *synth.Config) { postNormScales(c); c.Arch = "olmo2" }, nil},
	{"olmo2 swa-4-layers", func(c *synth.Config) { postNormScales(c); c.Arch, c.Layers, c.SlidingWindow = "olmo2", 4, 8 }, nil},
	{"glm4 gqa", func(c *synth.Config) { c.Arch = "glm4" }, nil},
	{"granite gqa", func(c *synth.Config) { c.Arch = "granite" }, nil},
	{"granitemoe 8x2-shared", func(c *synth.Config) { c.Arch, c.Experts, c.ExpertsUsed = "granitemoe", 8, 2 }, nil},
	{"mistral3 yarn-temperature", func(c *synth.Config) { c.Arch = "mistral3" }, nil},
	{"gpt-oss 8x2-swa", func(c *synth.Config) { c.Arch, c.Experts, c.ExpertsUsed, c.SlidingWindow = "gpt-oss", 8, 2, 8 }, nil},
	{"deepseek2 mla-lite-26-layers", func(c *synth.Config) { postNormScales(c); c.Arch, c.Layers = "deepseek2", 26 }, nil},
	{"deepseek2 mla-v3", func(c *synth.Config) { c.Arch, c.QLoraRank = "deepseek2", 96 }, nil},
	{"qwen35 deltanet-8-layers", func(c *synth.Config) { c.Arch, c.Layers = "qwen35", 8 }, nil},
	{"qwen35moe 8x2-shared-4-layers", func(c *synth.Config) { c.Arch, c.Layers = "qwen35moe", 4 }, nil},
	{"qwen3next 8x2-shared-4-layers", func(c *synth.Config) { c.Arch, c.Layers = "qwen3next", 4 }, nil},
	{"granitehybrid mamba2-8-layers", func(c *synth.Config) { c.Arch, c.Layers = "granitehybrid", 8 }, nil},
	{"granitehybrid mamba2-moe-4-layers", func(c *synth.Config) { c.Arch, c.Layers, c.Experts = "granitehybrid", 4, 8 }, nil},
}

// postNormScales gives a family that norms its blocks' outputs (EXAONE 4,
// OLMo 2) the Gemma cross-check's scales, for the reason given at
// gemmaWeightScale: such blocks add more to the residual stream than a
// Llama block of the same weight scale, and at 0.15 llama.cpp's own
// rounding differences grow past the quantized tolerance over 64 layers.
func postNormScales(c *synth.Config) { c.WeightScale, c.AttnScale = gemmaWeightScale, gemmaAttnScale }

// TestFamiliesMatchLlamaCpp is issue 14's cross-check of the new families:
// for every case in F32, Q8_0 and Q4_K_M, the last prompt position's
// log-probabilities within the type's tolerance of llama.cpp's and 32
// greedy tokens identical.
func TestFamiliesMatchLlamaCpp(t *testing.T) { crossCheckCases(t, familyCases) }

// TestFamiliesCrossCheckCanFail shows the cross-check sees each family's
// distinctive part: ondo evaluating a copy of the file with that part
// changed must land far outside the F32 tolerance of llama.cpp on the
// original.
func TestFamiliesCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	toks := prompt(promptLen, 512)
	find := func(name string) qwenPhiCase {
		for _, c := range familyCases {
			if c.name == name {
				return c
			}
		}
		t.Fatalf("no case %q", name)
		return qwenPhiCase{}
	}
	for _, m := range []struct {
		name  string
		base  string
		edits map[string]any
	}{
		{"exaone4: window 8→9", "exaone4 swa-64-layers", map[string]any{"exaone4.attention.sliding_window": uint32(9)}},
		{"olmo2: window 8→16", "olmo2 swa-4-layers", map[string]any{"olmo2.attention.sliding_window": uint32(16)}},
		{"glm4: rotate 64 of 64 instead of 32", "glm4 gqa", map[string]any{"glm4.rope.dimension_count": uint32(64)}},
		{"granite: residual scale 0.5→1", "granite gqa", map[string]any{"granite.residual_scale": float32(1)}},
		{"granite: attention scale 0.1→0.3", "granite gqa", map[string]any{"granite.attention.scale": float32(0.3)}},
		{"granite: embedding scale 3→1", "granite gqa", map[string]any{"granite.embedding_scale": float32(1)}},
		{"granite: logit scale 2→2.5", "granite gqa", map[string]any{"granite.logit_scale": float32(2.5)}},
		{"granitemoe: no shared expert", "granitemoe 8x2-shared", map[string]any{"granitemoe.expert_shared_feed_forward_length": uint32(0)}},
		{"mistral3: temperature 0.1→0.2", "mistral3 yarn-temperature", map[string]any{"mistral3.attention.temperature_scale": float32(0.2)}},
		{"mistral3: YaRN off", "mistral3 yarn-temperature", map[string]any{"mistral3.rope.scaling.type": "linear"}},
		// Read as Llama: adjacent-pair instead of NeoX rotation (EXAONE),
		// every layer rotated (SmolLM3).
		{"exaone as llama", "exaone gqa", map[string]any{"general.architecture": "llama"}},
		{"smollm3 as llama", "smollm3 gqa-4-layers", map[string]any{"general.architecture": "llama"}},
	} {
		right := qwenPhiModel(t, dir, find(m.base), "F32")
		ref, err := lc.Eval(context.Background(), right, toks, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		edits := m.edits
		if a, ok := edits["general.architecture"].(string); ok {
			edits = renameArch(t, right, a)
		}
		wrong := withMetadata(t, right, strings.NewReplacer(" ", "_", ":", "", "→", "-").Replace(m.name), edits)
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}

// renameArch returns the metadata edits that make the file at path read as
// architecture arch: general.architecture and every key of the old
// architecture under the new name (the old keys are left in place, where
// they do nothing).
func renameArch(t *testing.T, path, arch string) map[string]any {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old, _ := f.Architecture()
	edits := map[string]any{"general.architecture": arch}
	for _, kv := range f.KV {
		if rest, ok := strings.CutPrefix(kv.Key, old+"."); ok {
			edits[arch+"."+rest] = kv.Value
		}
	}
	return edits
}
