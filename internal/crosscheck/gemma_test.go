package crosscheck

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
)

// gemmaCase is one synthetic Gemma model: the tiny preset changed by edit.
type gemmaCase struct {
	name string
	edit func(*synth.Config)
}

// gemmaCases cover what the Gemma families add: Gemma 2's soft caps, post
// norms, GeGLU and a sliding window of 8 on layer 0 (layer 1 global), with
// a head size of 128 over a dim of 256; Gemma 3's per-head q/k norms and
// the default pattern over 6 layers (0–4 sliding with base 10000, 5 global
// with base 1e6 and linear scaling by 8), with grouped and full attention.
var gemmaCases = []gemmaCase{
	{"gemma2 gqa hd128", func(c *synth.Config) { c.Arch, c.HeadDim = "gemma2", 128 }},
	{"gemma2 mha", func(c *synth.Config) { c.Arch, c.KVHeads = "gemma2", 4 }},
	{"gemma3 gqa hd128", func(c *synth.Config) { c.Arch, c.Layers, c.HeadDim, c.RopeBase = "gemma3", 6, 128, 1e6 }},
	{"gemma3 mha", func(c *synth.Config) { c.Arch, c.Layers, c.KVHeads, c.RopeBase = "gemma3", 6, 4, 1e6 }},
}

// gemmaPrompts are the prompt lengths: 3 and 6 windows of 8. The greedy
// continuation adds 32 more positions.
var gemmaPrompts = []int{24, 48}

// gemmaWeightScale and gemmaAttnScale play the part of weightScale and
// attnScale. Gemma's norms after the attention and the feed-forward block
// undo the shrinking of the weights before them, so synth scales those norms
// by the weight scale instead, and a Gemma block adds more to the residual
// stream than a Llama block of the same scale: at 0.15, llama.cpp's own
// batch and token-by-token results for Gemma 3 Q4_K_M parted by up to 4e-2,
// beyond the 2e-2 tolerance. At 0.1 they stay within about 1.3e-2. The
// attention scale keeps q and k at the llama check's 0.15 × 5 = 0.75 of full
// scale, so attention is as sharp.
const (
	gemmaWeightScale = 0.1
	gemmaAttnScale   = 7.5
)

// gemmaRingBatch is the pass size of the second ondo run: its sliding
// layers keep 8−1+4 = 11 positions in a ring, so most of the sequence is
// evicted while it is evaluated.
const gemmaRingBatch = 4

// gemmaModel writes the synthetic model of a case in the cross-check's
// usual form: the tiny preset, seed 7, the Gemma weight and attention
// scales, pure types except the _M mixes.
func gemmaModel(t *testing.T, dir string, tc gemmaCase, typ string) string {
	t.Helper()
	cfg, _ := synth.Preset("tiny")
	cfg.Type = typ
	cfg.Pure = !strings.HasSuffix(typ, "_M")
	cfg.Seed = 7
	cfg.WeightScale = gemmaWeightScale
	cfg.AttnScale = gemmaAttnScale
	tc.edit(&cfg)
	path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+"-"+typ+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOndoWith is runOndo with a model configuration: the batch size sets
// the length of the sliding layers' rings.
func runOndoWith(t *testing.T, path string, tokens []int32, n int, cfg model.Config) result {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.NewCache(len(tokens)+n+1, true)
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, m.Info().VocabSize)
	ctx := context.Background()
	if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, false), logits); err != nil {
		t.Fatal(err)
	}
	r := result{logprobs: sample.LogSoftmax(nil, logits)}
	greedy := sample.New(sample.Config{Temperature: 0})
	for i := 0; i < n; i++ {
		id := greedy.Sample(logits)
		r.greedy = append(r.greedy, id)
		r.steps = append(r.steps, sample.LogSoftmax(nil, logits))
		if i == n-1 {
			break
		}
		if err := m.Forward(ctx, model.SeqBatch(c, []int32{id}, len(tokens)+i, false), logits); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != len(tokens)+n-1 {
		t.Fatalf("cache holds %d positions, want %d", c.Len(), len(tokens)+n-1)
	}
	return r
}

