// Package peer drives llama.cpp, through the Node package node-llama-cpp in bench/peer, as a
// reference implementation and a rival for ondo's tests and benchmarks.
//
// A Client keeps one long-lived `node eval.mjs` process and talks newline-delimited JSON with it:
// Node's start-up and model loading are paid once, and each distinct model is loaded once per
// process. The peer is optional: Available says whether this machine can run it (node on PATH and
// `npm ci` done in bench/peer).
package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ondo-ai/ondo/internal/repo"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RepoRoot returns the repository's root directory (the one holding go.mod).
func RepoRoot() (string, error) {
	dir, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("peer: no go.mod above the current directory: %w", err)
	}
	return dir, nil
}

// Dir returns the Node project's directory, bench/peer under the repository root.
func Dir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bench", "peer"), nil
}

// Available returns nil when the peer can run here: `node` is on PATH and bench/peer has its
// node_modules installed. Otherwise the error says what is missing and how to get it.
func Available() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("peer: node is not on PATH (Node.js >= 20 is needed): %w", err)
	}
	dir, err := Dir()
	if err != nil {
		return err
	}
	mod := filepath.Join(dir, "node_modules", "node-llama-cpp")
	if _, err := os.Stat(mod); err != nil {
		return fmt.Errorf("peer: %s is missing: run `npm ci` in %s", mod, dir)
	}
	return nil
}

// Client is one running `node eval.mjs` process. Its methods may be called from several
// goroutines; requests are served one at a time, in order.
type Client struct {
	mu      sync.Mutex // serialises requests; guards broken
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *bufio.Reader
	stderr  *tailBuffer
	broken  error // set once the process is unusable
	done    chan struct{}
	waitErr error // valid once done is closed
}

// Start launches the Node process. It returns before Node has loaded anything: the first request
// pays its start-up (about a second here).
func Start() (*Client, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "eval.mjs")
	cmd.Dir = dir
	c := &Client{cmd: cmd, stderr: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	c.stdout = bufio.NewReaderSize(out, 1<<20)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peer: starting node: %w", err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Close ends the Node process: it closes its input, lets it exit, and kills it after 5 seconds.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken == nil {
		c.broken = errors.New("peer: client closed")
	}
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	var ee *exec.ExitError
	if c.waitErr != nil && !errors.As(c.waitErr, &ee) {
		return fmt.Errorf("peer: %w", c.waitErr)
	}
	if ee != nil && !ee.Exited() {
		return nil // killed by us
	}
	if ee != nil {
		return fmt.Errorf("peer: node exited with %v; stderr:\n%s", c.waitErr, c.stderr.String())
	}
	return nil
}

