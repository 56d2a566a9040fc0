package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/scripted"
	"github.com/ondo-ai/ondo/internal/testvocab"
)

// ondo run shows a thinking model's reasoning apart from its answer, in
// this process and through a server, and --hidethinking leaves it out.
func TestRunThinking(t *testing.T) {
	dir := storeWithTiny(t)
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "chat", "testdata", "templates", "Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	scripted.Write(t, testvocab.Llama3(t), filepath.Join(dir, "thinker.gguf"), string(tmpl), "<think>\n생각 중\n</think>\n\n답은 42.")
	want := "Thinking...\n\n생각 중\n\n...done thinking.\n\n답은 42.\n"
	check := func(where string) {
		t.Helper()
		if r := mustRun(t, "run", "thinker", "--models-dir", dir, "질문"); r.stdout != want {
			t.Errorf("%s: %q, want %q", where, r.stdout, want)
		}
		if r := mustRun(t, "run", "thinker", "--models-dir", dir, "--think", "--hidethinking", "질문"); r.stdout != "답은 42.\n" {
			t.Errorf("%s --hidethinking: %q", where, r.stdout)
		}
		r := runOndo(t, "run", "tiny", "--models-dir", dir, "--think", "x")
		if r.code == 0 || !strings.Contains(r.stderr, "thinking") {
			t.Errorf("%s: --think on a model without thinking: %+v", where, r)
		}
	}
	noServer(t)
	if r := mustRun(t, "show", filepath.Join(dir, "thinker.gguf")); !strings.Contains(r.stdout, "capabilities") || !strings.Contains(r.stdout, "completion tools thinking") {
		t.Errorf("ondo show: %s", r.stdout)
	}
	check("in-process")
	startServer(t, dir, "")
	check("on the server")
}
