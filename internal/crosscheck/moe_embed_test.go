package crosscheck

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/synth"
)

// moeModels are the mixture-of-experts shapes of the cross-check: Mixtral's
// layout in a llama file (8 experts, 2 per token, each feed_forward_length
// wide) and Qwen3-MoE (16 experts, 4 per token, experts narrower than the
// embedding, heads wider than it: key_length 128 over an embedding of
// 256).
var moeModels = []struct {
	name   string
	mutate func(*synth.Config)
}{
	{"llama-8x2", func(c *synth.Config) { c.Experts, c.ExpertsUsed = 8, 2 }},
	{"qwen3moe-16x4", func(c *synth.Config) {
		c.Arch, c.Experts, c.ExpertsUsed, c.ExpertFFN, c.HeadDim = "qwen3moe", 16, 4, 256, 128
	}},
}

// moeTypes are the tensor types of the MoE cross-check, with the llama
// cross-check's tolerances.
var moeTypes = []struct {
	typ string
	tol float64
}{{"F32", 1e-3}, {"Q8_0", 2e-2}, {"Q4_K_M", 2e-2}}

// synthFile writes the tiny preset, changed by mutate, in type typ to
// dir/name-typ.gguf, with the llama cross-check's weight and attention
// scales.
func synthFile(t *testing.T, dir, name, typ string, mutate func(*synth.Config)) string {
	t.Helper()
	cfg, _ := synth.Preset("tiny")
	cfg.Type = typ
	cfg.Pure = !strings.HasSuffix(typ, "_M")
	cfg.Seed = 7
	cfg.WeightScale = weightScale
	cfg.AttnScale = attnScale
	if mutate != nil {
		mutate(&cfg)
	}
	path := filepath.Join(dir, name+"-"+typ+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMoEMatchesLlamaCpp is issue 6's mixture-of-experts cross-check: for
// each MoE shape and type, the last prompt position's log-probabilities
// must be within the type's tolerance of llama.cpp's and 32 greedy tokens
// identical.
func TestMoEMatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, mm := range moeModels {
		for _, ty := range moeTypes {
			t.Run(mm.name+"/"+ty.typ, func(t *testing.T) {
				path := synthFile(t, dir, mm.name, ty.typ, mm.mutate)
				c := crossCheck(t, path, prompt(promptLen, 512), ty.tol)
				table = append(table, c.row(mm.name, ty.typ))
				if c.err != nil {
					t.Error(c.err)
				}
			})
		}
	}
	t.Logf("MoE cross-check against llama.cpp (prompt %d tokens, %d greedy steps, weight scale %.2f, attention scale %.0f)\n"+
		"| model | type | %s\n|---|---|---|---|---|---|\n%s",
		promptLen, greedySteps, weightScale, attnScale, tableHeader, strings.Join(table, "\n"))
}

// TestMoECrossCheckCanFail shows that routing matters to the check: the
// same weights evaluated with fewer experts per token, with two experts'
// rows of the router swapped or with two experts' down matrices swapped
// land far outside the tolerance.
func TestMoECrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	mm := moeModels[1]
	path := synthFile(t, dir, mm.name, "F32", mm.mutate)
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	theirs := result{logprobs: ref.LogProbs}
	for name, edit := range map[string]func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec){
		"2 experts per token instead of 4": func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "qwen3moe.expert_used_count", uint32(2)), copyTensors(f, nil)
		},
		"down matrices of experts 0 and 1 swapped": func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if !strings.HasSuffix(name, "ffn_down_exps.weight") {
					return data
				}
				size := len(data) / 16
				b := append([]byte(nil), data...)
				copy(b[:size], data[size:2*size])
				copy(b[size:2*size], data[:size])
				return b
			})
		},
		"router rows of experts 0 and 1 swapped": func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if !strings.HasSuffix(name, "ffn_gate_inp.weight") {
					return data
				}
				row := len(data) / 16
				b := append([]byte(nil), data...)
				copy(b[:row], data[row:2*row])
				copy(b[row:2*row], data[:row])
				return b
			})
		},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
		t.Logf("%s: max |Δ log-prob| %.3g", name, diff)
		if diff < 10*moeTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", name, diff, moeTypes[0].tol)
		}
	}
}

