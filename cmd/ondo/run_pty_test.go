//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The chat is tested as a person uses it: ondo run on a pseudo-terminal,
// keys typed into it and the screen's text read back.

// openPTY opens a pseudo-terminal pair: the master (our side) and the
// slave, the child's terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Skipf("opening the terminal: %v", err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120})
	return m, s
}

// ptySession is ondo running on a pseudo-terminal.
type ptySession struct {
	t      *testing.T
	master *os.File
	cmd    *exec.Cmd

	mu     sync.Mutex
	screen bytes.Buffer // all output, \r\n as \n
	mark   int          // where the next expect starts looking
	done   chan struct{}
	exit   chan error
}

// startPTY runs ondo with args on a new terminal, as the leader of its
// own session with the terminal as its controlling one, so that Ctrl-C
// typed into it is a SIGINT.
func startPTY(t *testing.T, args ...string) *ptySession {
	t.Helper()
	m, s := openPTY(t)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runAsOndo+"=1")
	if os.Getenv("GOCOVERDIR") == "" {
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+t.TempDir())
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p := &ptySession{t: t, master: m, cmd: cmd, done: make(chan struct{}), exit: make(chan error, 1)}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.screen.Write(bytes.ReplaceAll(buf[:n], []byte("\r\n"), []byte("\n")))
				p.mu.Unlock()
			}
			if err != nil {
				return // EIO once the child has gone
			}
		}
	}()
	go func() { p.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
		m.Close()
		if t.Failed() || testing.Verbose() {
			t.Logf("terminal:\n%s", p.text())
		}
	})
	return p
}

// text is everything shown so far.
func (p *ptySession) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.screen.String()
}

// expect waits until want appears after what earlier expects matched and
// moves past it; it returns the text up to and including want.
func (p *ptySession) expect(want string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		s := p.screen.String()
		mark := p.mark
		if i := strings.Index(s[mark:], want); i >= 0 {
			p.mark = mark + i + len(want)
			p.mu.Unlock()
			return s[mark:p.mark]
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for %q; the terminal shows after the last match:\n%s", timeout, want, s[mark:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGrowth waits until n more bytes have been shown past the mark.
func (p *ptySession) waitGrowth(n int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		got := p.screen.Len() - p.mark
		p.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %v for output; got %d bytes:\n%s", timeout, got, p.text())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// send types s; "\r" is the Enter key, "\x03" Ctrl-C, "\x04" Ctrl-D.
func (p *ptySession) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("typing %q: %v", s, err)
	}
}

// line types a line and waits for the terminal to echo it.
func (p *ptySession) line(s string) {
	p.t.Helper()
	p.send(s + "\r")
	p.expect(s+"\n", 30*time.Second)
}

// wait waits for ondo to exit and returns its exit status.
func (p *ptySession) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case err := <-p.exit:
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(timeout):
		p.t.Fatalf("ondo did not exit within %v:\n%s", timeout, p.text())
	}
	return -1
}

// saveTranscript writes the session's text where ONDO_TRANSCRIPT_DIR
// says, for people to read.
func (p *ptySession) saveTranscript(name string) {
	if dir := os.Getenv("ONDO_TRANSCRIPT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, name), []byte(p.text()), 0o644)
	}
}

const prompt = ">>> "

// checkCut checks that Ctrl-C ended an answer and brought the prompt back.
// The terminal echoes ^C the moment the key is pressed; pieces the model had
// already decided may still be printed after it: the tiny model writes a
// piece every few hundred microseconds, and on a busy machine (CI runs test
// packages side by side) the signal can take a tenth of a second to be
// handled, so up to maxAfterCut bytes. An answer that Ctrl-C did not stop
// runs on to the context's end, thousands of bytes.
func checkCut(t *testing.T, shown string) {
	t.Helper()
	const maxAfterCut = 1000
	i := strings.LastIndex(shown, "^C")
	if i < 0 || !strings.HasSuffix(shown, "\n"+prompt) || len(shown)-i > maxAfterCut ||
		strings.Contains(shown, "Use Ctrl + d") || strings.Contains(shown, "\n\n^C") {
		t.Errorf("Ctrl-C did not cut the answer short:\n%s", shown)
	}
}

