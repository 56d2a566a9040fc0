package server_test

// External tests: store/resolver imports the server, so tests that use it
// cannot be in package server.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
	"github.com/ondo-ai/ondo/store/hubtest"
	"github.com/ondo-ai/ondo/store/resolver"
)

const storiesRepo = "test/stories-GGUF"

// storeServer serves a model store in a fresh folder, which also holds the
// plain file flat.gguf, through the chain ondo serve uses, pulling from hub.
func storeServer(t *testing.T, hub *hubtest.Server) (url string, st *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := testdata.Path(t, "gguf", "stories260K.gguf")
	if err := os.Symlink(src, filepath.Join(dir, "flat.gguf")); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Resolver: server.Chain{resolver.New(st), server.DirResolver{Dir: dir}},
		Version:  "0.0.0-test",
	}
	if hub != nil {
		cfg.Puller = &resolver.Puller{Store: st, Endpoint: hub.URL}
	}
	return serveTest(t, cfg), st
}

func serveTest(t *testing.T, cfg server.Config) string {
	t.Helper()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// call sends a JSON request and returns the status and the body's lines.
func call(t *testing.T, method, u string, body any) (int, []map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s %s: line %q: %v", method, u, sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return resp.StatusCode, lines
}

func modelNames(t *testing.T, base string) []string {
	t.Helper()
	code, lines := call(t, "GET", base+"/api/tags", nil)
	if code != 200 || len(lines) != 1 {
		t.Fatalf("/api/tags: %d %v", code, lines)
	}
	var names []string
	for _, m := range lines[0]["models"].([]any) {
		names = append(names, m.(map[string]any)["name"].(string))
	}
	return names
}

func TestPull(t *testing.T) {
	hub := hubtest.New(t)
	data := hubtest.ReadFile(t, "stories260K-Q8_0.gguf", testdata.Path(t, "gguf", "stories260K.gguf"))
	hub.AddRepo(storiesRepo, hubtest.Repo{Files: []hubtest.File{data, {Path: "README.md", Data: []byte("hi"), NoLFS: true}}})
	base, st := storeServer(t, hub)
	sum := hubtest.SHA256(data.Data)

	if got := strings.Join(modelNames(t, base), ","); got != "flat" {
		t.Errorf("models before the pull: %s", got)
	}

	// The stream, as Ollama's.
	code, lines := call(t, "POST", base+"/api/pull", map[string]any{"model": storiesRepo, "insecure": false})
	if code != 200 || len(lines) < 4 {
		t.Fatalf("pull: %d %v", code, lines)
	}
	var statuses []string
	done := false
	for _, l := range lines {
		s, _ := l["status"].(string)
		if len(statuses) == 0 || statuses[len(statuses)-1] != s {
			statuses = append(statuses, s)
		}
		if s == "pulling "+sum[:12] {
			if l["digest"] != "sha256:"+sum || l["total"] != float64(len(data.Data)) {
				t.Errorf("progress line %v", l)
			}
			done = done || l["completed"] == l["total"]
		}
	}
	if !done {
		t.Errorf("no progress line with completed = total: %v", lines)
	}
	want := []string{"pulling manifest", "pulling " + sum[:12], "verifying sha256 digest", "writing manifest", "success"}
	if strings.Join(statuses, "|") != strings.Join(want, "|") {
		t.Errorf("statuses %q, want %q", statuses, want)
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		t.Logf("%s", b)
	}
	if last := lines[len(lines)-1]; len(last) != 1 || last["status"] != "success" {
		t.Errorf("last line %v", last)
	}

	// The pulled model is served by its name; the flat file still is.
	if got := strings.Join(modelNames(t, base), ","); got != "flat,hf.co/test/stories-GGUF:latest" {
		t.Errorf("models after the pull: %s", got)
	}
	for _, name := range []string{storiesRepo, "hf.co/test/stories-GGUF:latest", "flat"} {
		code, lines := call(t, "POST", base+"/api/generate", map[string]any{"model": name, "prompt": "Once", "raw": true, "stream": false,
			"options": map[string]any{"num_predict": 3, "temperature": 0}})
		if code != 200 || lines[0]["done"] != true {
			t.Errorf("generate %s: %d %v", name, code, lines)
		}
	}
	// /api/ps identifies a store model by its sha256, as Ollama does.
	_, lines = call(t, "GET", base+"/api/ps", nil)
	found := false
	for _, m := range lines[0]["models"].([]any) {
		m := m.(map[string]any)
		if m["name"] == storiesRepo {
			found = true
			if m["digest"] != sum {
				t.Errorf("ps digest %v, want %s", m["digest"], sum)
			}
		}
	}
	if !found {
		t.Errorf("ps: %v", lines)
	}

	// stream: false answers the final object only.
	code, lines = call(t, "POST", base+"/api/pull", map[string]any{"name": storiesRepo, "stream": false})
	if code != 200 || len(lines) != 1 || lines[0]["status"] != "success" || len(lines[0]) != 1 {
		t.Errorf("pull stream:false: %d %v", code, lines)
	}

	// Ollama's client.
	u, _ := url.Parse(base)
	c := ollama.NewClient(u, http.DefaultClient)
	var got []string
	err := c.Pull(context.Background(), &ollama.PullRequest{Model: "hf.co/" + storiesRepo + ":Q8_0"}, func(p ollama.ProgressResponse) error {
		got = append(got, p.Status)
		return nil
	})
	if err != nil || len(got) == 0 || got[len(got)-1] != "success" {
		t.Errorf("ollama client Pull: %v %q", err, got)
	}
	if _, _, err := st.Resolve("test/stories-GGUF:q8_0"); err != nil {
		t.Errorf("after the client's pull: %v", err)
	}
	err = c.Pull(context.Background(), &ollama.PullRequest{Model: "test/missing"}, func(ollama.ProgressResponse) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("ollama client Pull of a missing repository: %v", err)
	}

	// Delete removes store models and flat files.
	for _, name := range []string{"hf.co/test/stories-GGUF:Q8_0", storiesRepo, "flat"} {
		if code, lines := call(t, "DELETE", base+"/api/delete", map[string]any{"model": name}); code != 200 {
			t.Errorf("delete %s: %d %v", name, code, lines)
		}
	}
	if got := modelNames(t, base); len(got) != 0 {
		t.Errorf("models after deleting: %v", got)
	}
	if code, _ := call(t, "DELETE", base+"/api/delete", map[string]any{"model": "flat"}); code != 404 {
		t.Errorf("second delete: %d", code)
	}
}

func TestPullErrors(t *testing.T) {
	hub := hubtest.New(t)
	hub.AddRepo("test/gated", hubtest.Repo{Token: "secret", Files: []hubtest.File{hubtest.ReadFile(t, "m.gguf", testdata.Path(t, "gguf", "stories260K.gguf"))}})
	hub.AddRepo("test/empty", hubtest.Repo{Files: []hubtest.File{{Path: "README.md", Data: []byte("x"), NoLFS: true}}})
	base, _ := storeServer(t, hub)
	for _, c := range []struct {
		body   map[string]any
		status int
		msg    string
	}{
		{map[string]any{"stream": false}, 400, `"model" field is required`},
		{map[string]any{"model": "llama3", "stream": false}, 400, "only Hugging Face models can be pulled"},
		{map[string]any{"model": "../../etc/passwd", "stream": false}, 400, "invalid model name"},
		{map[string]any{"model": "test/missing", "stream": false}, 404, "not found"},
		{map[string]any{"model": "test/gated", "stream": false}, 403, "HF_TOKEN"},
		{map[string]any{"model": "test/empty", "stream": false}, 500, "no GGUF"},
		// Bad names are refused before the stream starts.
		{map[string]any{"model": "a/b/c/d"}, 400, "invalid model name"},
	} {
		code, lines := call(t, "POST", base+"/api/pull", c.body)
		if code != c.status || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), c.msg) {
			t.Errorf("%v: %d %v, want %d with %q", c.body, code, lines, c.status, c.msg)
		}
	}
	// Once streaming, an error is the stream's last line.
	code, lines := call(t, "POST", base+"/api/pull", map[string]any{"model": "test/missing"})
	if code != 200 || len(lines) < 2 || lines[0]["status"] != "pulling manifest" || !strings.Contains(lines[len(lines)-1]["error"].(string), "not found") {
		t.Errorf("streamed error: %d %v", code, lines)
	}

	// A server without a puller says so.
	base, _ = storeServer(t, nil)
	if code, lines := call(t, "POST", base+"/api/pull", map[string]any{"model": storiesRepo}); code != 501 || !strings.Contains(lines[0]["error"].(string), "no model store") {
		t.Errorf("no puller: %d %v", code, lines)
	}
}

// A store model shadows a flat file of the same name.
func TestStoreShadowsFlatFile(t *testing.T) {
	base, st := storeServer(t, nil)
	src := testdata.Path(t, "gguf", "stories260K.gguf")
	if _, err := st.Create("flat", src); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(modelNames(t, base), ","); got != "flat:latest" {
		t.Errorf("models: %s", got)
	}
	// Deleting removes the store model; then the flat file shows.
	if code, _ := call(t, "DELETE", base+"/api/delete", map[string]any{"model": "flat"}); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if got := strings.Join(modelNames(t, base), ","); got != "flat" {
		t.Errorf("models after delete: %s", got)
	}
}