// rewrite writes a copy of the GGUF file at src to dst with the metadata
// and tensors edit returns.
func rewrite(t *testing.T, src, dst string, edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)) string {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kvs, specs := edit(f)
	if err := gguf.WriteFile(dst, kvs, specs); err != nil {
		t.Fatal(err)
	}
	return dst
}

// setKV returns f's metadata with key set to v (added when absent).
func setKV(f *gguf.File, key string, v any) []gguf.KV {
	var kvs []gguf.KV
	found := false
	for _, kv := range f.KV {
		if kv.Key == key {
			kv, found = gguf.NewKV(key, v), true
		}
		kvs = append(kvs, kv)
	}
	if !found {
		kvs = append(kvs, gguf.NewKV(key, v))
	}
	return kvs
}

// copyTensors returns specs that copy f's tensors, their bytes passed
// through change when it is not nil.
func copyTensors(f *gguf.File, change func(name string, data []byte) []byte) []gguf.TensorSpec {
	specs := make([]gguf.TensorSpec, len(f.Tensors))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		data := append([]byte(nil), f.TensorData(ti)...)
		if change != nil {
			data = change(ti.Name, data)
		}
		specs[i] = gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: data}
	}
	return specs
}

// embedTexts are the cross-check's texts: words, punctuation, digits,
// upper case (lower-cased by WordPiece) and one word the synthetic
// vocabulary must split into many pieces.
var embedTexts = []string{
	"The quick brown fox jumps over the lazy dog.",
	"Hello, World! 42 embeddings; (tiny) models?",
	"zyzzyva",
}

// embedCheck is one row of the embedding cross-check.
type embedCheck struct {
	cosine  float64 // smallest cosine similarity over the texts
	relDiff float64 // largest ‖ours − theirs‖ / ‖theirs‖ before normalisation
	dims    int
	err     error
}

// embedRelTol bounds ‖ours − theirs‖ / ‖theirs‖ of the raw embeddings, a
// much finer test than the cosine: 1e-3 for F32 weights, 1e-2 for
// quantized ones (llama.cpp's quantized activations and its flash
// attention's fp16 rounding move results by a few 1e-3).
func embedRelTol(typ string) float64 {
	if typ == "F32" {
		return 1e-3
	}
	return 1e-2
}

// crossCheckEmbed embeds every text with ondo (unnormalised, so magnitudes
// compare too, and normalised, which must be the same direction) and with
// llama.cpp's embedding context, and requires cosine similarity ≥ 0.999
// and a relative difference within relTol.
func crossCheckEmbed(t *testing.T, path string, relTol float64) embedCheck {
	t.Helper()
	return compareEmbed(t, path, path, relTol)
}

