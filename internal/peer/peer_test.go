package peer

import (
	"context"
	"encoding/json"
	td "github.com/ondo-ai/ondo/internal/testdata"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The peer tests run only with ONDO_PEER=1 (Node and `npm ci` in bench/peer needed); with it set,
// a missing install or missing test data is a failure, not a skip.

var (
	clientOnce sync.Once
	client     *Client
	clientErr  error
)

// peerClient returns one Client shared by the tests of this package (Node start-up is slow).
func peerClient(t *testing.T) *Client {
	t.Helper()
	if os.Getenv("ONDO_PEER") != "1" {
		t.Skip("llama.cpp peer tests run with ONDO_PEER=1 (needs node and `npm ci` in bench/peer)")
	}
	if err := Available(); err != nil {
		t.Fatal(err)
	}
	vocab := filepath.Join(testdata(t), "tokenizer", "ggml-vocab-gpt-2.gguf")
	clientOnce.Do(func() {
		t0 := time.Now()
		client, clientErr = Start()
		if clientErr == nil {
			// One cheap request to measure Node's start-up plus llama.cpp's initialisation.
			_, clientErr = client.Tokenize(context.Background(), vocab, "hi", false)
		}
		t.Logf("node start-up + llama.cpp init + vocab load: %v", time.Since(t0).Round(time.Millisecond))
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return client
}

func TestMain(m *testing.M) {
	code := m.Run()
	if client != nil {
		if err := client.Close(); err != nil {
			println(err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// testdata returns the shared test data folder (see internal/testdata).
func testdata(t *testing.T) string {
	t.Helper()
	return td.Dir(t)
}

func TestEvalMatchesReference(t *testing.T) {
	c := peerClient(t)
	dir := filepath.Join(testdata(t), "llamacpp-quant")
	raw, err := os.ReadFile(filepath.Join(dir, "synth-llama-f32.reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Tokens       []int32   `json:"tokens"`
		Logits       []float64 `json:"last_position_logits"`
		Argmax       int       `json:"argmax"`
		Greedy16Text string    `json:"greedy_16_text"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "synth-llama-f32.gguf")

	ctx := context.Background()
	t0 := time.Now()
	res, err := c.Eval(ctx, model, ref.Tokens, 16, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first eval (model load + %d tokens + 16 greedy): %v", len(ref.Tokens), time.Since(t0).Round(time.Millisecond))

	if res.Vocab != len(ref.Logits) || len(res.LogProbs) != len(ref.Logits) {
		t.Fatalf("vocab %d, %d logprobs; reference has %d logits", res.Vocab, len(res.LogProbs), len(ref.Logits))
	}
	want := logSoftmax(ref.Logits)
	worst, at := 0.0, 0
	for i, lp := range res.LogProbs {
		if d := math.Abs(float64(lp) - want[i]); d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	t.Logf("max |logprob - log_softmax(reference logits)| = %.3g (token %d)", worst, at)
	if !(worst <= 1e-4) {
		t.Errorf("token %d: logprob %v, want %v", at, res.LogProbs[at], want[at])
	}
	if got := argmax(res.LogProbs); got != ref.Argmax {
		t.Errorf("argmax %d, want %d", got, ref.Argmax)
	}
	if len(res.Greedy) != 16 || int(res.Greedy[0]) != ref.Argmax {
		t.Fatalf("greedy %v: want 16 tokens starting with %d", res.Greedy, ref.Argmax)
	}
	text, err := c.Detokenize(ctx, model, res.Greedy, false)
	if err != nil {
		t.Fatal(err)
	}
	if text != ref.Greedy16Text {
		t.Errorf("greedy text %q, want %q", text, ref.Greedy16Text)
	}

	// Same request again: the model is cached, and llama.cpp is deterministic on one thread.
	t0 = time.Now()
	again, err := c.EvalTop(ctx, model, ref.Tokens, 4, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second eval (model cached, top 3): %v", time.Since(t0).Round(time.Millisecond))
	if len(again.Top) != 3 || int(again.Top[0].ID) != ref.Argmax || again.Top[0].LogProb != res.LogProbs[ref.Argmax] {
		t.Errorf("top %v; want %d first with %v", again.Top, ref.Argmax, res.LogProbs[ref.Argmax])
	}
	if !slices.Equal(again.Greedy, res.Greedy[:4]) {
		t.Errorf("greedy %v, want %v", again.Greedy, res.Greedy[:4])
	}
}

func TestTokenizeGPT2(t *testing.T) {
	c := peerClient(t)
	base := filepath.Join(testdata(t), "tokenizer", "ggml-vocab-gpt-2.gguf")
	inputs, want := readVocabTest(t, base)
	for i, s := range inputs {
		got, err := c.Tokenize(context.Background(), base, s, false)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[i]) {
			t.Errorf("string %d %q: ids %v, want %v", i, s, got, want[i])
		}
	}
}

func TestEmbed(t *testing.T) {
	c := peerClient(t)
	model := filepath.Join(testdata(t), "llamacpp-quant", "synth-llama-f32.gguf")
	e, err := c.Embed(context.Background(), model, "the quick brown fox", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 256 { // the model's embedding length
		t.Fatalf("embedding of length %d, want 256", len(e))
	}
}

// TestErrorKeepsClient checks that a failed request is reported with llama.cpp's message and that
// the process goes on serving.
func TestErrorKeepsClient(t *testing.T) {
	c := peerClient(t)
	if _, err := c.Eval(context.Background(), "/nonexistent/model.gguf", []int32{1}, 0, 1); err == nil {
		t.Fatal("no error for a missing model")
	} else {
		t.Logf("expected error: %.200s", err)
	}
	base := filepath.Join(testdata(t), "tokenizer", "ggml-vocab-gpt-2.gguf")
	if ids, err := c.Tokenize(context.Background(), base, "Hello world", false); err != nil || !slices.Equal(ids, []int32{15496, 995}) {
		t.Fatalf("after an error: ids %v, err %v", ids, err)
	}
}

// readVocabTest reads llama.cpp's test-tokenizer-0 vectors: NAME.inp holds strings each followed
// by "\n__ggml_vocab_test__\n", NAME.out one line of space-separated ids per string.
func readVocabTest(t *testing.T, base string) ([]string, [][]int32) {
	t.Helper()
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	inputs := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("%d inputs but %d expected lines", len(inputs), len(lines))
	}
	want := make([][]int32, len(lines))
	for i, l := range lines {
		want[i] = []int32{}
		for _, f := range strings.Fields(l) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", base, i+1, err)
			}
			want[i] = append(want[i], int32(id))
		}
	}
	return inputs, want
}

func logSoftmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	lse := m + math.Log(s)
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v - lse
	}
	return y
}

// argmax returns the index of the largest value, the lowest index on ties.
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestCancelKills checks that a request whose context ends kills the process and leaves a client
// that reports it, rather than one that hangs or reads a stale answer.
func TestCancelKills(t *testing.T) {
	peerClient(t) // the gate and the install check
	c, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(testdata(t), "tokenizer", "ggml-vocab-gpt-2.gguf")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond) // Node needs > 1 s to start
	defer cancel()
	if _, err := c.Tokenize(ctx, base, "Hello", false); err != context.DeadlineExceeded {
		t.Fatalf("err %v, want %v", err, context.DeadlineExceeded)
	}
	if _, err := c.Tokenize(context.Background(), base, "Hello", false); err == nil {
		t.Fatal("a killed client still answers")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
