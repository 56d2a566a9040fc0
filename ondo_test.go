package ondo_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
)

func load(t *testing.T, path string) *ondo.Model {
	t.Helper()
	m, err := ondo.Load(path, ondo.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func collect(t *testing.T, s *ondo.Session, prompt []int32, opts ondo.GenerateOptions) (string, *ondo.Result) {
	t.Helper()
	var b strings.Builder
	res, err := s.Generate(context.Background(), prompt, opts, func(text string) error {
		if !utf8.ValidString(text) {
			t.Errorf("emitted invalid UTF-8 %q", text)
		}
		b.WriteString(text)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), res
}

// The llama2.c reference: greedy from BOS for 200 tokens gives its test's
// exact text, and every logit is within 1e-4 of llama2.c's.
func TestStoriesReference(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	var expected struct {
		TestRunc struct {
			ExpectedStdout string `json:"expected_stdout"`
		} `json:"test_runc"`
	}
	readJSON(t, testdata.Path(t, "reference", "stories260K.llama2c_expected.json"), &expected)
	var greedy struct {
		Generated []int32 `json:"generated_tokens"`
	}
	readJSON(t, testdata.Path(t, "reference", "stories260K.greedy_bos_200.json"), &greedy)
	raw, err := os.ReadFile(testdata.Path(t, "reference", "stories260K.greedy_bos_200.logits.f32"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(ondo.SessionOptions{Context: 256, F32Cache: true})
	if err != nil {
		t.Fatal(err)
	}
	row, maxDiff := 0, 0.0
	vocab := m.Info().VocabSize
	text, res := collect(t, s, []int32{m.Tokenizer().BOS()}, ondo.GenerateOptions{MaxTokens: 200, Logits: func(l []float32) error {
		for i, v := range l {
			want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(row*vocab+i):]))
			maxDiff = math.Max(maxDiff, math.Abs(float64(v-want)))
		}
		row++
		return nil
	}})
	if text != expected.TestRunc.ExpectedStdout {
		t.Errorf("text differs from llama2.c's:\n got %q\nwant %q", text, expected.TestRunc.ExpectedStdout)
	}
	if len(res.Tokens) != len(greedy.Generated) {
		t.Fatalf("%d tokens, want %d", len(res.Tokens), len(greedy.Generated))
	}
	for i := range res.Tokens {
		if res.Tokens[i] != greedy.Generated[i] {
			t.Fatalf("token %d = %d, want %d", i, res.Tokens[i], greedy.Generated[i])
		}
	}
	if row != 200 {
		t.Errorf("%d logit rows, want 200 (BOS and 199 fed-back tokens)", row)
	}
	if maxDiff > 1e-4 {
		t.Errorf("max logit difference %.3g > 1e-4", maxDiff)
	}
	t.Logf("max |logit - llama2.c| = %.3g over %d rows", maxDiff, row)
}

// Quantized copies still tell the story.
func TestQuantizedStillSensible(t *testing.T) {
	in := testdata.Path(t, "gguf", "stories260K.gguf")
	for _, typ := range []string{"Q8_0", "Q4_0"} {
		t.Run(typ, func(t *testing.T) {
			ft, _ := quantize.ParseFileType(typ)
			out := filepath.Join(t.TempDir(), typ+".gguf")
			if err := quantize.File(in, out, ft, quantize.Options{}); err != nil {
				t.Fatal(err)
			}
			m := load(t, out)
			s, _ := m.NewSession(ondo.SessionOptions{Context: 128})
			text, _ := collect(t, s, []int32{m.Tokenizer().BOS()}, ondo.GenerateOptions{MaxTokens: 40})
			if !strings.HasPrefix(text, "Once upon a time, there was a little girl named Lily.") {
				t.Errorf("%s generates %q", typ, text)
			}
		})
	}
}

func TestKoreanPromptStreamsValidUTF8(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	s, _ := m.NewSession(ondo.SessionOptions{Context: 256})
	prompt := m.Tokenize("서울의 작은 도서관에서 아이들이 동화를 읽었다.", true)
	// Byte-fallback tokens: the prompt is mostly <0x..> pieces.
	if len(prompt) < 30 {
		t.Fatalf("expected byte-fallback tokens, got %d ids", len(prompt))
	}
	cfg := sample.Config{Temperature: 1, Seed: 3}
	text, res := collect(t, s, prompt, ondo.GenerateOptions{MaxTokens: 60, Sampling: cfg})
	if len(res.Tokens) == 0 || text == "" {
		t.Fatal("nothing generated")
	}
}

func TestPrefixReuse(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	first := m.Tokenize("Once upon a time, there was a little dog.", true)
	second := m.Tokenize("Once upon a time, there was a little dog. It liked to run.", true)

	s, _ := m.NewSession(ondo.SessionOptions{Context: 256})
	collect(t, s, first, ondo.GenerateOptions{MaxTokens: 5})
	reused, res := collect(t, s, second, ondo.GenerateOptions{MaxTokens: 20})
	if res.ReusedTokens < len(first)-1 {
		t.Errorf("reused %d tokens, want at least %d", res.ReusedTokens, len(first)-1)
	}
	fresh, _ := m.NewSession(ondo.SessionOptions{Context: 256})
	alone, res2 := collect(t, fresh, second, ondo.GenerateOptions{MaxTokens: 20})
	if res2.ReusedTokens != 0 {
		t.Errorf("fresh session reused %d", res2.ReusedTokens)
	}
	if reused != alone {
		t.Errorf("with reuse %q, alone %q", reused, alone)
	}
}

func TestStopStrings(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	s, _ := m.NewSession(ondo.SessionOptions{Context: 256})
	text, res := collect(t, s, []int32{m.Tokenizer().BOS()}, ondo.GenerateOptions{MaxTokens: 100, Stop: []string{"Lily"}})
	if text != "Once upon a time, there was a little girl named " {
		t.Errorf("text %q", text)
	}
	if res.FinishReason != ondo.FinishStop {
		t.Errorf("finish %q", res.FinishReason)
	}
}

func TestContextLimits(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	s, _ := m.NewSession(ondo.SessionOptions{Context: 16})
	long := m.Tokenize(strings.Repeat("hello ", 20), true)
	_, err := s.Generate(context.Background(), long, ondo.GenerateOptions{}, func(string) error { return nil })
	if !errors.Is(err, ondo.ErrContextFull) {
		t.Fatalf("long prompt: %v", err)
	}
	_, res := collect(t, s, []int32{1}, ondo.GenerateOptions{MaxTokens: 100})
	if res.FinishReason != ondo.FinishContext || len(res.Tokens) != 16 {
		t.Errorf("finish %q after %d tokens, want context after 16", res.FinishReason, len(res.Tokens))
	}
}

func TestCancel(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	s, _ := m.NewSession(ondo.SessionOptions{Context: 256})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := s.Generate(ctx, []int32{1}, ondo.GenerateOptions{}, func(string) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestSeededSamplingReproducible(t *testing.T) {
	m := load(t, testdata.Path(t, "gguf", "stories260K.gguf"))
	run := func() string {
		s, _ := m.NewSession(ondo.SessionOptions{Context: 256})
		cfg := sample.DefaultConfig()
		cfg.Seed = 1234
		text, _ := collect(t, s, []int32{1}, ondo.GenerateOptions{MaxTokens: 50, Sampling: cfg})
		return text
	}
	if a, b := run(), run(); a != b {
		t.Errorf("same seed, different text:\n%q\n%q", a, b)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := ondo.Load(filepath.Join(t.TempDir(), "missing.gguf"), ondo.Options{}); err == nil {
		t.Error("missing file loaded")
	}
	vocabOnly := testdata.Path(t, "tokenizer", "ggml-vocab-gpt-2.gguf")
	_, err := ondo.Load(vocabOnly, ondo.Options{})
	if err == nil || !strings.Contains(err.Error(), "unsupported architecture") && !strings.Contains(err.Error(), "missing") {
		t.Errorf("vocab-only file: %v", err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// A sliding-window model cannot rewind far back into its ring cache: the
// session starts the sequence over and still answers as a fresh one.
func TestSlidingWindowRewind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gemma3.gguf")
	cfg, _ := synth.Preset("tiny")
	cfg.Arch, cfg.SlidingWindow, cfg.Layers = "gemma3", 4, 2
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	m, err := ondo.Load(path, ondo.Options{Threads: 2, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	long := make([]int32, 40)
	for i := range long {
		long[i] = int32(300 + i)
	}
	s, _ := m.NewSession(ondo.SessionOptions{Context: 128})
	collect(t, s, long, ondo.GenerateOptions{MaxTokens: 4})
	// Shares only the first 10 tokens, far behind the window.
	next := append(append([]int32{}, long[:10]...), 400, 401, 402)
	got, _ := collect(t, s, next, ondo.GenerateOptions{MaxTokens: 8})
	fresh, _ := m.NewSession(ondo.SessionOptions{Context: 128})
	want, _ := collect(t, fresh, next, ondo.GenerateOptions{MaxTokens: 8})
	if got != want {
		t.Errorf("after rewind %q, fresh %q", got, want)
	}
}
