package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/store/hubtest"
)

// fakeHub starts a fake Hugging Face Hub with a repository of three
// quantizations and a projector, points HF_ENDPOINT at it and ONDO_MODELS
// at a new store, and returns the hub and the store's folder.
func fakeHub(t *testing.T) (*hubtest.Server, string) {
	t.Helper()
	hub := hubtest.New(t)
	var files []hubtest.File
	for _, q := range []string{"Q2_K", "Q4_K_M", "Q8_0"} {
		name := "synth-llama-" + q + ".gguf"
		files = append(files, hubtest.ReadFile(t, name, testdata.Path(t, "llamacpp-quant", name)))
	}
	files = append(files, hubtest.File{Path: "mmproj-synth-F16.gguf", Data: []byte("projector")})
	hub.AddRepo("test/synth-GGUF", hubtest.Repo{Files: files})
	hub.AddRepo("test/gated", hubtest.Repo{Files: files[:1], Token: "hf_secret"})
	dir := filepath.Join(t.TempDir(), "models")
	t.Setenv("ONDO_MODELS", dir)
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	return hub, dir
}

func TestPullCommand(t *testing.T) {
	hub, dir := fakeHub(t)
	hub.CutAfter("synth-llama-Q4_K_M.gguf", 500000) // resumed within the pull
	r := mustRun(t, "pull", "hf.co/test/synth-GGUF")
	t.Logf("ondo pull hf.co/test/synth-GGUF (stderr):\n%s", r.stderr)
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	// Plain lines, no bar: stderr is not a terminal.
	if strings.ContainsAny(r.stderr, "\r\x1b") {
		t.Errorf("progress has terminal control characters: %q", r.stderr)
	}
	b, err := os.ReadFile(testdata.Path(t, "llamacpp-quant", "synth-llama-Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	short := hubtest.SHA256(b)[:12]
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) < 6 || lines[0] != "pulling manifest" || lines[len(lines)-3] != "verifying sha256 digest" ||
		lines[len(lines)-2] != "writing manifest" || lines[len(lines)-1] != "success" {
		t.Errorf("progress lines %q", lines)
	}
	byteLine := regexp.MustCompile(`^pulling ` + short + ` \d+(\.\d+)? (B|KiB|MiB)/1\.2\d MiB \d+%( \d+(\.\d+)? (B|KiB|MiB|GiB)/s( ETA \S+)?)?$`)
	for _, l := range lines[1 : len(lines)-3] {
		if !byteLine.MatchString(l) {
			t.Errorf("progress line %q does not match %s", l, byteLine)
		}
	}
	if last := lines[len(lines)-4]; !strings.Contains(last, " 100%") {
		t.Errorf("last byte line %q is not 100%%", last)
	}
	if d := hub.Downloads("synth-llama-Q4_K_M.gguf"); len(d) != 2 || d[1].Range != "bytes=500000-" {
		t.Errorf("downloads %+v", d)
	}

	// list, show, cp, rm.
	r = mustRun(t, "list")
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	row := regexp.MustCompile(`^hf\.co/test/synth-GGUF:latest +` + short + ` +1\.3 MB +(Less than a second|\d+ seconds?) ago$`)
	if len(lines) != 2 || !regexp.MustCompile(`^NAME +ID +SIZE +MODIFIED$`).MatchString(lines[0]) || !row.MatchString(lines[1]) {
		t.Errorf("ondo list:\n%s", r.stdout)
	}
	s := show(t, "test/synth-GGUF")
	if s.Architecture != "llama" || s.FileType != "Q4_K_M" {
		t.Errorf("ondo show NAME: %s %s", s.Architecture, s.FileType)
	}
	if r := mustRun(t, "cp", "test/synth-GGUF", "mine:v1"); r.stdout != "copied 'test/synth-GGUF' to 'mine:v1'\n" {
		t.Errorf("cp: %q", r.stdout)
	}
	if r := mustRun(t, "rm", "hf.co/test/synth-GGUF:latest"); r.stdout != "deleted 'hf.co/test/synth-GGUF:latest'\n" {
		t.Errorf("rm: %q", r.stdout)
	}
	r = mustRun(t, "ls", "--models-dir", dir)
	if !strings.Contains(r.stdout, "mine:v1") || strings.Contains(r.stdout, "synth-GGUF") {
		t.Errorf("list after cp and rm:\n%s", r.stdout)
	}
	if s := show(t, "mine:v1"); s.FileType != "Q4_K_M" {
		t.Errorf("show of the copy: %s", s.FileType)
	}
	mustRun(t, "rm", "mine:v1")
	if blobs, _ := os.ReadDir(filepath.Join(dir, "blobs")); len(blobs) != 0 {
		t.Errorf("blobs left after the last rm: %v", blobs)
	}
}

func TestPullCommandErrors(t *testing.T) {
	hub, _ := fakeHub(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"pull", "nobody/nothing"}, "repository nobody/nothing not found"},
		{[]string{"pull", "test/gated"}, "test/gated is gated or private: set HF_TOKEN"},
		{[]string{"pull", "test/synth-GGUF:Q3_K_S"}, "available: Q2_K, Q4_K_M, Q8_0"},
		{[]string{"pull", "../etc/passwd"}, "invalid model name"},
		{[]string{"pull", "mymodel"}, "not a Hugging Face name"},
		{[]string{"pull"}, "accepts 1 arg"},
	} {
		msg := checkPullFailure(t, runOndo(t, c.args...), strings.Join(c.args, " "))
		if !strings.Contains(msg, c.want) {
			t.Errorf("ondo %s: %q, want it to mention %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	hub.Corrupt("synth-llama-Q8_0.gguf", 1000)
	msg := checkPullFailure(t, runOndo(t, "pull", "test/synth-GGUF:Q8_0"), "corrupt download")
	if !strings.Contains(msg, "corrupt") {
		t.Errorf("corrupt download: %q", msg)
	}
	// The gated repository with its token.
	t.Setenv("HF_TOKEN", "hf_secret")
	mustRun(t, "pull", "test/gated")
	if r := mustRun(t, "list"); strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "hf.co/test/gated:latest") {
		t.Errorf("list after the failures:\n%s", r.stdout)
	}
}

// checkPullFailure is checkFailure for ondo pull, whose progress lines
// come on stderr before the error: exit status 1, the error the last line,
// starting with "ondo:", and no crash. It returns the error line.
func checkPullFailure(t *testing.T, r result, what string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("%s: crashed:\n%s", what, r.stderr)
	}
	checkStderr(t, result{stderr: last + "\n", code: r.code}, what)
	if r.code != 1 {
		t.Errorf("%s: exit status %d, want 1 (stderr %q)", what, r.code, r.stderr)
	}
	for _, l := range lines[:len(lines)-1] {
		if strings.HasPrefix(l, "ondo:") || !strings.HasPrefix(l, "pulling ") && !strings.HasPrefix(l, "verifying ") {
			t.Errorf("%s: stderr line %q before the error is not progress", what, l)
		}
	}
	return last
}

