package crosscheck

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/peer"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/all"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
)

var (
	clientOnce sync.Once
	client     *peer.Client
	clientErr  error
)

// llamaCpp returns the shared llama.cpp process, skipping the test unless
// ONDO_PEER=1 and failing it when the peer was asked for but is missing.
// The tests run it with one thread: its threads spin-wait, and the tests of
// other packages share the CPUs.
func llamaCpp(t *testing.T) *peer.Client {
	t.Helper()
	if os.Getenv("ONDO_PEER") != "1" {
		t.Skip("set ONDO_PEER=1 (after `npm ci` in bench/peer) to cross-check against llama.cpp")
	}
	clientOnce.Do(func() {
		if clientErr = peer.Available(); clientErr == nil {
			client, clientErr = peer.Start()
		}
	})
	if clientErr != nil {
		t.Fatalf("llama.cpp peer: %v", clientErr)
	}
	return client
}

func TestMain(m *testing.M) {
	code := m.Run()
	if client != nil {
		client.Close()
	}
	os.Exit(code)
}

// result is what one engine computed for a prompt.
type result struct {
	logprobs []float32 // last position, log-softmax
	greedy   []int32
	steps    [][]float32 // log-softmax at each greedy step (ondo only)
}

// runOndo evaluates tokens as one batch, then decodes n greedy tokens one
// at a time.
func runOndo(t *testing.T, path string, tokens []int32, n int) result {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c, err := m.NewCache(len(tokens)+n+1, true)
	if err != nil {
		t.Fatal(err)
	}
	vocab := m.Info().VocabSize
	logits := make([]float32, vocab)
	ctx := context.Background()
	if err := m.Forward(ctx, model.SeqBatch(c, tokens, 0, false), logits); err != nil {
		t.Fatal(err)
	}
	r := result{logprobs: sample.LogSoftmax(nil, logits)}
	greedy := sample.New(sample.Config{Temperature: 0})
	pos := len(tokens)
	for i := 0; i < n; i++ {
		id := greedy.Sample(logits)
		r.greedy = append(r.greedy, id)
		r.steps = append(r.steps, sample.LogSoftmax(nil, logits))
		if i == n-1 {
			break
		}
		if err := m.Forward(ctx, model.SeqBatch(c, []int32{id}, pos, false), logits); err != nil {
			t.Fatal(err)
		}
		pos++
	}
	return r
}

// compare returns the largest log-probability difference over the tokens
// llama.cpp reports as finite, and the first greedy step that differs (-1
// when none does).
func compare(a, b result) (maxDiff float64, firstMismatch int) {
	for i, want := range b.logprobs {
		if math.IsInf(float64(want), -1) {
			continue
		}
		if d := math.Abs(float64(a.logprobs[i] - want)); d > maxDiff {
			maxDiff = d

		}
	}
	firstMismatch = -1
	for i := range b.greedy {
		if i >= len(a.greedy) || a.greedy[i] != b.greedy[i] {
			firstMismatch = i
			break
		}
	}
	return maxDiff, firstMismatch
}

// prompt returns a deterministic token sequence starting with BOS.
func prompt(n, vocab int) []int32 {
	toks := []int32{1}
	x := uint32(12345)
	for len(toks) < n {
		x = x*1664525 + 1013904223
		toks = append(toks, int32(259+int(x>>8)%(vocab-259)))
	}
	return toks
}

type shape struct {
	name           string
	heads, kvHeads int
	untied         bool
}

var shapes = []shape{
	{"gqa", 4, 2, false},
	{"mha-untied", 4, 4, true},
}

// weightScale shrinks the synthetic weights from the 1/sqrt(fan-in) scale.
// At full scale a random-weight model is chaotic: llama.cpp itself gives
// log-probabilities up to 0.25 apart for the same prompt evaluated as one
// batch or token by token, because a float32 rounding difference anywhere
// (summation order of a SIMD dot product) can flip the 8-bit rounding of
// an activation (for quantized weights) or the fp16 rounding of an
// attention weight, and random weights amplify the flip. At this scale
// llama.cpp agrees with itself within the tolerances below, so a
// difference beyond them is ondo's.
const weightScale = 0.15

// attnScale sharpens attention again (query and key projections back near
// full scale), so that positions, and so RoPE, matter to the output.
var attnScale float32 = 5

// llamaTypes are the tensor types of the cross-check, with the largest
// allowed log-probability difference: 1e-3 for F32 and F16, 5e-3 for BF16
// (llama.cpp rounds activations to bf16 before BF16 matmuls, and its own
// BF16 and F32 files give logits 5e-3 apart, so one rounding flip of a bf16
// activation moves results by about 1e-3), 2e-2 for quantized weights.
var llamaTypes = []struct {
	typ string
	tol float64
}{
	{"F32", 1e-3}, {"F16", 1e-3}, {"BF16", 5e-3},
	{"Q8_0", 2e-2}, {"Q4_0", 2e-2}, {"Q4_1", 2e-2}, {"Q5_0", 2e-2}, {"Q5_1", 2e-2},
	{"Q2_K", 2e-2}, {"Q3_K", 2e-2}, {"Q4_K", 2e-2}, {"Q5_K", 2e-2}, {"Q6_K", 2e-2},
	{"Q4_K_M", 2e-2},
}

const (
	promptLen   = 24
	greedySteps = 32
)