// TestGemmaMatchesLlamaCpp is issue 6's cross-check for Gemma 2 and 3: for
// every case, type and prompt (all longer than the sliding window), the
// last prompt position's log-probabilities within the type's tolerance of
// llama.cpp's and 32 greedy tokens identical; and the same again with ondo
// evaluating in passes of 4 tokens, its sliding layers in rings of 11
// positions, which must agree with the full-cache run to float32 rounding.
//
// llama.cpp runs with node-llama-cpp's defaults: its SWA cache
// (swa_full off), which masks with the same rule (a token at p sees
// (p−n_swa, p]) as its full cache, so both evaluate the model's attention.
func TestGemmaMatchesLlamaCpp(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, tc := range gemmaCases {
		for _, ty := range qwenPhiTypes {
			path := gemmaModel(t, dir, tc, ty.typ)
			for _, n := range gemmaPrompts {
				t.Run(fmt.Sprintf("%s/%s/prompt%d", tc.name, ty.typ, n), func(t *testing.T) {
					toks := prompt(n, 512)
					c := crossCheck(t, path, toks, ty.tol)
					ref, err := lc.Eval(context.Background(), path, toks, greedySteps, 1)
					if err != nil {
						t.Fatal(err)
					}
					full := runOndo(t, path, toks, greedySteps)
					ring := runOndoWith(t, path, toks, greedySteps, model.Config{Threads: 2, BatchSize: gemmaRingBatch})
					ringDiff, _ := compare(ring, result{logprobs: ref.LogProbs})
					selfDiff, firstDiff := compare(ring, full)
					ringCell := fmt.Sprintf("%.2e (vs full cache %.1e)", ringDiff, selfDiff)
					if firstDiff >= 0 {
						ringCell += fmt.Sprintf(", greedy parts at %d", firstDiff)
					}
					family, variant, _ := strings.Cut(tc.name, " ")
					table = append(table, c.row(family, variant, ty.typ, fmt.Sprint(n), ringCell))
					if c.err != nil {
						t.Error(c.err)
					}
					if ringDiff > ty.tol {
						t.Errorf("ring cache: max |Δ log-prob| vs llama.cpp %.3e > %.0e", ringDiff, ty.tol)
					}
					if selfDiff > 1e-4 || firstDiff >= 0 {
						t.Errorf("ring cache differs from the full cache: max |Δ log-prob| %.3e, greedy parts at %d", selfDiff, firstDiff)
					}
				})
			}
		}
	}
	t.Logf("cross-check against llama.cpp (sliding window 8, %d greedy steps, weight scale %.2f, attention scale %.1f)\n"+
		"| family | variant | type | prompt | ring cache (%d-token passes): max abs Δ logprob vs llama.cpp | %s\n|---|---|---|---|---|---|---|---|---|\n%s",
		greedySteps, gemmaWeightScale, gemmaAttnScale, gemmaRingBatch, tableHeader, strings.Join(table, "\n"))
}

// withMetadata writes a copy of the GGUF file at path, named after name,
// with the metadata keys in edits set (or added) to new values.
func withMetadata(t *testing.T, path, name string, edits map[string]any) string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kvs []gguf.KV
	for _, kv := range f.KV {
		if _, ok := edits[kv.Key]; !ok {
			kvs = append(kvs, kv)
		}
	}
	for k, v := range edits {
		kvs = append(kvs, gguf.NewKV(k, v))
	}
	specs := make([]gguf.TensorSpec, len(f.Tensors))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		specs[i] = gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: f.TensorData(ti)}
	}
	out := filepath.Join(filepath.Dir(path), name+".gguf")
	if err := gguf.WriteFile(out, kvs, specs); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGemmaCrossCheckCanFail shows the Gemma cross-check catches the
