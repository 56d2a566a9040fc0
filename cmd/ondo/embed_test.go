package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbed runs `ondo embed` on synthetic encoder and MoE decoder files:
// one JSON array per text, unit length unless --raw, standard input when
// there is no --text, and one-line errors.
func TestEmbed(t *testing.T) {
	dir := t.TempDir()
	bert := filepath.Join(dir, "bert.gguf")
	mustRun(t, "dev", "synth", "--arch", "bert", "--dim", "64", "--heads", "4", "--ffn", "128", "--out", bert)
	moe := filepath.Join(dir, "moe.gguf")
	mustRun(t, "dev", "synth", "--arch", "qwen3moe", "--dim", "64", "--heads", "4", "--kv-heads", "2", "--ffn", "128",
		"--experts", "4", "--experts-used", "2", "--expert-ffn", "64", "--head-dim", "32", "--out", moe)

	parse := func(out string) [][]float64 {
		t.Helper()
		var rows [][]float64
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			var v []float64
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("output line %q: %v", line, err)
			}
			rows = append(rows, v)
		}
		return rows
	}
	length := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x * x
		}
		return math.Sqrt(s)
	}
	for _, path := range []string{bert, moe} {
		rows := parse(mustRun(t, "embed", "--model", path, "--text", "the cat sat", "--text", "on the mat").stdout)
		if len(rows) != 2 || len(rows[0]) != 64 {
			t.Fatalf("%s: %d rows of %d", path, len(rows), len(rows[0]))
		}
		for _, r := range rows {
			if math.Abs(length(r)-1) > 1e-5 {
				t.Errorf("%s: length %.7f, want 1", path, length(r))
			}
		}
		raw := parse(mustRun(t, "embed", "--model", path, "--text", "the cat sat", "--raw").stdout)[0]
		if math.Abs(length(raw)-1) < 1e-3 {
			t.Errorf("%s: --raw printed a unit vector", path)
		}
		stdin := runOndoStdin(t, "the cat sat", "embed", "--model", path)
		if stdin.code != 0 || parse(stdin.stdout)[0][0] != rows[0][0] {
			t.Errorf("%s: standard input gives %q (stderr %q)", path, stdin.stdout, stdin.stderr)
		}
		cls := parse(mustRun(t, "embed", "--model", path, "--text", "the cat sat", "--pooling", "cls").stdout)[0]
		if cls[0] == rows[0][0] {
			t.Errorf("%s: --pooling cls changed nothing", path)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"embed", "--text", "x"}, "ondo: --model is required"},
		{[]string{"embed", "--model", bert, "--text", "x", "--pooling", "max"}, `ondo: --pooling: unknown pooling "max" (want none, mean, cls or last)`},
		{[]string{"embed", "--model", filepath.Join(dir, "missing.gguf"), "--text", "x"}, "missing.gguf"},
		{[]string{"embed", "--model", bert, "--text", strings.Repeat("a ", 600)}, "ondo: bert: 602 tokens exceed the context length 512"},
	} {
		msg := checkFailure(t, runOndo(t, tc.args...), strings.Join(tc.args[:3], " "))
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %q, want it to contain %q", tc.args[:3], msg, tc.want)
		}
	}
}
