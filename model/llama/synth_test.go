package llama_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
)

type synthRef struct {
	Tokens []int32   `json:"tokens"`
	Logits []float32 `json:"last_position_logits"`
	Argmax int       `json:"argmax"`
}

// logSoftmax returns x - logsumexp(x) in float64.
func logSoftmax(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	lse := m + math.Log(s)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - lse
	}
	return out
}

// synthTypes lists llama.cpp's quantizations of the synthetic model with
// the largest log-softmax difference from llama.cpp's logits we accept, for
// the configuration llama.cpp ran (fp16 KV cache).
//
// The K-quants go through ggml's vec_dot path, which we reproduce (Q8_K
// activations, fp16 attention operands): they agree to float32 rounding.
// llama.cpp sends the prompt matmuls of F16, BF16, Q8_0 and Q4_0 weights
// through llamafile's tinyBLAS instead, whose different summation order
// moves a few activations across a rounding boundary of their 16- or 8-bit
// form; those flips, not an error, leave differences of the size of the
// activation rounding itself (about 2^-11 for fp16, 2^-8 for bf16, 1/127 of
// a block's range for Q8_0).
var synthTypes = []struct {
	name string
	tol  float64
}{
	{"f32", 1e-4},
	{"F16", 1e-3},
	{"BF16", 5e-3},
	{"Q8_0", 2e-2},
	{"Q4_0", 2e-2},
	{"Q2_K", 1e-4},
	{"Q4_K_M", 1e-4},
	{"Q5_K_M", 1e-4},
	{"Q6_K", 1e-4},
}

// f32CacheTol bounds the log-softmax difference with a float32 KV cache,
// which llama.cpp did not use: exact attention operands move quantized
// activations across rounding boundaries just as above.
const f32CacheTol = 5e-2

// TestSynthLlamaCpp evaluates llama.cpp's reference prompt as one batch on
// every quantization of the synthetic model and compares the last
// position's logits with llama.cpp's; it also checks that evaluating the
// prompt one token at a time gives the same logits as the batch.
func TestSynthLlamaCpp(t *testing.T) {
	for _, tc := range synthTypes {
		t.Run(tc.name, func(t *testing.T) {
			var ref synthRef
			data, err := os.ReadFile(testdata.Path(t, "llamacpp-quant", "synth-llama-"+tc.name+".reference.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &ref); err != nil {
				t.Fatal(err)
			}
			_, m := load(t, "llamacpp-quant", "synth-llama-"+tc.name+".gguf")
			vocab := m.Info().VocabSize
			if len(ref.Logits) != vocab {
				t.Fatalf("reference has %d logits, model vocab %d", len(ref.Logits), vocab)
			}
			for _, f16 := range []bool{true, false} {
				c, err := m.NewCache(64, f16)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]float32, vocab)
				if err := m.Forward(context.Background(), model.SeqBatch(c, ref.Tokens, 0, false), got); err != nil {
					t.Fatal(err)
				}
				abs := maxAbsDiff(got, ref.Logits)
				ls, lr := logSoftmax(got), logSoftmax(ref.Logits)
				lsd := 0.0
				for i := range ls {
					lsd = max(lsd, math.Abs(ls[i]-lr[i]))
				}
				t.Logf("%-6s f16 cache=%v: max |logit diff| %.3g, max |log-softmax diff| %.3g", tc.name, f16, abs, lsd)
				if am := kernels.Argmax(got); am != ref.Argmax {
					t.Errorf("argmax %d, llama.cpp %d", am, ref.Argmax)
				}
				if tol := map[bool]float64{true: tc.tol, false: f32CacheTol}[f16]; lsd > tol {
					t.Errorf("f16 cache=%v: log-softmax diff %.3g > %.3g", f16, lsd, tol)
				}

				// One token at a time must agree with the batch.
				c.Reset()
				one := make([]float32, vocab)
				for p, tok := range ref.Tokens {
					if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, p, false), one); err != nil {
						t.Fatal(err)
					}
				}
				if d := maxAbsDiff(one, got); d > 1e-5 {
					t.Errorf("token-by-token vs batch: max diff %.3g > 1e-5", d)
				}
			}
		})
	}
}