// compareEmbed is crossCheckEmbed with ondo evaluating the file at ours
// and llama.cpp the one at theirs.
func compareEmbed(t *testing.T, oursPath, theirsPath string, relTol float64) embedCheck {
	t.Helper()
	lc := llamaCpp(t)
	path := oursPath
	m, err := ondo.Load(path, ondo.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	c := embedCheck{cosine: 1}
	for _, text := range embedTexts {
		raw, err := m.EmbedWith(ctx, []string{text}, ondo.EmbedOptions{Unnormalized: true})
		if err != nil {
			t.Fatal(err)
		}
		unit, err := m.Embed(ctx, []string{text})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := lc.Embed(ctx, theirsPath, text, 1)
		if err != nil {
			t.Fatal(err)
		}
		ours := raw[0]
		if len(ours) != len(ref) {
			t.Fatalf("%q: ondo's embedding has %d dimensions, llama.cpp's %d", text, len(ours), len(ref))
		}
		c.dims = len(ours)
		c.cosine = min(c.cosine, cosine(ours, ref))
		var d, n float64
		for i := range ref {
			d += sq(float64(ours[i]) - float64(ref[i]))
			n += sq(float64(ref[i]))
		}
		c.relDiff = max(c.relDiff, math.Sqrt(d/n))
		if l := math.Sqrt(dot(unit[0], unit[0])); math.Abs(l-1) > 1e-5 || cosine(unit[0], ours) < 1-1e-6 {
			c.err = fmt.Errorf("%q: the normalised embedding has length %.7f and cosine %.7f with the raw one", text, l, cosine(unit[0], ours))
		}
	}
	if c.cosine < 0.999 && c.err == nil {
		c.err = fmt.Errorf("cosine similarity %.6f < 0.999", c.cosine)
	}
	if c.relDiff > relTol && c.err == nil {
		c.err = fmt.Errorf("relative difference %.3g > %.0e", c.relDiff, relTol)
	}
	return c
}

func sq(x float64) float64 { return x * x }

func dot(a, b []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func cosine(a, b []float32) float64 { return dot(a, b) / math.Sqrt(dot(a, a)*dot(b, b)) }

// qwen3Embedding is a Qwen3-Embedding-shaped file: a dense Qwen3 with
// pooling_type last.
func qwen3Embedding(c *synth.Config) { c.Arch, c.HeadDim, c.Pooling = "qwen3", 96, "last" }

// embeddingGemma is an EmbeddingGemma-shaped file: six Gemma 3 layers, five
// of them with a window of 8 (shorter than the texts), at the Gemma
// cross-check's scales.
func embeddingGemma(c *synth.Config) {
	c.Arch, c.Layers, c.HeadDim = "gemma-embedding", 6, 64
	c.WeightScale, c.AttnScale = gemmaWeightScale, gemmaAttnScale
}

// modernBert is a ModernBERT-shaped file: three layers (the second and
// third sliding with a window of 8, shorter than the texts), NeoX
// rotation with a global base of 160000 as ModernBERT's.
func modernBert(c *synth.Config) {
	c.Arch, c.KVHeads, c.Layers, c.SlidingWindow, c.RopeBase = "modern-bert", c.Heads, 3, 8, 160000
}

// TestEmbedMatchesLlamaCpp is issue 6's embedding cross-check: BERT and
// nomic-bert encoders in each pooling and in three types, and decoders
// (llama, qwen3moe) with their default last-token pooling and with mean
// pooling, against llama.cpp's embedding context on the same texts.
func TestEmbedMatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	type row struct {
		model, arch, typ, pooling string
		mutate                    func(*synth.Config)
	}
	bertCfg := func(arch string) func(*synth.Config) {
		return func(c *synth.Config) {
			c.Arch, c.KVHeads, c.Vocab = arch, c.Heads, 512
			if arch == "nomic-bert" || arch == "jina-bert-v3" {
				c.RopeBase = 1000
			}
		}
	}
	var rows []row
	for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
		rows = append(rows, row{"bert", "bert", typ, "", bertCfg("bert")})
	}
	for _, p := range []string{"cls", "last", "none"} {
		rows = append(rows, row{"bert", "bert", "F32", p, bertCfg("bert")})
	}
	for _, a := range []string{"jina-bert-v2", "jina-bert-v3"} {
		for _, typ := range []string{"F32", "Q8_0", "Q4_K_M"} {
			rows = append(rows, row{a, a, typ, "", bertCfg(a)})
		}
	}
	rows = append(rows,
		row{"nomic-bert", "nomic-bert", "F32", "", bertCfg("nomic-bert")},
		row{"nomic-bert", "nomic-bert", "Q8_0", "", bertCfg("nomic-bert")},
		row{"llama", "llama", "F32", "", nil},
		row{"llama", "llama", "Q8_0", "", nil},
		row{"llama", "llama", "F32", "mean", nil},
		row{"llama", "llama", "F32", "cls", nil},
		row{"qwen3moe-16x4", "qwen3moe", "F32", "", moeModels[1].mutate},
		row{"qwen3moe-16x4", "qwen3moe", "Q4_K_M", "", moeModels[1].mutate},
		// Qwen3-Embedding: dense Qwen3 with last-token pooling.
		row{"qwen3-embedding", "qwen3", "F32", "", qwen3Embedding},
		row{"qwen3-embedding", "qwen3", "Q8_0", "", qwen3Embedding},
		row{"qwen3-embedding", "qwen3", "Q4_K_M", "", qwen3Embedding},
		// EmbeddingGemma: bidirectional, symmetric windows of 8 over
		// 6 layers, dense projections after mean pooling; and with CLS.
		row{"embeddinggemma", "gemma-embedding", "F32", "", embeddingGemma},
		row{"embeddinggemma", "gemma-embedding", "Q8_0", "", embeddingGemma},
		row{"embeddinggemma", "gemma-embedding", "Q4_K_M", "", embeddingGemma},
		row{"embeddinggemma", "gemma-embedding", "F32", "cls", embeddingGemma},
		// ModernBERT: layer norms, fused q/k/v and GeGLU, attention both
		// ways, a symmetric window of 8 on two layers of three.
		row{"modern-bert", "modern-bert", "F32", "", modernBert},
		row{"modern-bert", "modern-bert", "Q8_0", "", modernBert},
		row{"modern-bert", "modern-bert", "Q4_K_M", "", modernBert},
		row{"modern-bert", "modern-bert", "F32", "cls", modernBert},
	)
	var table []string
	for _, r := range rows {
		name := r.model + "/" + r.typ
		if r.pooling != "" {
			name += "/" + r.pooling
		}
		t.Run(name, func(t *testing.T) {
			path := synthFile(t, dir, r.model, r.typ, r.mutate)
			if r.pooling != "" {
				// The same weights with another pooling_type.
				code := map[string]uint32{"none": 0, "mean": 1, "cls": 2, "last": 3}[r.pooling]
				path = rewrite(t, path, strings.TrimSuffix(path, ".gguf")+"-"+r.pooling+".gguf", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
					return setKV(f, r.arch+".pooling_type", code), copyTensors(f, nil)
				})
			}
			tol := embedRelTol(r.typ)
			if r.arch == "gemma-embedding" && r.typ != "F32" {
				// EmbeddingGemma's quantized rows differ by 1.1–1.7e-2,
				// at weight scales 0.1, 0.07 and 0.05 alike: the 8-bit
				// rounding of activations, which llama.cpp and ondo share,
				// sends float32 ulps through six sandwich-normed layers
				// (20× the F32 difference without the dense projections,
				// where Llama shows 10×) and the dense projections double
				// it again. F32 agrees to 3e-4.
				tol = 2e-2
			}
			c := crossCheckEmbed(t, path, tol)
			m, err := ondo.Load(path, ondo.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			pool, _ := m.Pooling()
			m.Close()
			status := "ok"
			if c.err != nil {
				status = "FAIL"
				t.Error(c.err)
			}
			table = append(table, fmt.Sprintf("| %s | %s | %s | %d | %.7f | %.2e | %s |", r.model, r.typ, pool, c.dims, c.cosine, c.relDiff, status))
		})
	}
	t.Logf("embedding cross-check against llama.cpp's embedding context (%d texts, 1 thread)\n"+
		"| model | type | pooling | dims | min cosine | max ‖Δ‖/‖ref‖ (raw; tolerance 1e-3 F32, 1e-2 quantized) | result |\n|---|---|---|---|---|---|---|\n%s",
		len(embedTexts), strings.Join(table, "\n"))
}

