package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The tests run the real command: TestMain re-executes this test binary as
// ondo when runAsOndo is set, so main, its exit status and its stderr are
// exactly what a user gets, without a separate go build.
const runAsOndo = "ONDO_CMD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsOndo) == "1" {
		main() // os.Args[1:] are the command line; exits 1 on error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

// runOndo runs the command with args and returns its output and exit status.
func runOndo(t *testing.T, args ...string) result {
	t.Helper()
	return runOndoStdin(t, "", args...)
}

// runOndoStdin is runOndo with stdin as the command's standard input.
func runOndoStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsOndo+"=1")
	if os.Getenv("GOCOVERDIR") == "" {
		// A binary built with -cover warns on stderr without it.
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+t.TempDir())
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		r.code = exit.ExitCode()
	default:
		t.Fatalf("ondo %s: %v (stderr %q)", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// mustRun runs ondo and fails the test unless it succeeds.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runOndo(t, args...)
	if r.code != 0 {
		t.Fatalf("ondo %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// checkFailure checks the way every command fails: exit status 1 and one
// line on stderr starting with "ondo:", never a panic's stack trace. It
// returns the message.
func checkFailure(t *testing.T, r result, what string) string {
	t.Helper()
	if r.code != 1 {
		t.Errorf("%s: exit status %d, want 1 (stderr %q)", what, r.code, r.stderr)
	}
	checkStderr(t, r, what)
	return strings.TrimSuffix(r.stderr, "\n")
}

// checkStderr checks that a failure, if any, was reported properly.
func checkStderr(t *testing.T, r result, what string) {
	t.Helper()
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("%s: crashed:\n%s", what, r.stderr)
	}
	if r.code != 0 && r.code != 1 {
		t.Errorf("%s: exit status %d", what, r.code)
	}
	if r.code == 1 {
		msg := strings.TrimSuffix(r.stderr, "\n")
		if !strings.HasPrefix(msg, "ondo: ") || strings.Contains(msg, "\n") || !strings.HasSuffix(r.stderr, "\n") {
			t.Errorf("%s: stderr is not one line starting with \"ondo: \": %q", what, r.stderr)
		}
	}
}

// shown is the part of `ondo show --json` the tests read.
type shown struct {
	Architecture string         `json:"architecture"`
	FileType     string         `json:"file_type"`
	Version      int            `json:"version"`
	Alignment    int            `json:"alignment"`
	DataOffset   int64          `json:"data_offset"`
	Parameters   int64          `json:"parameters"`
	TensorTypes  map[string]int `json:"tensor_types"`
	Metadata     map[string]any `json:"metadata"`
	Tensors      []struct {
		Name   string  `json:"name"`
		Type   string  `json:"type"`
		Shape  []int64 `json:"shape"`
		Offset uint64  `json:"offset"`
		Size   int64   `json:"size"`
	} `json:"tensors"`
}

func show(t *testing.T, path string) shown {
	t.Helper()
	r := mustRun(t, "show", path, "--json")
	var s shown
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("show --json %s: %v\n%s", path, err, r.stdout)
	}
	return s
}

func TestUnknownCommand(t *testing.T) {
	msg := checkFailure(t, runOndo(t, "frobnicate"), "unknown command")
	if !strings.Contains(msg, "frobnicate") {
		t.Errorf("error %q does not name the command", msg)
	}
	checkFailure(t, runOndo(t, "show"), "show without a file")
}