// do sends one request and decodes its response into resp. When ctx ends before the answer, the
// process is killed (a request cannot be withdrawn from Node) and the client is unusable.
func (c *Client) do(ctx context.Context, req any, resp any) error {
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	type result struct {
		line []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		if _, err := c.stdin.Write(append(line, '\n')); err != nil {
			ch <- result{err: err}
			return
		}
		b, err := c.stdout.ReadBytes('\n')
		ch <- result{b, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		c.cmd.Process.Kill()
		<-ch
		c.broken = fmt.Errorf("peer: client killed after a cancelled request: %w", ctx.Err())
		return ctx.Err()
	}
	if r.err != nil {
		// The process died or closed its output: wait briefly for its exit status and stderr.
		exit := "still running"
		select {
		case <-c.done:
			exit = fmt.Sprint(c.waitErr)
		case <-time.After(2 * time.Second):
		}
		c.broken = fmt.Errorf("peer: node process failed (%v, exit status: %s); stderr:\n%s",
			r.err, exit, c.stderr.String())
		return c.broken
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.line, &e); err != nil {
		return fmt.Errorf("peer: bad response line %.200q: %w; stderr:\n%s", r.line, err, c.stderr.String())
	}
	if e.Error != nil {
		return fmt.Errorf("peer: llama.cpp: %s", *e.Error)
	}
	if err := json.Unmarshal(r.line, resp); err != nil {
		return fmt.Errorf("peer: bad response: %w", err)
	}
	return nil
}

// EvalResult is llama.cpp's answer for one token sequence.
type EvalResult struct {
	// Vocab is the model's vocabulary size.
	Vocab int
	// LogProbs[id] is the natural-log probability (log-softmax of the raw logits) of token id
	// following the last given token; -Inf where llama.cpp's float32 probability underflowed to 0
	// (log-probability below about -103). Nil for EvalTop.
	LogProbs []float32
	// Top holds the k most likely next tokens, most likely first (EvalTop only).
	Top []TokenLogProb
	// Greedy holds the tokens generated after the given ones by pure argmax decoding.
	Greedy []int32
}

// TokenLogProb is one token with its log-probability.
type TokenLogProb struct {
	ID      int32
	LogProb float32
}

type evalRequest struct {
	Op      string  `json:"op"`
	Model   string  `json:"model"`
	Tokens  []int32 `json:"tokens"`
	Greedy  int     `json:"greedy"`
	Threads int     `json:"threads"`
	Top     int     `json:"top"`
	Batch   int     `json:"batch,omitempty"`
}

type evalResponse struct {
	Vocab    int           `json:"vocab"`
	LogProbs []*float64    `json:"logprobs"`
	Top      [][2]*float64 `json:"top"`
	Greedy   []int32       `json:"greedy"`
}

// Eval runs model (a GGUF path) on tokens with llama.cpp's CPU backend, threads threads and flash
// attention off, and returns the full next-token log-probability vector after the last token and
// the next greedy tokens. The model is loaded on first use and kept.
func (c *Client) Eval(ctx context.Context, model string, tokens []int32, greedy, threads int) (*EvalResult, error) {
	return c.EvalWith(ctx, model, tokens, EvalOptions{Greedy: greedy, Threads: threads})
}

// EvalOptions tune EvalWith.
type EvalOptions struct {
	Greedy  int // greedy tokens to generate after the prompt
	Threads int // llama.cpp threads (required, >= 1)
	Top     int // when > 0, return only the Top most likely tokens
	Batch   int // when > 0, evaluate the prompt in batches of this size
}

// EvalWith is Eval with every option.
func (c *Client) EvalWith(ctx context.Context, model string, tokens []int32, o EvalOptions) (*EvalResult, error) {
	return c.eval(ctx, model, tokens, o)
}

// EvalTop is Eval returning only the k most likely next tokens instead of the whole vocabulary
// (a smaller response for large vocabularies).
func (c *Client) EvalTop(ctx context.Context, model string, tokens []int32, greedy, threads, k int) (*EvalResult, error) {
	if k < 1 {
		return nil, fmt.Errorf("peer: EvalTop needs k >= 1, got %d", k)
	}
	return c.eval(ctx, model, tokens, EvalOptions{Greedy: greedy, Threads: threads, Top: k})
}

func (c *Client) eval(ctx context.Context, model string, tokens []int32, o EvalOptions) (*EvalResult, error) {
	if o.Threads < 1 {
		return nil, fmt.Errorf("peer: threads must be >= 1, got %d", o.Threads)
	}
	path, err := filepath.Abs(model)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	var resp evalResponse
	req := evalRequest{Op: "eval", Model: path, Tokens: tokens, Greedy: o.Greedy, Threads: o.Threads, Top: o.Top, Batch: o.Batch}
	if err := c.do(ctx, req, &resp); err != nil {
		return nil, err
	}
	res := &EvalResult{Vocab: resp.Vocab, Greedy: resp.Greedy}
	if resp.LogProbs != nil {
		res.LogProbs = make([]float32, len(resp.LogProbs))
		for i, p := range resp.LogProbs {
			res.LogProbs[i] = orNegInf(p)
		}
	}
	for _, t := range resp.Top {
		if t[0] == nil {
			return nil, errors.New("peer: top entry without a token id")
		}
		res.Top = append(res.Top, TokenLogProb{ID: int32(*t[0]), LogProb: orNegInf(t[1])})
	}
	return res, nil
}

// orNegInf maps JSON null (a zero probability) to -Inf.
func orNegInf(p *float64) float32 {
	if p == nil {
		return float32(math.Inf(-1))
	}
	return float32(*p)
}

// Tokenize returns llama.cpp's token ids for text with the vocabulary of model (a vocab-only or
// full GGUF), without BOS/EOS. With special, text such as "<s>" becomes the special token.
func (c *Client) Tokenize(ctx context.Context, model, text string, special bool) ([]int32, error) {
	path, err := filepath.Abs(model)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	req := struct {
		Op      string `json:"op"`
		Model   string `json:"model"`
		Text    string `json:"text"`
		Special bool   `json:"special"`
	}{"tokenize", path, text, special}
	var resp struct {
		IDs []int32 `json:"ids"`
	}
	if err := c.do(ctx, req, &resp); err != nil {
		return nil, err
	}
	if resp.IDs == nil {
		resp.IDs = []int32{}
	}
	return resp.IDs, nil
}

// Detokenize returns llama.cpp's text for ids; bytes that are not valid UTF-8 come back as U+FFFD.
func (c *Client) Detokenize(ctx context.Context, model string, ids []int32, special bool) (string, error) {
	path, err := filepath.Abs(model)
	if err != nil {
		return "", fmt.Errorf("peer: %w", err)
	}
	req := struct {
		Op      string  `json:"op"`
		Model   string  `json:"model"`
		IDs     []int32 `json:"ids"`
		Special bool    `json:"special"`
	}{"detokenize", path, ids, special}
	var resp struct {
		Text string `json:"text"`
	}
	if err := c.do(ctx, req, &resp); err != nil {
		return "", err
	}
	return resp.Text, nil
}

// Embed returns llama.cpp's embedding of text from model's embedding context (the model's own
// pooling; the last token's hidden state when it declares none).
func (c *Client) Embed(ctx context.Context, model, text string, threads int) ([]float32, error) {
	if threads < 1 {
		return nil, fmt.Errorf("peer: threads must be >= 1, got %d", threads)
	}
	path, err := filepath.Abs(model)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	req := struct {
		Op      string `json:"op"`
		Model   string `json:"model"`
		Text    string `json:"text"`
		Threads int    `json:"threads"`
	}{"embed", path, text, threads}
	var resp struct {
		Embedding []float32 `json:"embedding"`
	}
	if err := c.do(ctx, req, &resp); err != nil {
		return nil, err
	}
	return resp.Embedding, nil
}

// Rank returns llama.cpp's reranking of tokens (a query and a document, already formatted) from
// model's ranking context: score is the classification head's first output (what llama-server's
// /v1/rerank reports), probability what node-llama-cpp's rank returns.
func (c *Client) Rank(ctx context.Context, model string, tokens []int32, threads int) (score, probability float32, err error) {
	if threads < 1 {
		return 0, 0, fmt.Errorf("peer: threads must be >= 1, got %d", threads)
	}
	path, err := filepath.Abs(model)
	if err != nil {
		return 0, 0, fmt.Errorf("peer: %w", err)
	}
	req := struct {
		Op      string  `json:"op"`
		Model   string  `json:"model"`
		Tokens  []int32 `json:"tokens"`
		Threads int     `json:"threads"`
	}{"rank", path, tokens, threads}
	var resp struct {
		Score       float32 `json:"score"`
		Probability float32 `json:"probability"`
	}
	if err := c.do(ctx, req, &resp); err != nil {
		return 0, 0, err
	}
	return resp.Score, resp.Probability, nil
}

// tailBuffer keeps the last max bytes written to it (Node's stderr), for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, []byte("\uFFFD"))))
	if s == "" {
		return "(empty)"
	}
	return s
}
