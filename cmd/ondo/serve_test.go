package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ondo-ai/ondo/internal/testdata"
)

func TestNormalizeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "127.0.0.1:11435",
		"127.0.0.1:8080":          "127.0.0.1:8080",
		"localhost":               "localhost:11435",
		"0.0.0.0":                 "0.0.0.0:11435",
		":9000":                   ":9000",
		"http://127.0.0.1:7000":   "127.0.0.1:7000",
		"https://example.com":     "example.com:11435",
		"[::1]:8000":              "[::1]:8000",
		"::1":                     "[::1]:11435",
		" 127.0.0.1:1234 ":        "127.0.0.1:1234",
		"http://[::1]:5555/path/": "[::1]:5555",
	} {
		got, err := normalizeAddr(in)
		if err != nil || got != want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:http", "host:99999"} {
		if got, err := normalizeAddr(bad); err == nil {
			t.Errorf("normalizeAddr(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "-1": -1, "1048576": 1 << 20, "8GiB": 8 << 30, "8G": 8 << 30, "8gb": 8 << 30,
		"512M": 512 << 20, "1.5K": 1536, "2 TiB": 2 << 40, "100B": 100,
	} {
		got, err := parseBytes(in)
		if err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "lots", "8X", "G"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q): no error", bad)
		}
	}
}

// Environment variables set what the command line does not; the command
// line wins.
func TestServeEnv(t *testing.T) {
	newFlags := func() (*pflag.FlagSet, *string, *int, *[]string, *keepAliveFlag) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addr := fs.String("addr", "127.0.0.1:11435", "")
		par := fs.Int("parallel", 0, "")
		cors := fs.StringSlice("cors-origins", nil, "")
		keep := keepAliveFlag(5 * time.Minute)
		fs.Var(&keep, "keep-alive", "")
		return fs, addr, par, cors, &keep
	}
	env := map[string]string{
		"ONDO_ADDR": "10.0.0.1:1", "ONDO_HOST": "10.0.0.2:2", "ONDO_PARALLEL": "7",
		"ONDO_CORS_ORIGINS": "https://a.example, https://b.example", "ONDO_KEEP_ALIVE": "0",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs, addr, par, cors, keep := newFlags()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != "10.0.0.2:2" || *par != 7 || strings.Join(*cors, "|") != "https://a.example|https://b.example" || *keep != 0 {
		t.Errorf("from the environment: addr %q parallel %d cors %q keep-alive %v", *addr, *par, *cors, time.Duration(*keep))
	}

	fs, addr, par, cors, keep = newFlags()
	if err := fs.Parse([]string{"--addr", "127.0.0.1:9", "--parallel", "2", "--cors-origins", "*", "--keep-alive", "-1"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:9" || *par != 2 || strings.Join(*cors, "|") != "*" || *keep != -1 {
		t.Errorf("flags over the environment: addr %q parallel %d cors %q keep-alive %v", *addr, *par, *cors, time.Duration(*keep))
	}

	env["ONDO_PARALLEL"] = "many"
	fs, _, _, _, _ = newFlags()
	fs.Parse(nil)
	if err := applyEnv(fs, lookup); err == nil || !strings.Contains(err.Error(), "ONDO_PARALLEL") {
		t.Errorf("a bad environment value: %v", err)
	}
}

// The real command: it listens where the environment says, requires the
// key, serves a model, and on SIGTERM lets a running stream finish and
// exits 0.
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(testdata.Path(t, "gguf", "stories260K.gguf"), filepath.Join(dir, "stories.gguf")); err != nil {
		t.Fatal(err)
	}
	cmd, url, log, logDone := startServe(t, dir)
	get := func(path, key string) int { c, _ := getWith(t, url+path, key); return c }
	if c := get("/health", ""); c != 200 {
		t.Errorf("/health: %d", c)
	}
	if c, body := getWith(t, url+"/", ""); c != 200 || !strings.Contains(body, "<html") {
		t.Errorf("the chat page without the key: %d %.40q", c, body)
	}
	if c := get("/api/tags", ""); c != 401 {
		t.Errorf("/api/tags without the key: %d", c)
	}
	if c := get("/api/tags", "sekrit"); c != 200 {
		t.Errorf("/api/tags with the key: %d", c)
	}

	// A stream under way when the signal comes runs to its end.
	body, _ := json.Marshal(map[string]any{"model": "stories", "prompt": "Once upon a time", "raw": true,
		"options": map[string]any{"temperature": 0, "num_predict": 64}})
	req, _ := http.NewRequest("POST", url+"/api/generate", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer sekrit")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatal("no first line")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var last map[string]any
	n := 1
	for sc.Scan() {
		n++
		last = nil
		json.Unmarshal(sc.Bytes(), &last)
	}
	if last == nil || last["done"] != true || last["eval_count"].(float64) != 64 {
		t.Errorf("the stream did not finish after SIGTERM: %d lines, last %v", n, last)
	}
	<-logDone // stderr ends when the process does; Wait closes the pipe
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
	if !strings.Contains(log.String(), "stopped") {
		t.Errorf("log: %s", log.String())
	}
}

// startServe runs "ondo serve" on the models in dir, with the API key
// sekrit and the further flags args, and returns once it listens: the
// process, its URL, its log so far (the rest is copied in until logDone).
func startServe(t *testing.T, dir string, args ...string) (cmd *exec.Cmd, url string, log *bytes.Buffer, logDone chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd = exec.CommandContext(ctx, os.Args[0], append([]string{"serve", "--models-dir", dir, "--keep-alive", "1m"}, args...)...)
	cmd.Env = append(os.Environ(), runAsOndo+"=1", "ONDO_HOST=127.0.0.1:0", "ONDO_API_KEY=sekrit", "GOCOVERDIR="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	log = new(bytes.Buffer)
	for lines.Scan() {
		line := lines.Text()
		log.WriteString(line + "\n")
		if _, rest, ok := strings.Cut(line, "listening on "); ok {
			url, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("no listening line: %q", log.String())
	}
	logDone = make(chan struct{})
	go func() {
		io.Copy(log, stderr)
		close(logDone)
	}()
	return cmd, url, log, logDone
}

// getWith GETs url, with the API key when key is set, and returns the
// status and body.
func getWith(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// --no-ui serves the plain answer at /, behind the key like the API.
func TestServeNoUI(t *testing.T) {
	_, url, _, _ := startServe(t, t.TempDir(), "--no-ui")
	if c, _ := getWith(t, url+"/", ""); c != 401 {
		t.Errorf("/ without the key under --no-ui: %d", c)
	}
	if c, body := getWith(t, url+"/", "sekrit"); c != 200 || body != "Ondo is running" {
		t.Errorf("/ under --no-ui: %d %q", c, body)
	}
	if c, _ := getWith(t, url+"/ui/app.js", "sekrit"); c != 404 {
		t.Errorf("the page's script under --no-ui: %d", c)
	}
}