// mistakes its features invite: ondo evaluating a copy of the model whose
// window, window pattern, soft caps or RoPE settings are slightly off must
// land far outside the tolerance of llama.cpp on the original.
func TestGemmaCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	toks := prompt(gemmaPrompts[1], 512)
	mutations := map[string][]struct {
		name string
		kv   map[string]any
	}{
		"gemma2": {
			{"window 8→9", map[string]any{"gemma2.attention.sliding_window": uint32(9)}},
			{"every layer sliding", map[string]any{"gemma2.attention.sliding_window_pattern": uint32(0)}},
			{"attention soft cap 2→50", map[string]any{"gemma2.attn_logit_softcapping": float32(50)}},
			{"final soft cap 10→30", map[string]any{"gemma2.final_logit_softcapping": float32(30)}},
		},
		"gemma3": {
			{"window 8→9", map[string]any{"gemma3.attention.sliding_window": uint32(9)}},
			{"global every 2nd layer, not 6th", map[string]any{"gemma3.attention.sliding_window_pattern": uint32(2)}},
			{"sliding layers with the global base 1e6", map[string]any{"gemma3.rope.freq_base_swa": float32(1e6)}},
			{"global rope scaling 8→1", map[string]any{"gemma3.rope.scaling.factor": float32(1)}},
		},
	}
	for _, tc := range []gemmaCase{gemmaCases[0], gemmaCases[2]} {
		path := gemmaModel(t, dir, tc, "F32")
		ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		theirs := result{logprobs: ref.LogProbs}
		family, _, _ := strings.Cut(tc.name, " ")
		for i, mu := range mutations[family] {
			wrong := withMetadata(t, path, fmt.Sprintf("%s-wrong%d", family, i), mu.kv)
			diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
			t.Logf("%s, %s: max |Δ log-prob| %.3g", tc.name, mu.name, diff)
			if diff < 10*qwenPhiTypes[0].tol {
				t.Errorf("%s, %s: difference %.3g is not far outside the tolerance %.0e", tc.name, mu.name, diff, qwenPhiTypes[0].tol)
			}
		}
	}
}

// gemma4Cases are Gemma 4 dense models: five sliding layers (window 8,
// heads of 64 over 2 key/value heads) and a global one (heads of 128 over
// one key/value head, values from the keys, a quarter of each head
// rotated), soft-capped logits, each layer's output scaled.
var gemma4Cases = []qwenPhiCase{
	{"gemma4 6-layers", func(c *synth.Config) {
		c.Arch, c.Layers, c.HeadDim, c.RopeBase = "gemma4", 6, 64, 1e6
		c.WeightScale, c.AttnScale = gemma4WeightScale, gemmaAttnScale
	}, nil},
	// E2B/E4B's shape: per-layer embeddings 32 wide, the last two of 8
	// layers attending to layer 4's keys and values.
	{"gemma4 e-8-layers-shared", func(c *synth.Config) {
		c.Arch, c.Layers, c.HeadDim, c.RopeBase, c.PerLayer, c.SharedKV = "gemma4", 8, 64, 1e6, 32, 2
		c.WeightScale, c.AttnScale = gemma4WeightScale, gemmaAttnScale
	}, nil},
	// 26B-A4B's shape: a dense GeGLU beside 8 GeGLU experts (2 per token)
	// on every layer, routed on the scaled RMS of the attention output.
	{"gemma4 moe-8x2", func(c *synth.Config) {
		c.Arch, c.Layers, c.HeadDim, c.RopeBase, c.Experts, c.ExpertsUsed = "gemma4", 6, 64, 1e6, 8, 2
		c.WeightScale, c.AttnScale = gemma4WeightScale, gemmaAttnScale
	}, nil},
}

// gemma4WeightScale is smaller than Gemma 3's: unscaled scores over
// normed q, k and v make a Gemma 4 block more sensitive, and at 0.1
// llama.cpp's own batch and token-by-token results for Q4_K_M part by
// 3e-2, beyond the quantized tolerance.
const gemma4WeightScale = 0.05

// TestGemma4MatchesLlamaCpp is issue 14's cross-check of Gemma 4.
func TestGemma4MatchesLlamaCpp(t *testing.T) { crossCheckCases(t, gemma4Cases) }

