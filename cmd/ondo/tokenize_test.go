package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
)

// vectors reads a shared tokenizer test file pair: the strings and the
// expected ids as printed (a leading space, ids separated by spaces).
func vectors(t *testing.T, name string) (inputs, outputs []string) {
	t.Helper()
	inp, err := os.ReadFile(testdata.Path(t, "tokenizer", name+".inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(testdata.Path(t, "tokenizer", name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	inputs = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	inputs = inputs[:len(inputs)-1]
	outputs = strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	return inputs, outputs
}

func TestTokenizeCLI(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-bert-bge.gguf"} {
		t.Run(name, func(t *testing.T) {
			model := testdata.Path(t, "tokenizer", name)
			inputs, outputs := vectors(t, name)
			// The text comes verbatim from stdin: a trailing newline
			// is part of it. One process per text is slow, so a
			// sample of them; --jsonl below checks them all.
			for i := 1; i < len(inputs); i += 6 {
				r := runOndoStdin(t, inputs[i], "tokenize", "--model", model, "--no-bos")
				if got, want := strings.TrimSuffix(r.stdout, "\n"), strings.TrimSpace(outputs[i]); got != want {
					t.Errorf("%q: got %q, want %q", inputs[i], got, want)
				}
			}
			// --jsonl: every input in one run.
			var in strings.Builder
			for _, s := range inputs {
				b, _ := json.Marshal(s)
				in.Write(b)
				in.WriteByte('\n')
			}
			r := runOndoStdin(t, in.String(), "tokenize", "--model", model, "--no-bos", "--jsonl")
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != len(inputs) {
				t.Fatalf("--jsonl printed %d lines for %d inputs", len(lines), len(inputs))
			}
			for i, line := range lines {
				var ids []int
				if err := json.Unmarshal([]byte(line), &ids); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				got := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), " "), "[]")
				if want := strings.TrimSpace(outputs[i]); got != want {
					t.Errorf("jsonl %q: %s, want %s", inputs[i], got, want)
				}
			}
		})
	}
}

func TestTokenizeOptions(t *testing.T) {
	spm := testdata.Path(t, "tokenizer", "ggml-vocab-llama-spm.gguf")
	withBOS := mustRun(t, "tokenize", "--model", spm, "--text", "Hello")
	noBOS := mustRun(t, "tokenize", "--model", spm, "--text", "Hello", "--no-bos")
	if withBOS.stdout != "1 "+noBOS.stdout {
		t.Errorf("BOS: %q vs %q", withBOS.stdout, noBOS.stdout)
	}
	plain := mustRun(t, "tokenize", "--model", spm, "--no-bos", "--text", "<s>")
	special := mustRun(t, "tokenize", "--model", spm, "--no-bos", "--special", "--text", "<s>")
	if special.stdout != "1\n" || plain.stdout == special.stdout {
		t.Errorf("--special: %q, without: %q", special.stdout, plain.stdout)
	}
	var js struct {
		IDs    []int    `json:"ids"`
		Pieces []string `json:"pieces"`
	}
	r := mustRun(t, "tokenize", "--model", spm, "--no-bos", "--json", "--text", "Hello world")
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil {
		t.Fatal(err)
	}
	if len(js.IDs) == 0 || len(js.IDs) != len(js.Pieces) || js.Pieces[0] != "▁Hello" {
		t.Errorf("--json: %+v", js)
	}
	// detokenize inverts tokenize, Korean included.
	text := "서울의 봄날, 도서관에서 책을 읽었다."
	ids := mustRun(t, "tokenize", "--model", spm, "--text", text)
	back := mustRunStdin(t, ids.stdout, "detokenize", "--model", spm)
	if back.stdout != text {
		t.Errorf("detokenize: %q, want %q", back.stdout, text)
	}
	r = runOndo(t, "tokenize", "--model", testdata.Path(t, "gguf", "stories260K.gguf"), "--jsonl", "--text", "x")
	checkFailure(t, r, "--jsonl with --text")
	r = runOndoStdin(t, "5 99999999", "detokenize", "--model", spm)
	if msg := checkFailure(t, r, "out-of-range id"); !strings.Contains(msg, "99999999") {
		t.Errorf("out-of-range id: %q", msg)
	}
}

func mustRunStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runOndoStdin(t, stdin, args...)
	if r.code != 0 {
		t.Fatalf("ondo %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}