func TestCreateCommand(t *testing.T) {
	_, dir := fakeHub(t)
	src := testdata.Path(t, "gguf", "stories260K.gguf")
	r := mustRun(t, "create", "tiny", "--from", src)
	if !regexp.MustCompile(`^created 'tiny:latest' \([0-9a-f]{12}, 1\.2 MB\)\n$`).MatchString(r.stdout) {
		t.Errorf("create: %q", r.stdout)
	}
	if s := show(t, "tiny"); s.Architecture != "llama" {
		t.Errorf("show tiny: %s", s.Architecture)
	}
	// --models-dir beats ONDO_MODELS.
	other := filepath.Join(t.TempDir(), "other")
	mustRun(t, "create", "elsewhere:v2", "--from", src, "--models-dir", other)
	if r := mustRun(t, "list", "--models-dir", other); !strings.Contains(r.stdout, "elsewhere:v2") || strings.Contains(r.stdout, "tiny") {
		t.Errorf("list --models-dir:\n%s", r.stdout)
	}
	junk := filepath.Join(t.TempDir(), "junk.gguf")
	os.WriteFile(junk, []byte("not a model"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "bad", "--from", junk}, "not a usable GGUF"},
		{[]string{"create", "bad"}, "--from FILE.gguf is required"},
		{[]string{"create", "a/b/c/d", "--from", src}, "invalid model name"},
		{[]string{"rm", "nope"}, `model "nope" not found in ` + dir},
		{[]string{"cp", "nope", "x"}, `model "nope" not found`},
		{[]string{"cp", "tiny", "/abs"}, "absolute path"},
		{[]string{"show", "nope"}, "nope is neither a file nor a model in " + dir},
	} {
		msg := checkFailure(t, runOndo(t, c.args...), strings.Join(c.args, " "))
		if !strings.Contains(msg, c.want) {
			t.Errorf("ondo %s: %q, want it to mention %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	if r := mustRun(t, "list"); strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("list after the failures:\n%s", r.stdout)
	}
}
