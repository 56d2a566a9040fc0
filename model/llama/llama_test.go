package llama_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/llama"
)

func load(t testing.TB, elem ...string) (*gguf.File, model.Model) {
	t.Helper()
	f, err := gguf.Open(testdata.Path(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := model.Load(f, model.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return f, m
}

type greedyRef struct {
	Prompt    []int32 `json:"prompt_tokens"`
	Generated []int32 `json:"generated_tokens"`
}

func readGreedy(t *testing.T) (greedyRef, [][]float32) {
	t.Helper()
	var ref greedyRef
	data, err := os.ReadFile(testdata.Path(t, "reference", "stories260K.greedy_bos_200.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(testdata.Path(t, "reference", "stories260K.greedy_bos_200.logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	const vocab = 512
	if len(raw) != len(ref.Generated)*vocab*4 {
		t.Fatalf("logits file has %d bytes, want %d", len(raw), len(ref.Generated)*vocab*4)
	}
	rows := make([][]float32, len(ref.Generated))
	for p := range rows {
		rows[p] = make([]float32, vocab)
		for j := range rows[p] {
			rows[p][j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[(p*vocab+j)*4:]))
		}
	}
	return ref, rows
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// TestStoriesGreedy decodes 200 tokens greedily from BOS one token at a
// time and checks ids and every logit row against llama2.c.
func TestStoriesGreedy(t *testing.T) {
	ref, want := readGreedy(t)
	for _, f16 := range []bool{false, true} {
		_, m := load(t, "gguf", "stories260K.gguf")
		c, err := m.NewCache(0, f16)
		if err != nil {
			t.Fatal(err)
		}
		vocab := m.Info().VocabSize
		logits := make([]float32, vocab)
		tok := ref.Prompt[0]
		worst := 0.0
		for p := range ref.Generated {
			if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, p, false), logits); err != nil {
				t.Fatal(err)
			}
			if !f16 {
				worst = max(worst, maxAbsDiff(logits, want[p]))
			}
			tok = int32(kernels.Argmax(logits))
			if tok != ref.Generated[p] {
				t.Fatalf("f16=%v: position %d: generated %d, want %d", f16, p, tok, ref.Generated[p])
			}
		}
		if c.Len() != len(ref.Generated) {
			t.Errorf("cache length %d, want %d", c.Len(), len(ref.Generated))
		}
		if !f16 {
			t.Logf("F32 cache: max |logit diff| vs llama2.c over 200×512: %.3g", worst)
			if worst > 1e-4 {
				t.Errorf("max logit diff %.3g > 1e-4", worst)
			}
		}
	}
}

// TestStoriesPromptBatch evaluates the first tokens of the reference
// sequence as one prompt batch (logits for every position), then continues
// one token at a time.
func TestStoriesPromptBatch(t *testing.T) {
	ref, want := readGreedy(t)
	seq := append(append([]int32{}, ref.Prompt...), ref.Generated...)
	for _, prompt := range []int{1, 7, 64, 150} {
		_, m := load(t, "gguf", "stories260K.gguf")
		vocab := m.Info().VocabSize
		c, err := m.NewCache(256, false)
		if err != nil {
			t.Fatal(err)
		}
		all := make([]float32, prompt*vocab)
		if err := m.Forward(context.Background(), model.SeqBatch(c, seq[:prompt], 0, true), all); err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for p := 0; p < prompt; p++ {
			worst = max(worst, maxAbsDiff(all[p*vocab:(p+1)*vocab], want[p]))
			if got := int32(kernels.Argmax(all[p*vocab : (p+1)*vocab])); got != ref.Generated[p] {
				t.Fatalf("prompt %d: position %d: argmax %d, want %d", prompt, p, got, ref.Generated[p])
			}
		}
		logits := make([]float32, vocab)
		tok := int32(kernels.Argmax(all[(prompt-1)*vocab:]))
		for p := prompt; p < len(ref.Generated); p++ {
			if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, p, false), logits); err != nil {
				t.Fatal(err)
			}
			worst = max(worst, maxAbsDiff(logits, want[p]))
			tok = int32(kernels.Argmax(logits))
			if tok != ref.Generated[p] {
				t.Fatalf("prompt %d: position %d: generated %d, want %d", prompt, p, tok, ref.Generated[p])
			}
		}
		t.Logf("prompt of %d: max |logit diff| %.3g", prompt, worst)
		if worst > 1e-4 {
			t.Errorf("prompt of %d: max logit diff %.3g > 1e-4", prompt, worst)
		}
	}
}

// TestTinyRandom runs ollama's random Llama-2-vocabulary model (F16
// weights, untied output, head dimension 4) and checks the logits are
// finite and that batch and token-by-token evaluation agree.
func TestTinyRandom(t *testing.T) {
	f, m := load(t, "gguf", "llama-2-tiny-random.gguf")
	if _, ok := f.Tensor("output.weight"); !ok {
		t.Fatal("test file should have a separate output.weight")
	}
	info := m.Info()
	if info.VocabSize != 32000 || info.EmbeddingLength != 8 || info.HeadDim != 4 || info.Layers != 1 {
		t.Fatalf("info %+v", info)
	}
	tokens := []int32{1, 450, 4996, 17354, 1701, 29916, 31999, 0}
	c, err := m.NewCache(16, true)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]float32, len(tokens)*info.VocabSize)
	if err := m.Forward(context.Background(), model.SeqBatch(c, tokens, 0, true), batch); err != nil {
		t.Fatal(err)
	}
	for i, v := range batch {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %d of position %d is %v", i%info.VocabSize, i/info.VocabSize, v)
		}
	}
	one := make([]float32, info.VocabSize)
	for p, tok := range tokens {
		if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{tok}, p, false), one); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(one, batch[p*info.VocabSize:(p+1)*info.VocabSize]); d > 1e-5 {
			t.Errorf("position %d: token-by-token vs batch differ by %.3g", p, d)
		}
	}
}