// TestGemma4CrossCheckCanFail shows the Gemma 4 cross-check sees its
// parts: ondo on a copy with one of them changed lands far outside the
// F32 tolerance of llama.cpp on the original.
func TestGemma4CrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	toks := prompt(promptLen, 512)
	right := qwenPhiModel(t, dir, gemma4Cases[0], "F32")
	ref, err := lc.Eval(context.Background(), right, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"window 8→9", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "gemma4.attention.sliding_window", uint32(9)), copyTensors(f, nil)
		}},
		{"sliding layers' rope base 10000→1e6", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "gemma4.rope.freq_base_swa", float32(1e6)), copyTensors(f, nil)
		}},
		{"final soft cap 10→20", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "gemma4.final_logit_softcapping", float32(20)), copyTensors(f, nil)
		}},
		{"global layers rotate every pair", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if name != "rope_freqs.weight" {
					return data
				}
				out := scaleF32(data, 0)
				for j := 0; j+4 <= len(out); j += 4 { // every factor 1
					out[j], out[j+1], out[j+2], out[j+3] = 0, 0, 0x80, 0x3f
				}
				return out
			})
		}},
		{"no layer output scale", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			var specs []gguf.TensorSpec
			for _, s := range copyTensors(f, nil) {
				if !strings.HasSuffix(s.Name, "layer_output_scale.weight") {
					specs = append(specs, s)
				}
			}
			return f.KV, specs
		}},
	} {
		wrong := rewrite(t, right, filepath.Join(dir, fmt.Sprintf("gemma4-wrong-%d.gguf", i)), tc.edit)
		gemma4MustDiffer(t, tc.name, wrong, ref.LogProbs)
	}
	// E2B/E4B: the per-layer embeddings.
	eRight := qwenPhiModel(t, dir, gemma4Cases[1], "F32")
	eRef, err := lc.Eval(context.Background(), eRight, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name   string
		change func(string, []byte) []byte
	}{
		{"per-layer token embeddings ×2", func(name string, data []byte) []byte {
			if name == "per_layer_token_embd.weight" {
				return scaleF32(data, 2)
			}
			return data
		}},
		{"per-layer output norms zeroed", func(name string, data []byte) []byte {
			if strings.HasSuffix(name, ".post_norm.weight") {
				return make([]byte, len(data))
			}
			return data
		}},
	} {
		wrong := rewrite(t, eRight, filepath.Join(dir, fmt.Sprintf("gemma4-e-wrong-%d.gguf", i)), func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, tc.change)
		})
		gemma4MustDiffer(t, tc.name, wrong, eRef.LogProbs)
	}
	// 26B-A4B: the router's input scale and the experts' output scales.
	mRight := qwenPhiModel(t, dir, gemma4Cases[2], "F32")
	mRef, err := lc.Eval(context.Background(), mRight, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, suffix := range []string{"ffn_gate_inp.scale", "ffn_down_exps.scale"} {
		wrong := rewrite(t, mRight, filepath.Join(dir, fmt.Sprintf("gemma4-moe-wrong-%d.gguf", i)), func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if strings.HasSuffix(name, suffix) {
					return scaleF32(data, 3)
				}
				return data
			})
		})
		gemma4MustDiffer(t, suffix+" ×3", wrong, mRef.LogProbs)
	}
}

// gemma4MustDiffer checks that ondo on the file wrong lands far outside
// the F32 tolerance of llama.cpp's log-probabilities ref on the original.
func gemma4MustDiffer(t *testing.T, name, wrong string, ref []float32) {
	t.Helper()
	diff, _ := compare(runOndo(t, wrong, prompt(promptLen, 512), 1), result{logprobs: ref})
	t.Logf("gemma4: %s: max |Δ log-prob| %.3g", name, diff)
	if diff < 10*qwenPhiTypes[0].tol {
		t.Errorf("gemma4: %s: difference %.3g is not far outside the tolerance %.0e", name, diff, qwenPhiTypes[0].tol)
	}
}
