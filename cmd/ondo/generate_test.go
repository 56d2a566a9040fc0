package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/internal/testdata"
)

func TestGenerateStories(t *testing.T) {
	model := testdata.Path(t, "gguf", "stories260K.gguf")
	var expected struct {
		TestRunc struct {
			ExpectedStdout string `json:"expected_stdout"`
		} `json:"test_runc"`
	}
	b, err := os.ReadFile(testdata.Path(t, "reference", "stories260K.llama2c_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &expected); err != nil {
		t.Fatal(err)
	}
	logits := filepath.Join(t.TempDir(), "logits.f32")
	r := mustRun(t, "generate", "--model", model, "-n", "200", "--f32-cache", "--logits-out", logits, "--verbose")
	if r.stdout != expected.TestRunc.ExpectedStdout {
		t.Errorf("stdout differs from llama2.c's:\n got %q\nwant %q", r.stdout, expected.TestRunc.ExpectedStdout)
	}
	for _, want := range []string{"load time", "prompt eval", "tokens/s", "generation"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("--verbose stderr lacks %q: %q", want, r.stderr)
		}
	}
	st, err := os.Stat(logits)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(200 * 512 * 4); st.Size() != want {
		t.Errorf("--logits-out wrote %d bytes, want %d (200 rows of 512 float32)", st.Size(), want)
	}
}

func TestGenerateKoreanAndStdin(t *testing.T) {
	model := testdata.Path(t, "gguf", "stories260K.gguf")
	r := mustRun(t, "generate", "--model", model, "-n", "40", "--temperature", "1", "--seed", "5", "--prompt", "한국어 문장을 이어서 써 보세요.")
	if !utf8.ValidString(r.stdout) {
		t.Errorf("invalid UTF-8 output %q", r.stdout)
	}
	a := mustRun(t, "generate", "--model", model, "-n", "20", "--prompt", "Lily")
	b := mustRun(t, "generate", "--model", model, "-n", "20", "--prompt", "Lily", "--temperature", "0.9", "--seed", "7")
	c := mustRun(t, "generate", "--model", model, "-n", "20", "--prompt", "Lily", "--temperature", "0.9", "--seed", "7")
	if b.stdout != c.stdout {
		t.Errorf("same seed, different output: %q vs %q", b.stdout, c.stdout)
	}
	if a.stdout == "" {
		t.Error("no output")
	}
}

func TestGenerateErrors(t *testing.T) {
	model := testdata.Path(t, "gguf", "stories260K.gguf")
	long := strings.Repeat("hello ", 300)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"generate"}, "--model is required"},
		{[]string{"generate", "--model", model, "-n", "-3"}, "-n -3"},
		{[]string{"generate", "--model", model, "--top-p", "1.5"}, "top_p 1.5"},
		{[]string{"generate", "--model", model, "--ctx", "64", "--prompt", long}, "more than the context of 64"},
		{[]string{"generate", "--model", testdata.Path(t, "tokenizer", "ggml-vocab-gpt-2.gguf")}, `unsupported architecture "gpt2"`},
		{[]string{"generate", "--model", filepath.Join(t.TempDir(), "nope.gguf")}, "no such file"},
	}
	for _, c := range cases {
		r := runOndo(t, c.args...)
		msg := checkFailure(t, r, strings.Join(c.args, " "))
		if !strings.Contains(msg, c.want) {
			t.Errorf("%v: %q does not mention %q", c.args, msg, c.want)
		}
	}
}
