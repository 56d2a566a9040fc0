package crosscheck

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// rankCases are the rerankers of issue 14: a BERT cross-encoder with its
// dense+tanh head and one output (bge-reranker's layout), a
// Qwen3-Reranker (the "yes"/"no" rows of the classifier on the last token,
// softmaxed) and a ModernBERT cross-encoder (mean, dense, GELU, layer norm,
// one output: gte-reranker-modernbert's layout).
var rankCases = []struct {
	name  string
	edit  func(*synth.Config)
	types []string
}{
	{"bert-reranker", func(c *synth.Config) { c.Arch, c.KVHeads, c.Pooling = "bert", c.Heads, "rank" }, []string{"F32", "Q8_0"}},
	{"qwen3-reranker", func(c *synth.Config) { c.Arch, c.HeadDim, c.Pooling = "qwen3", 96, "rank" }, []string{"F32", "Q8_0", "Q4_K_M"}},
	{"modernbert-reranker", func(c *synth.Config) { modernBert(c); c.Pooling = "rank" }, []string{"F32", "Q8_0"}},
}

// rankInputs are token sequences standing for formatted query–document
// pairs of several lengths.
func rankInputs() [][]int32 {
	var in [][]int32
	for _, n := range []int{5, 12, 24, 40} {
		p := prompt(n, 512)
		for i := range p {
			p[i] = (p[i] + int32(7*n)) % 512
		}
		in = append(in, p)
	}
	return in
}

// rankOndo returns ondo's scores of the inputs on the model at path.
func rankOndo(t *testing.T, path string, inputs [][]int32) []float32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r, ok := m.(model.Ranker)
	if !ok {
		t.Fatalf("%s: the model does not rank", path)
	}
	var out []float32
	for _, toks := range inputs {
		s, err := r.Rank(context.Background(), toks)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// rankTol is the largest score difference allowed: scores are logits (BERT)
// or probabilities (Qwen3), of order 1.
func rankTol(typ string) float64 {
	if typ == "F32" {
		return 1e-3
	}
	return 2e-2
}

// TestRankMatchesLlamaCpp cross-checks the rerankers against llama.cpp's
// ranking context: every pair's score within the type's tolerance, and the
// same order.
func TestRankMatchesLlamaCpp(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	inputs := rankInputs()
	var table []string
	for _, tc := range rankCases {
		for _, typ := range tc.types {
			t.Run(tc.name+"/"+typ, func(t *testing.T) {
				path := synthFile(t, dir, tc.name, typ, tc.edit)
				ours := rankOndo(t, path, inputs)
				worst, order := 0.0, true
				var theirs []float32
				for i, toks := range inputs {
					s, _, err := lc.Rank(context.Background(), path, toks, 1)
					if err != nil {
						t.Fatal(err)
					}
					theirs = append(theirs, s)
					worst = max(worst, math.Abs(float64(ours[i]-s)))
				}
				for i := range inputs {
					for j := range inputs {
						if (ours[i] < ours[j]) != (theirs[i] < theirs[j]) && math.Abs(float64(theirs[i]-theirs[j])) > rankTol(typ) {
							order = false
						}
					}
				}
				status := "ok"
				if worst > rankTol(typ) || !order {
					status = "FAIL"
					t.Errorf("max |Δ score| %.3g (tolerance %.0e), same order %v\n ondo      %v\n llama.cpp %v", worst, rankTol(typ), order, ours, theirs)
				}
				table = append(table, fmt.Sprintf("| %s | %s | %.3f…%.3f | %.2e | %v | %s |", tc.name, typ, minf(theirs), maxf(theirs), worst, order, status))
			})
		}
	}
	t.Logf("reranking cross-check against llama.cpp's ranking context (%d pairs, 1 thread)\n"+
		"| model | type | llama.cpp scores | max abs Δ score | same order | result |\n|---|---|---|---|---|---|\n%s",
		len(inputs), strings.Join(table, "\n"))
}

// TestRankCrossCheckCanFail shows the reranking check sees the head: ondo
// evaluating a copy whose classification head is 10% larger lands far
// outside the F32 tolerance.
func TestRankCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	inputs := rankInputs()
	for _, tc := range rankCases {
		right := synthFile(t, dir, tc.name, "F32", tc.edit)
		wrong := rewrite(t, right, strings.TrimSuffix(right, ".gguf")+"-wrong.gguf", func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
			return f.KV, copyTensors(f, func(name string, data []byte) []byte {
				if name != "cls.output.weight" {
					return data
				}
				return scaleF32(data, 1.1)
			})
		})
		ours := rankOndo(t, wrong, inputs)
		worst := 0.0
		for i, toks := range inputs {
			s, _, err := lc.Rank(context.Background(), right, toks, 1)
			if err != nil {
				t.Fatal(err)
			}
			worst = max(worst, math.Abs(float64(ours[i]-s)))
		}
		t.Logf("%s: head ×1.1: max |Δ score| %.3g", tc.name, worst)
		if worst < 10*rankTol("F32") {
			t.Errorf("%s: a head 10%% larger moves the scores by only %.3g", tc.name, worst)
		}
	}
}

func minf(v []float32) float32 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxf(v []float32) float32 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// scaleF32 multiplies the little-endian float32 values in data by k.
func scaleF32(data []byte, k float32) []byte {
	out := make([]byte, len(data))
	for i := 0; i+4 <= len(data); i += 4 {
		u := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		u = math.Float32bits(math.Float32frombits(u) * k)
		out[i], out[i+1], out[i+2], out[i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return out
}
