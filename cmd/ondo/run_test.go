package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
	"github.com/ondo-ai/ondo/store/hubtest"
	"github.com/ondo-ai/ondo/store/resolver"
	"github.com/ondo-ai/ondo/tokenizer"
)

// storeWithTiny makes a model store holding stories260K as "tiny".
func storeWithTiny(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "models")
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("tiny", testdata.Path(t, "gguf", "stories260K.gguf")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// noServer points ONDO_HOST at a port where nothing listens, so that ondo
// run works in-process whatever runs on this machine.
func noServer(t *testing.T) {
	t.Setenv("ONDO_HOST", "127.0.0.1:1")
}

const storiesRepo = "test/stories-GGUF"

// storiesHub is a fake Hugging Face Hub with stories260K in storiesRepo.
func storiesHub(t *testing.T) *hubtest.Server {
	hub := hubtest.New(t)
	hub.AddRepo(storiesRepo, hubtest.Repo{Files: []hubtest.File{hubtest.ReadFile(t, "stories260K-F32.gguf", testdata.Path(t, "gguf", "stories260K.gguf"))}})
	return hub
}

// startServer serves the model store in dir (and its NAME.gguf files) on
// a loopback port, as ondo serve does, pulling from hubURL; ONDO_HOST
// points at it.
func startServer(t *testing.T, dir, hubURL string) string {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Resolver: server.Chain{resolver.New(st), server.DirResolver{Dir: dir}},
		Puller:   &resolver.Puller{Store: st, Endpoint: hubURL},
		Version:  "0.0.0-test",
		Parallel: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	t.Setenv("ONDO_HOST", ln.Addr().String())
	return ln.Addr().String()
}

// greedy are the flags of a short, deterministic answer.
var greedy = []string{"-p", "num_predict=12", "-p", "temperature=0"}

func runArgs(extra ...string) []string {
	return append(append([]string{"run"}, greedy...), extra...)
}

func TestRunPrompt(t *testing.T) {
	dir := storeWithTiny(t)
	noServer(t)
	r := mustRun(t, runArgs("tiny", "--models-dir", dir, "Once upon a time")...)
	answer := r.stdout
	if strings.TrimSpace(answer) == "" || !strings.HasSuffix(answer, "\n") || r.stderr != "" {
		t.Fatalf("answer %q, stderr %q", answer, r.stderr)
	}
	if r := mustRun(t, runArgs("tiny", "--models-dir", dir, "Once upon a time")...); r.stdout != answer {
		t.Errorf("greedy answers differ: %q, %q", r.stdout, answer)
	}
	// The same prompt from standard input, or from both (stdin first).
	for _, c := range []struct{ stdin, arg string }{{"Once upon a time\n", ""}, {"Once upon", "a time"}} {
		args := runArgs("tiny", "--models-dir", dir)
		if c.arg != "" {
			args = append(args, c.arg)
		}
		r := runOndoStdin(t, c.stdin, args...)
		if r.code != 0 || r.stdout != answer {
			t.Errorf("stdin %q, argument %q: exit %d, %q (stderr %q), want %q", c.stdin, c.arg, r.code, r.stdout, r.stderr, answer)
		}
	}
	// A path, and a NAME.gguf file in the models folder, are the same model.
	src := testdata.Path(t, "gguf", "stories260K.gguf")
	if err := os.Symlink(src, filepath.Join(dir, "flat.gguf")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{src, "flat"} {
		if r := mustRun(t, runArgs(m, "--models-dir", dir, "Once upon a time")...); r.stdout != answer {
			t.Errorf("run %s: %q, want %q", m, r.stdout, answer)
		}
	}
	// --verbose: ollama's timings on stderr.
	r = mustRun(t, runArgs("tiny", "--models-dir", dir, "--verbose", "Once upon a time")...)
	if r.stdout != answer {
		t.Errorf("--verbose changed the answer: %q", r.stdout)
	}
	checkTimings(t, r.stderr, 12)
	// An empty prompt on standard input loads the model and says nothing.
	if r := runOndoStdin(t, "", "run", "tiny", "--models-dir", dir); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("empty prompt: %+v", r)
	}
}

// checkTimings checks ondo run --verbose's report.
func checkTimings(t *testing.T, stderr string, evalCount int) {
	t.Helper()
	for _, want := range []string{"total duration:       ", "load duration:        ", "prompt eval count:    ", "prompt eval duration: ",
		"prompt eval rate:     ", fmt.Sprintf("eval count:           %d token(s)\n", evalCount), "eval duration:        ", "eval rate:            "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--verbose output lacks %q:\n%s", want, stderr)
		}
	}
}

