package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The official npm clients (openai, ollama; pinned in
// testdata/jsclients/package.json, installed by npm ci there, as .ci/run
// does) against a real server: structured output, tool calls and
// reasoning, streamed and not.
func TestNodeClients(t *testing.T) {
	dir := filepath.Join("testdata", "jsclients")
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed: the npm clients cannot run")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		missing("the npm clients are not installed: run npm ci in server/testdata/jsclients")
	}
	ts := start(t, Config{})
	runNode(t, node, dir, "clients.mjs", ts.URL)
	// Tool calls and reasoning: a scripted Qwen3 model.
	tc := toolCases[1]
	tts := toolServer(t, []toolCase{tc})
	runNode(t, node, dir, "tools.mjs", tts.URL, modelName(tc.name), tc.reasoning, tc.calls[0][1])
}

// runNode runs a script of dir with node and checks that it ends with
// "all ok".
func runNode(t *testing.T, node, dir, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("node %s:\n%s", script, out)
	}
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "all ok") {
		t.Errorf("node %s did not finish its checks", script)
	}
}