// TestEmbedTokensMatchLlamaCpp checks that ondo and llama.cpp feed the
// encoder the same tokens: the WordPiece ids of the texts between [CLS] and
// [SEP].
func TestEmbedTokensMatchLlamaCpp(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	path := synthFile(t, dir, "bert", "F32", func(c *synth.Config) { c.Arch, c.KVHeads = "bert", c.Heads })
	m, err := ondo.Load(path, ondo.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, text := range embedTexts {
		ours := m.Tokenize(text, true)
		theirs, err := lc.Tokenize(context.Background(), path, text, false)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append([]int32{2}, theirs...), 3) // [CLS] … [SEP], as node-llama-cpp adds them
		if fmt.Sprint(ours) != fmt.Sprint(want) {
			t.Errorf("%q: ondo %v, llama.cpp %v", text, ours, want)
		}
	}
}

// TestEmbedCrossCheckCanFail shows what the embedding check catches: a
// BERT encoder evaluated with small mistakes (another pooling, the token
// type embedding ignored, positions shifted by one, one bias dropped) must
// land far outside the relative tolerance.
func TestEmbedCrossCheckCanFail(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	bertCfg := func(c *synth.Config) { c.Arch, c.KVHeads = "bert", c.Heads }
	path := synthFile(t, dir, "bert", "F32", bertCfg)
	zero := func(tensor string) func(string, []byte) []byte {
		return func(name string, data []byte) []byte {
			if name == tensor {
				return make([]byte, len(data))
			}
			return data
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"cls pooling instead of mean", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "bert.pooling_type", uint32(2)), copyTensors(f, nil)
		}},
		{"no token type embedding", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, zero("token_types.weight"))
		}},
		{"positions shifted by one", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if name != "position_embd.weight" {
					return data
				}
				row := 256 * 4
				return append(append([]byte(nil), data[row:]...), data[:row]...)
			})
		}},
		{"no attention output bias", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, zero("blk.1.attn_output.bias"))
		}},
	} {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), tc.edit)
		embedMustDiffer(t, tc.name, wrong, path)
	}
	// EmbeddingGemma's own parts: the symmetric window, the dense
	// projections, attention both ways (read as causal Gemma 3 layers).
	eg := synthFile(t, dir, "embeddinggemma", "F32", embeddingGemma)
	for i, tc := range []struct {
		name string
		edit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)
	}{
		{"embeddinggemma: window 8→12", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, "gemma-embedding.attention.sliding_window", uint32(12)), copyTensors(f, nil)
		}},
		{"embeddinggemma: no dense projections", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			var specs []gguf.TensorSpec
			for _, s := range copyTensors(f, nil) {
				if !strings.HasPrefix(s.Name, "dense_") {
					specs = append(specs, s)
				}
			}
			return f.KV, specs
		}},
	} {
		// Each wrong file has a path of its own: llama.cpp's peer keeps
		// models by path.
		wrong := rewrite(t, eg, filepath.Join(dir, fmt.Sprintf("eg-wrong-%d.gguf", i)), tc.edit)
		embedMustDiffer(t, tc.name, wrong, eg)
	}
	// Jina v2's query layer norm (its weights zeroed) and second attention
	// norm (dropped).
	jb := synthFile(t, dir, "jina-bert-v2", "F32", func(c *synth.Config) { c.Arch, c.KVHeads = "jina-bert-v2", c.Heads })
	for i, tc := range []struct {
		name   string
		change func(string, []byte) []byte
		drop   string
	}{
		{"jina-bert-v2: q norm weights zeroed", func(name string, data []byte) []byte {
			if strings.HasSuffix(name, "attn_q_norm.weight") {
				return make([]byte, len(data))
			}
			return data
		}, ""},
		{"jina-bert-v2: without attn_norm_2", nil, ".attn_norm_2."},
	} {
		wrong := rewrite(t, jb, filepath.Join(dir, fmt.Sprintf("jb-wrong-%d.gguf", i)), func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			var specs []gguf.TensorSpec
			for _, s := range copyTensors(f, tc.change) {
				if tc.drop == "" || !strings.Contains(s.Name, tc.drop) {
					specs = append(specs, s)
				}
			}
			return f.KV, specs
		})
		embedMustDiffer(t, tc.name, wrong, jb)
	}
	// ModernBERT's: the window and the pattern of sliding layers.
	mb := synthFile(t, dir, "modern-bert", "F32", modernBert)
	for i, edit := range []struct {
		name string
		key  string
		v    any
	}{
		{"modern-bert: window 8→12", "modern-bert.attention.sliding_window", uint32(12)},
		{"modern-bert: sliding pattern period 3→2", "modern-bert.attention.sliding_window_pattern", uint32(2)},
	} {
		wrong := rewrite(t, mb, filepath.Join(dir, fmt.Sprintf("mb-wrong-%d.gguf", i)), func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return setKV(f, edit.key, edit.v), copyTensors(f, nil)
		})
		embedMustDiffer(t, edit.name, wrong, mb)
	}
}

// embedMustDiffer checks that ondo on the file wrong lands far outside the
// F32 tolerance of llama.cpp on the file right.
func embedMustDiffer(t *testing.T, name, wrong, right string) {
	t.Helper()
	c := compareEmbed(t, wrong, right, embedRelTol("F32"))
	t.Logf("%s: min cosine %.6f, max relative difference %.3g", name, c.cosine, c.relDiff)
	if c.relDiff < 10*embedRelTol("F32") {
		t.Errorf("%s: relative difference %.3g is not far outside the tolerance %.0e", name, c.relDiff, embedRelTol("F32"))
	}
}