// With a server running, ondo run uses it, and answers as in-process.
func TestRunOnServer(t *testing.T) {
	dir := storeWithTiny(t)
	noServer(t)
	local := mustRun(t, runArgs("tiny", "--models-dir", dir, "Once upon a time")...).stdout

	startServer(t, dir, "")
	// No --models-dir: the server's store is used.
	if r := runOndoStdin(t, "Once upon a time", runArgs("tiny")...); r.code != 0 || r.stdout != local {
		t.Errorf("stdin prompt on the server: %+v", r)
	}
	r := mustRun(t, runArgs("tiny", "--verbose", "--keepalive", "10m", "Once upon a time")...)
	if r.stdout != local {
		t.Errorf("on the server: %q, in-process: %q", r.stdout, local)
	}
	checkTimings(t, r.stderr, 12)

	ps := mustRun(t, "ps").stdout
	lines := strings.Split(strings.TrimSuffix(ps, "\n"), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^tiny\s+270cba1bd510\s+\d+(\.\d)? [KM]B\s+100% CPU\s+2048\s+(9|10) minutes from now$`).MatchString(lines[1]) {
		t.Errorf("ondo ps:\n%s", ps)
	}

	// Errors the server reports.
	msg := checkFailure(t, runOndo(t, runArgs("nope", "x")...), "unknown model on the server")
	if !strings.Contains(msg, `"nope"`) || !strings.Contains(msg, "not found") {
		t.Errorf("unknown model: %s", msg)
	}
	msg = checkFailure(t, runOndo(t, runArgs("a/b/c/d", "x")...), "bad name on the server")
	if !strings.Contains(msg, "invalid model name") {
		t.Errorf("bad name: %s", msg)
	}
}

func TestRunPullOnDemand(t *testing.T) {
	hub := storiesHub(t)
	dir := filepath.Join(t.TempDir(), "models")
	noServer(t)
	t.Setenv("HF_ENDPOINT", hub.URL)
	r := mustRun(t, runArgs(storiesRepo, "--models-dir", dir, "--yes", "Once upon a time")...)
	if strings.TrimSpace(r.stdout) == "" {
		t.Errorf("no answer")
	}
	for _, want := range []string{"pulling manifest\n", "verifying sha256 digest\n", "writing manifest\n", "success\n"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("pull output lacks %q:\n%s", want, r.stderr)
		}
	}
	t.Logf("pull output:\n%s", r.stderr)
	// Without a terminal, ondo pulls without asking, as ollama does.
	r = runOndoStdin(t, "Once upon a time", runArgs(storiesRepo+":F32", "--models-dir", dir)...)
	if r.code != 0 || !strings.Contains(r.stderr, "success") {
		t.Errorf("pull without --yes: %+v", r)
	}
	list := mustRun(t, "list", "--models-dir", dir).stdout
	if !strings.Contains(list, "hf.co/"+storiesRepo+":latest") || !strings.Contains(list, "hf.co/"+storiesRepo+":F32") {
		t.Errorf("ondo list after the pulls:\n%s", list)
	}
	// A second run pulls nothing.
	if r := mustRun(t, runArgs(storiesRepo, "--models-dir", dir, "Hi")...); r.stderr != "" {
		t.Errorf("second run: stderr %q", r.stderr)
	}

	msg := checkPullFailure(t, runOndo(t, runArgs("test/missing", "--models-dir", dir, "--yes", "x")...), "missing repository")
	if !strings.HasPrefix(msg, "ondo: pull test/missing: repository test/missing not found") {
		t.Errorf("missing repository: %s", msg)
	}

	// Through a server: it pulls into its own store.
	sdir := filepath.Join(t.TempDir(), "server-models")
	startServer(t, sdir, hub.URL)
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1") // the server's Hub is used, not ours
	r = mustRun(t, runArgs(storiesRepo, "--yes", "Once upon a time")...)
	if strings.TrimSpace(r.stdout) == "" || !strings.Contains(r.stderr, "pulling manifest") || !strings.Contains(r.stderr, "success") {
		t.Errorf("pull through the server: %+v", r)
	}
	if list := mustRun(t, "list", "--models-dir", sdir).stdout; !strings.Contains(list, "hf.co/"+storiesRepo+":latest") {
		t.Errorf("the server's store after the pull:\n%s", list)
	}
	msg = checkPullFailure(t, runOndo(t, runArgs("test/missing", "--yes", "x")...), "missing repository on the server")
	if !strings.HasPrefix(msg, "ondo: pull test/missing: repository test/missing not found") {
		t.Errorf("missing repository on the server: %s", msg)
	}
}

func TestRunErrors(t *testing.T) {
	dir := storeWithTiny(t)
	noServer(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nope", "x"}, `model "nope" not found in`},
		{[]string{"a/b/c/d", "x"}, `invalid model name "a/b/c/d"`},
		{[]string{"../nowhere.gguf", "x"}, "no GGUF file at ../nowhere.gguf"},
		{[]string{"tiny", "--format", "yaml", "x"}, `--format "yaml" is neither json nor a JSON schema file`},
		{[]string{"tiny", "-p", "temperature=hot", "x"}, `temperature: "hot" is not a number`},
		{[]string{"tiny", "-p", "nope=1", "x"}, `unknown parameter "nope"`},
		{[]string{"tiny", "-p", "top_k", "x"}, "want NAME=VALUE"},
		{[]string{"tiny", "--keepalive", "soon", "x"}, "--keepalive"},
		{[]string{"tiny", "--format", "json", "-p", "num_predict=4", "Once upon a time"}, "not valid JSON: it was cut short"},
	} {
		msg := checkFailure(t, runOndo(t, append([]string{"run", "--models-dir", dir}, c.args...)...), strings.Join(c.args, " "))
		if !strings.Contains(msg, c.want) {
			t.Errorf("ondo run %s: %q, want %q", strings.Join(c.args, " "), msg, c.want)
		}
	}
	checkFailure(t, runOndo(t, "run"), "no model")
}

func TestCheckJSON(t *testing.T) {
	for s, ok := range map[string]bool{
		`{"a": 1}`: true, " [1, 2]\n": true, "```json\n{\"a\": \"한\"}\n```": true, "```\n1\n```": true,
		"": false, "{": false, "Sure! {\"a\": 1}": false, "```json\n{\n```": false,
	} {
		if err := checkJSON(s, ""); (err == nil) != ok {
			t.Errorf("checkJSON(%q) = %v", s, err)
		}
	}
	msgs := withJSONInstruction([]chat.Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "user", Content: "c"}})
	if msgs[0].Content != "a" || msgs[2].Content != "c"+jsonInstruction {
		t.Errorf("withJSONInstruction: %v", msgs)
	}
}