func TestRunChatTerminal(t *testing.T) {
	dir := storeWithTiny(t)
	noServer(t)
	p := startPTY(t, "run", "tiny", "--models-dir", dir)
	long := 2 * time.Minute

	p.expect(prompt, long)
	p.line("/set parameter temperature 0")
	p.expect("Set parameter 'temperature' to '0'\n"+prompt, long)
	p.line("/set parameter num_predict 12")
	p.expect("Set parameter 'num_predict' to '12'\n"+prompt, long)

	p.line("Once upon a time")
	first := p.expect(prompt, long)
	if strings.TrimSpace(first) == "" {
		t.Errorf("no answer")
	}
	if !strings.HasSuffix(first, "\n\n"+prompt) {
		t.Errorf("the answer does not end with a blank line before the prompt: %q", first)
	}

	p.line("/show info")
	info := p.expect(prompt, long)
	for _, want := range []string{"  Model\n", "    architecture        llama\n", "    parameters          ", "    context length      ", "    embedding length    ", "    quantization        "} {
		if !strings.Contains(info, want) {
			t.Errorf("/show info lacks %q:\n%s", want, info)
		}
	}

	// Several lines, between """.
	p.line(`"""`)
	p.expect("... ", long)
	p.line("The little dog")
	p.expect("... ", long)
	p.line(`ran to the park."""`)
	if got := p.expect(prompt, long); strings.TrimSpace(got) == "" {
		t.Errorf("no answer to the multi-line message")
	}

	// Korean, in and out.
	p.line("/set system 한국어로 짧게 대답하세요.")
	p.expect("Set system message.\n"+prompt, long)
	p.line("/show system")
	p.expect("한국어로 짧게 대답하세요.\n"+prompt, long)
	p.line("안녕하세요, 반가워요!")
	p.expect(prompt, long)

	p.line("/show parameters")
	params := p.expect(prompt, long)
	if !strings.Contains(params, "temperature") || !strings.Contains(params, "num_predict") {
		t.Errorf("/show parameters:\n%s", params)
	}
	p.line("/clear")
	p.expect("Cleared session context\n"+prompt, long)
	// A small context: a new cache of that size.
	p.line("/set parameter num_ctx 200")
	p.expect(prompt, long)
	p.line("Hi")
	if got := p.expect(prompt, long); strings.TrimSpace(got) == "" || strings.Contains(got, "error") {
		t.Errorf("with num_ctx 200: %q", got)
	}
	p.line("/set parameter num_ctx 2048")
	p.expect(prompt, long)
	p.line("/frobnicate")
	p.expect("Unknown command '/frobnicate'. Type /? for help\n"+prompt, long)
	p.line("/?")
	p.expect(`Use """ to begin a multi-line message.`, long)
	p.expect(prompt, long)

	// Ctrl-C stops an answer that would run to the end of the context,
	// and the chat goes on.
	p.line("/set parameter num_predict -1")
	p.expect(prompt, long)
	p.line("Tell me a long story.")
	p.waitGrowth(40, long)
	start := time.Now()
	p.send("\x03")
	checkCut(t, p.expect(prompt, 30*time.Second))
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Ctrl-C took %v to stop the answer", d)
	}
	p.line("/set parameter num_predict 4")
	p.expect(prompt, long)
	p.line("Hello again")
	if got := p.expect(prompt, long); strings.TrimSpace(got) == "" {
		t.Errorf("no answer after Ctrl-C")
	}

	p.line("/bye")
	if code := p.wait(long); code != 0 {
		t.Errorf("exit status %d after /bye", code)
	}
	p.saveTranscript("chat-local.txt")
}

// fakeServer is an Ollama-style server that records the chat requests it
// gets: it answers "echo: <last message>", or, for the message "slow",
// streams "tick " until the client goes away.
type fakeServer struct {
	url string

	mu        sync.Mutex
	chats     []fakeChat
	cancelled int
}

type fakeChat struct {
	Model    string                           `json:"model"`
	Messages []struct{ Role, Content string } `json:"messages"`
	Options  map[string]any                   `json:"options"`
	Stream   bool                             `json:"stream"`
}

func startFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"version":"fake"}`)
	})
	mux.HandleFunc("POST /api/show", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"template":"{{ messages }}","details":{"family":"fake","parameter_size":"7.2B","quantization_level":"Q4_K_M"},
			"model_info":{"general.architecture":"fakearch","fakearch.context_length":8192,"fakearch.embedding_length":4096}}`)
	})
	mux.HandleFunc("POST /api/chat", func(w http.ResponseWriter, r *http.Request) {
		var c fakeChat
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			http.Error(w, `{"error":"bad request"}`, 400)
			return
		}
		f.mu.Lock()
		f.chats = append(f.chats, c)
		f.mu.Unlock()
		last := c.Messages[len(c.Messages)-1].Content
		enc := json.NewEncoder(w)
		chunk := func(s string) {
			enc.Encode(map[string]any{"model": c.Model, "message": map[string]string{"role": "assistant", "content": s}, "done": false})
			w.(http.Flusher).Flush()
		}
		if last == "slow" {
			for {
				select {
				case <-r.Context().Done():
					f.mu.Lock()
					f.cancelled++
					f.mu.Unlock()
					return
				case <-time.After(20 * time.Millisecond):
					chunk("tick ")
				}
			}
		}
		chunk("echo: ")
		chunk(last)
		enc.Encode(map[string]any{"model": c.Model, "message": map[string]string{"role": "assistant", "content": ""}, "done": true, "done_reason": "stop",
			"total_duration": 1500000000, "load_duration": 2000000, "prompt_eval_count": 10, "prompt_eval_duration": 100000000,
			"eval_count": 20, "eval_duration": 1000000000})
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	f.url = ts.URL
	t.Setenv("ONDO_HOST", ts.URL)
	return f
}

func (f *fakeServer) requests() []fakeChat {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeChat(nil), f.chats...)
}

// The conversation a server gets: history, system message, several lines,
// Korean, parameters; and Ctrl-C closes the request.
func TestRunChatTerminalProtocol(t *testing.T) {
	f := startFakeServer(t)
	p := startPTY(t, "run", "some-model", "--verbose")
	long := time.Minute
	p.expect(prompt, long)
	p.line("/set parameter temperature 0")
	p.expect(prompt, long)
	p.line("/set parameter stop END 끝")
	p.expect("Set parameter 'stop' to 'END, 끝'\n"+prompt, long)
	p.line("hello")
	p.expect("echo: hello\n\n", long)
	p.expect("eval rate:            20.00 tokens/s\n", long) // --verbose, on stderr
	p.expect(prompt, long)
	p.line(`"""`)
	p.line("line one")
	p.line(`line two"""`)
	p.expect("echo: line one\nline two\n\n", long)
	p.expect(prompt, long)
	p.line("/set quiet")
	p.expect(prompt, long)
	p.line("/set system 너는 친절한 도우미야.")
	p.expect(prompt, long)
	p.line("한국어 할 줄 알아?")
	p.expect("echo: 한국어 할 줄 알아?\n\n"+prompt, long)
	p.line("/show info")
	info := p.expect(prompt, long)
	for _, want := range []string{"architecture        fakearch", "parameters          7.2B", "context length      8192", "embedding length    4096", "quantization        Q4_K_M"} {
		if !strings.Contains(info, want) {
			t.Errorf("/show info lacks %q:\n%s", want, info)
		}
	}
	p.line("slow")
	p.expect("tick tick ", long)
	p.send("\x03")
	checkCut(t, p.expect(prompt, 10*time.Second))
	p.line("after")
	p.expect("echo: after\n\n"+prompt, long)
	p.line("/clear")
	p.expect(prompt, long)
	p.line("fresh")
	p.expect("echo: fresh\n\n"+prompt, long)
	p.send("\x04") // Ctrl-D
	if code := p.wait(long); code != 0 {
		t.Errorf("exit status %d after Ctrl-D", code)
	}

	waitFor := func(cond func() bool) bool {
		for range 200 {
			if cond() {
				return true
			}
			time.Sleep(10 * time.Millisecond)
		}
		return false
	}
	if !waitFor(func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.cancelled == 1 }) {
		t.Errorf("Ctrl-C did not end the server's request")
	}
	reqs := f.requests()
	type m = struct{ Role, Content string }
	want := [][]m{
		{{"user", "hello"}},
		{{"user", "hello"}, {"assistant", "echo: hello"}, {"user", "line one\nline two"}},
		{{"system", "너는 친절한 도우미야."}, {"user", "hello"}, {"assistant", "echo: hello"}, {"user", "line one\nline two"}, {"assistant", "echo: line one\nline two"}, {"user", "한국어 할 줄 알아?"}},
	}
	if len(reqs) != 6 {
		t.Fatalf("%d chat requests, want 6: %+v", len(reqs), reqs)
	}
	for i, w := range want {
		if fmt.Sprint(reqs[i].Messages) != fmt.Sprint(w) {
			t.Errorf("request %d: messages %q, want %q", i, reqs[i].Messages, w)
		}
	}
	for i, r := range reqs {
		if r.Model != "some-model" || !r.Stream || r.Options["temperature"] != 0.0 || fmt.Sprint(r.Options["stop"]) != "[END 끝]" {
			t.Errorf("request %d: model %q, stream %v, options %v", i, r.Model, r.Stream, r.Options)
		}
	}
	// The answer cut short by Ctrl-C stays in the history as far as it went.
	after := reqs[4].Messages
	if n := len(after); n < 3 || after[n-3].Content != "slow" || !strings.HasPrefix(after[n-2].Content, "tick ") || after[n-1].Content != "after" {
		t.Errorf("history after Ctrl-C: %q", after)
	}
	if got := fmt.Sprint(reqs[5].Messages); got != fmt.Sprint([]m{{"system", "너는 친절한 도우미야."}, {"user", "fresh"}}) {
		t.Errorf("after /clear: %s", got)
	}
	p.saveTranscript("chat-protocol.txt")
}

