package ondo_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// synthModel writes a small random-weight model of the tiny preset in the
// given architecture.
func synthModel(t testing.TB, arch string, edit func(*synth.Config)) string {
	t.Helper()
	cfg, _ := synth.Preset("tiny")
	cfg.Arch, cfg.Dim, cfg.FFN, cfg.Layers = arch, 64, 128, 2
	if edit != nil {
		edit(&cfg)
	}
	path := filepath.Join(t.TempDir(), arch+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

// TestEmbed checks the public embedding API on an encoder and on decoders:
// unit length by default, the raw pooled state with Unnormalized, the
// file's pooling unless overridden, one embedding per text, each text
// evaluated on its own.
func TestEmbed(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		arch    string
		edit    func(*synth.Config)
		pooling model.Pooling
	}{
		{"bert", nil, model.PoolingMean},
		{"nomic-bert", nil, model.PoolingMean},
		{"llama", nil, model.PoolingNone},
		{"llama", func(c *synth.Config) { c.Experts = 4 }, model.PoolingNone},
		{"qwen3moe", func(c *synth.Config) { c.Experts, c.ExpertFFN = 4, 64 }, model.PoolingNone},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			m := load(t, synthModel(t, tc.arch, tc.edit))
			if p, ok := m.Pooling(); !ok || p != tc.pooling {
				t.Errorf("pooling %v %v, want %v", p, ok, tc.pooling)
			}
			texts := []string{"the quick brown fox", "a b c", "the quick brown fox"}
			embs, err := m.Embed(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			if len(embs) != 3 || len(embs[0]) != 64 {
				t.Fatalf("%d embeddings of %d", len(embs), len(embs[0]))
			}
			for i, e := range embs {
				if n := norm(e); math.Abs(n-1) > 1e-6 {
					t.Errorf("text %d: length %.7f", i, n)
				}
			}
			if fmt.Sprint(embs[0]) != fmt.Sprint(embs[2]) {
				t.Error("the same text embeds differently: texts are not independent")
			}
			if fmt.Sprint(embs[0]) == fmt.Sprint(embs[1]) {
				t.Error("different texts embed the same")
			}
			raw, err := m.EmbedWith(ctx, texts[:1], ondo.EmbedOptions{Unnormalized: true})
			if err != nil {
				t.Fatal(err)
			}
			n := norm(raw[0])
			for j := range raw[0] {
				if d := math.Abs(float64(raw[0][j])/n - float64(embs[0][j])); d > 1e-6 {
					t.Fatalf("raw and normalised embeddings differ in direction at %d by %.3g", j, d)
				}
			}
			for _, p := range []string{"mean", "cls", "last", "none"} {
				e, err := m.EmbedWith(ctx, texts[:1], ondo.EmbedOptions{Pooling: p})
				if err != nil {
					t.Fatal(err)
				}
				same := fmt.Sprint(e[0]) == fmt.Sprint(embs[0])
				if want := p == tc.pooling.String() || p == "last" && tc.pooling == model.PoolingNone || p == "none" && tc.pooling == model.PoolingNone; same != want {
					t.Errorf("pooling %s: same as the default %v, want %v", p, same, want)
				}
			}
			// The tokens Embed uses are Tokenize's with special tokens.
			one, err := m.EmbedTokens(ctx, m.Tokenize(texts[0], true), ondo.EmbedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(one) != fmt.Sprint(embs[0]) {
				t.Error("EmbedTokens of Tokenize(text, true) differs from Embed(text)")
			}
		})
	}
}

// TestEmbedErrors checks what users see when embedding goes wrong.
func TestEmbedErrors(t *testing.T) {
	ctx := context.Background()
	m := load(t, synthModel(t, "bert", nil))
	long := strings.Repeat("a ", 600)
	for _, tc := range []struct {
		texts []string
		opts  ondo.EmbedOptions
		want  string
	}{
		{[]string{"x"}, ondo.EmbedOptions{Pooling: "max"}, `ondo: unknown pooling "max" (want none, mean, cls or last)`},
		{[]string{long}, ondo.EmbedOptions{}, "bert: 602 tokens exceed the context length 512"},
		{[]string{"ok", long}, ondo.EmbedOptions{}, "text 1: bert: 602 tokens exceed the context length 512"},
	} {
		_, err := m.EmbedWith(ctx, tc.texts, tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	if _, err := m.EmbedTokens(ctx, nil, ondo.EmbedOptions{}); err == nil || !strings.Contains(err.Error(), "nothing to embed") {
		t.Errorf("no tokens: error %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Embed(cctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
	// An encoder has no sessions.
	if _, err := m.NewSession(ondo.SessionOptions{}); !errors.Is(err, model.ErrEmbeddingOnly) {
		t.Errorf("NewSession on an encoder: error %v, want ErrEmbeddingOnly", err)
	}
	// A decoder that adds no BOS token cannot embed the empty text.
	d := load(t, synthModel(t, "llama", nil))
	if _, err := d.EmbedWith(ctx, []string{""}, ondo.EmbedOptions{}); err != nil {
		t.Errorf("empty text with BOS: %v", err)
	}
}

// Embed texts with a BERT-style encoder and compare them by cosine
// similarity, the dot product of unit vectors.
func ExampleModel_Embed() {
	dir, err := os.MkdirTemp("", "ondo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A small random-weight encoder stands in for bge or MiniLM here.
	path := filepath.Join(dir, "bert.gguf")
	cfg, _ := synth.Preset("tiny")
	cfg.Arch = "bert"
	if err := synth.Write(path, cfg); err != nil {
		log.Fatal(err)
	}

	m, err := ondo.Load(path, ondo.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	embs, err := m.Embed(context.Background(), []string{"the cat sat", "the cat sat", "stock prices fell"})
	if err != nil {
		log.Fatal(err)
	}
	cos := func(a, b []float32) (s float32) {
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	fmt.Println(len(embs), "embeddings of", len(embs[0]))
	fmt.Printf("same text: %.3f\n", cos(embs[0], embs[1]))
	// Output:
	// 3 embeddings of 256
	// same text: 1.000
}

// TestEmbedConcurrent embeds from several goroutines while a session
// generates on the same model: evaluations are serialised, and every
// goroutine gets the embedding it would get alone.
func TestEmbedConcurrent(t *testing.T) {
	ctx := context.Background()
	m := load(t, synthModel(t, "llama", func(c *synth.Config) { c.Experts = 4 }))
	want, err := m.Embed(ctx, []string{"the quick brown fox"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(ondo.SessionOptions{Context: 64})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 5)
	go func() {
		_, err := s.Generate(ctx, m.Tokenize("once upon", true), ondo.GenerateOptions{MaxTokens: 16}, func(string) error { return nil })
		done <- err
	}()
	for range 4 {
		go func() {
			got, err := m.Embed(ctx, []string{"the quick brown fox"})
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				err = errors.New("a concurrent embedding differs")
			}
			done <- err
		}()
	}
	for range 5 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