func TestParams(t *testing.T) {
	var p params
	for _, kv := range [][]string{{"temperature", "0.5"}, {"top_k", "10"}, {"top_p", "0.9"}, {"min_p", "0"}, {"num_ctx", "256"},
		{"seed", "42"}, {"repeat_penalty", "1.1"}, {"repeat_last_n", "-1"}, {"num_predict", "-1"}, {"stop", "a", "b c"}} {
		if err := p.set(kv[0], kv[1:]); err != nil {
			t.Errorf("set %v: %v", kv, err)
		}
	}
	b, _ := json.Marshal(p)
	want := `{"temperature":0.5,"top_k":10,"top_p":0.9,"min_p":0,"num_ctx":256,"seed":42,"repeat_penalty":1.1,"repeat_last_n":-1,"num_predict":-1,"stop":["a","b c"]}`
	if string(b) != want {
		t.Errorf("options %s, want %s", b, want)
	}
	cfg, err := p.sampling()
	if err != nil || cfg.Temperature != 0.5 || cfg.TopK != 10 || cfg.Seed != 42 || cfg.RepeatLastN != -1 {
		t.Errorf("sampling %+v, %v", cfg, err)
	}
	if got := len(p.list()); got != 10 {
		t.Errorf("list has %d entries", got)
	}
	for _, kv := range [][]string{{"temperature", "-1"}, {"top_p", "1.5"}, {"min_p", "x"}, {"top_k", "-1"}, {"num_ctx", "0"},
		{"repeat_last_n", "-2"}, {"num_predict", "-3"}, {"seed", "1.5"}, {"temperature"}, {"top_k", "1", "2"}, {"mirostat", "1"}} {
		if err := p.set(kv[0], kv[1:]); err == nil {
			t.Errorf("set %v: no error", kv)
		}
	}
	if p.TopP == nil || *p.TopP != 0.9 {
		t.Errorf("a refused value changed top_p: %v", p.TopP)
	}
}

// A conversation longer than the context loses its oldest turns, never
// the system message or the last question.
func TestLocalPromptTrims(t *testing.T) {
	b, err := openLocal(context.Background(), &runOptions{}, testdata.Path(t, "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	lb := b.(*localBackend)
	msgs := []chat.Message{{Role: "system", Content: "Be brief."}}
	for i := range 20 {
		msgs = append(msgs, chat.Message{Role: "user", Content: fmt.Sprintf("Question %d about a cat.", i)},
			chat.Message{Role: "assistant", Content: fmt.Sprintf("Answer %d about a dog.", i)})
	}
	msgs = append(msgs, chat.Message{Role: "user", Content: "The last question?"})
	full, _, err := lb.prompt(msgs, nil, 4096)
	if err != nil {
		t.Fatal(err)
	}
	ids, _, err := lb.prompt(msgs, nil, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) >= len(full) || len(ids)+50 > 200 {
		t.Errorf("%d tokens of %d kept for a context of 200", len(ids), len(full))
	}
	text, err := lb.m.Tokenizer().Decode(ids, tokenizer.DecodeOptions{Special: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Be brief.") || !strings.Contains(text, "The last question?") || strings.Contains(text, "Question 0 ") || !strings.Contains(text, "Answer 19 ") {
		t.Errorf("kept:\n%s", text)
	}
	// Too long even alone: an error that says what to do.
	huge := []chat.Message{{Role: "user", Content: strings.Repeat("cat ", 400)}}
	if _, _, err := lb.prompt(huge, nil, 100); err == nil || !strings.Contains(err.Error(), "num_ctx") {
		t.Errorf("a prompt larger than the context: %v", err)
	}
}
