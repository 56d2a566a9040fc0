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
// does) against a real server: structured output, streamed and not.
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs", ts.URL)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if testing.Verbose() || err != nil {
		t.Logf("node clients.mjs:\n%s", out)
	}
	if err != nil {
		t.Fatalf("node clients.mjs: %v", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "all ok") {
		t.Errorf("node clients.mjs did not finish its checks")
	}
}