func synthModel(t *testing.T, dir string, sh shape, typ string, mutate func(*synth.Config)) string {
	t.Helper()
	cfg, _ := synth.Preset("tiny")
	cfg.Heads, cfg.KVHeads, cfg.Untied = sh.heads, sh.kvHeads, sh.untied
	cfg.Type = typ
	// Pure types put every matrix in the named type; the _M preset keeps
	// llama.cpp's mix.
	cfg.Pure = !strings.HasSuffix(typ, "_M")
	cfg.Seed = 7
	cfg.WeightScale = weightScale
	cfg.AttnScale = attnScale
	name := sh.name + "-" + typ
	if mutate != nil {
		mutate(&cfg)
		name += "-mutated"
	}
	path := filepath.Join(dir, name+".gguf")
	if err := synth.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// greedyVerdict checks the greedy continuations. They must be identical,
// except that at a step where ondo's two best tokens are closer than tol in
// log-probability (a near tie that rounding decides) the sequences may part;
// that is reported, not failed. It returns the table cell and an error.
func greedyVerdict(ours, theirs result, tol float64) (string, error) {
	_, k := compare(ours, theirs)
	if k < 0 {
		return fmt.Sprintf("%d/%d identical", len(theirs.greedy), len(theirs.greedy)), nil
	}
	if k >= len(ours.steps) {
		return "", fmt.Errorf("ondo stopped after %d greedy tokens", len(ours.greedy))
	}
	lp := ours.steps[k]
	gap := float64(lp[ours.greedy[k]] - lp[theirs.greedy[k]])
	if gap <= tol {
		return fmt.Sprintf("%d identical, then a near tie (gap %.1e)", k, gap), nil
	}
	return "", fmt.Errorf("greedy differs from step %d (ondo's margin %.3g):\n ondo      %v\n llama.cpp %v", k, gap, ours.greedy, theirs.greedy)
}

// check is one row of a cross-check: ondo and llama.cpp on one file.
type check struct {
	diff     float64 // max |Δ log-prob| at the last prompt position
	selfDiff float64 // llama.cpp batch vs token by token, for scale
	greedy   string  // the greedy verdict, for the table
	err      error   // what failed, nil when the row passes
}

// crossCheck evaluates prompt on the model at path with ondo and llama.cpp
// and judges the result against tol: the last prompt position's
// log-probabilities within tol, and greedySteps greedy tokens identical
// (up to near ties, see greedyVerdict). Every architecture's cross-check
// uses it.
func crossCheck(t *testing.T, path string, prompt []int32, tol float64) check {
	t.Helper()
	lc := llamaCpp(t)
	ctx := context.Background()
	ours := runOndo(t, path, prompt, greedySteps)
	ref, err := lc.Eval(ctx, path, prompt, greedySteps, 1)
	if err != nil {
		t.Fatal(err)
	}
	self, err := lc.EvalWith(ctx, path, prompt, peer.EvalOptions{Threads: 1, Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	theirs := result{logprobs: ref.LogProbs, greedy: ref.Greedy}
	var c check
	c.diff, _ = compare(ours, theirs)
	c.selfDiff, _ = compare(result{logprobs: self.LogProbs}, theirs)
	c.greedy, c.err = greedyVerdict(ours, theirs, tol)
	if c.diff > tol {
		c.err = errors.Join(fmt.Errorf("max |Δ log-prob| %.3e > %.0e", c.diff, tol), c.err)
	}
	return c
}

// row formats a check for the table tableHeader starts.
func (c check) row(cells ...string) string {
	status := "ok"
	if c.err != nil {
		status = "FAIL"
	}
	return fmt.Sprintf("| %s | %.2e | %.2e | %s | %s |", strings.Join(cells, " | "), c.diff, c.selfDiff, c.greedy, status)
}

const tableHeader = "max abs Δ logprob vs llama.cpp | llama.cpp batch vs token-by-token | greedy | result |"

// TestLlamaMatchesLlamaCpp is issue 4's cross-check: for every type and
// shape, the last prompt position's log-probabilities must be within the
// type's tolerance of llama.cpp's and 32 greedy tokens identical.
func TestLlamaMatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, sh := range shapes {
		for _, ty := range llamaTypes {
			t.Run(sh.name+"/"+ty.typ, func(t *testing.T) {
				path := synthModel(t, dir, sh, ty.typ, nil)
				c := crossCheck(t, path, prompt(promptLen, 512), ty.tol)
				table = append(table, c.row(sh.name, ty.typ))
				if c.err != nil {
					t.Error(c.err)
				}
			})
		}
	}
	t.Logf("cross-check against llama.cpp (prompt %d tokens, %d greedy steps, weight scale %.2f, attention scale %.0f)\n"+
		"| shape | type | %s\n|---|---|---|---|---|---|\n%s",
		promptLen, greedySteps, weightScale, attnScale, tableHeader, strings.Join(table, "\n"))
}

// TestCrossCheckCanFail shows the tolerance catches a real mistake: a model
// evaluated with the wrong RoPE base or slightly wrong weights must land
// far outside it.
func TestCrossCheckCanFail(t *testing.T) {
	lc := llamaCpp(t)
	dir := t.TempDir()
	sh := shapes[0]
	path := synthModel(t, dir, sh, "F32", nil)
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	theirs := result{logprobs: ref.LogProbs}
	for name, mutate := range map[string]func(*synth.Config){
		// The default base instead of the model's, a classic mistake.
		"rope base 10000→500000": func(c *synth.Config) { c.RopeBase = 500000 },
		"rope base 10000→20000":  func(c *synth.Config) { c.RopeBase = 20000 },
		"weights 1% larger":      func(c *synth.Config) { c.WeightScale *= 1.01 },
	} {
		wrong := synthModel(t, dir, sh, "F32", mutate)
		diff, _ := compare(runOndo(t, wrong, toks, 1), theirs)
		t.Logf("%s: max |Δ log-prob| %.3g", name, diff)
		if diff < 10*llamaTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", name, diff, llamaTypes[0].tol)
		}
	}
}