// Ctrl-C at the prompt says how to leave; a second one in a row leaves.
func TestRunChatTerminalCtrlC(t *testing.T) {
	startFakeServer(t)
	p := startPTY(t, "run", "m")
	p.expect(prompt, time.Minute)
	p.send("\x03")
	p.expect("Use Ctrl + d or /bye to exit", 10*time.Second)
	p.expect(prompt, 10*time.Second)
	p.line("hi")
	p.expect("echo: hi\n\n"+prompt, time.Minute)
	p.send("\x03")
	p.expect(prompt, 10*time.Second)
	p.send("\x03")
	if code := p.wait(time.Minute); code != 0 {
		t.Errorf("exit status %d after two Ctrl-C", code)
	}
}

// On a real server, with a model of its store.
func TestRunChatTerminalServer(t *testing.T) {
	dir := storeWithTiny(t)
	startServer(t, dir, "")
	p := startPTY(t, "run", "tiny")
	long := 2 * time.Minute
	p.expect(prompt, long)
	p.line("/set parameter num_predict 8")
	p.expect(prompt, long)
	p.line("/set parameter temperature 0")
	p.expect(prompt, long)
	p.line("Once upon a time")
	if got := p.expect(prompt, long); strings.TrimSpace(got) == "" {
		t.Errorf("no answer")
	}
	p.line("/show info")
	if got := p.expect(prompt, long); !strings.Contains(got, "architecture        llama") {
		t.Errorf("/show info:\n%s", got)
	}
	p.line("/set parameter num_predict -1")
	p.expect(prompt, long)
	p.line("Tell me a long story.")
	p.waitGrowth(40, long)
	p.send("\x03")
	checkCut(t, p.expect(prompt, 30*time.Second))
	p.line("/set parameter num_predict 4")
	p.expect(prompt, long)
	p.line("And then?")
	if got := p.expect(prompt, long); strings.TrimSpace(got) == "" {
		t.Errorf("no answer after Ctrl-C")
	}
	p.line("/bye")
	if code := p.wait(long); code != 0 {
		t.Errorf("exit status %d", code)
	}
	p.saveTranscript("chat-server.txt")
}

// A missing Hugging Face model: ondo asks before pulling it.
func TestRunPullQuestion(t *testing.T) {
	hub := storiesHub(t)
	dir := filepath.Join(t.TempDir(), "models")
	noServer(t)
	t.Setenv("HF_ENDPOINT", hub.URL)

	p := startPTY(t, "run", storiesRepo, "--models-dir", dir)
	p.expect("pull hf.co/"+storiesRepo+":latest? [Y/n] ", time.Minute)
	p.send("n\r")
	p.expect("not pulled", time.Minute)
	if code := p.wait(time.Minute); code != 1 {
		t.Errorf("exit status %d after declining", code)
	}

	p = startPTY(t, "run", storiesRepo, "--models-dir", dir)
	p.expect("[Y/n] ", time.Minute)
	p.send("\r")
	p.expect("pulling manifest", time.Minute)
	p.expect("success", time.Minute)
	p.expect(prompt, time.Minute)
	p.line("/bye")
	if code := p.wait(time.Minute); code != 0 {
		t.Errorf("exit status %d", code)
	}
	p.saveTranscript("pull-question.txt")
}
