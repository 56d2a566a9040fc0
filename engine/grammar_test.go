package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// Grammars under continuous batching: many sequences at once, each with
// its own grammar state, sampled at temperature 1 with their own seeds,
// sharing slots and prompt prefixes. Every text must be a whole sentence of
// its grammar (the end of generation only once it is complete), and a seed
// must give the same text every time.
func TestGrammarsInBatches(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 4, Context: 256, MaxQueue: 32})
	grammars := []string{
		`root ::= "Once upon a time, " [a-z ]{3,30} "."`,
		`root ::= "{\"name\": \"" ( "김민준" | "이서연" | [a-z]{1,8} ) "\", \"age\": " [1-9] [0-9]? "}"`,
		`root ::= ( "yes" | "no" ) "!"`,
		`root ::= "[" ( [0-9]{1,3} ( ", " [0-9]{1,3} ){0,4} )? "]"`,
	}
	gs := make([]*grammar.Grammar, len(grammars))
	for i, src := range grammars {
		g, err := grammar.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		gs[i] = g
	}
	prompt := tok.Encode("Once upon a time", tokenizer.EncodeOptions{AddSpecial: true})
	type result struct{ text, finish string }
	runAll := func() []result {
		out := make([]result, 24)
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				o := run(t, e, engine.Request{
					Prompt: prompt, MaxTokens: 200, Grammar: gs[i%len(gs)],
					Sampling: sample.Config{Temperature: 1, Seed: int64(i)},
				})
				out[i] = result{o.text, o.final.Result.FinishReason}
			})
		}
		wg.Wait()
		return out
	}
	first := runAll()
	for i, r := range first {
		g := gs[i%len(gs)]
		if r.finish != engine.FinishStop || !g.MatchString(r.text) {
			t.Errorf("request %d (%s): %q (finish %s) is not a sentence of the grammar", i, grammars[i%len(gs)], r.text, r.finish)
		}
	}
	again := runAll()
	for i := range first {
		if first[i] != again[i] {
			t.Errorf("request %d: seed %d gave %q, then %q", i, i, first[i].text, again[i].text)
		}
	}
}

// Greedy decoding with a grammar picks, at each step, the most likely token
// the grammar allows: the grammar only removes tokens.
func TestGrammarGreedyFollowsModel(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 256})
	prompt := tok.Encode("Once upon a time", tokenizer.EncodeOptions{AddSpecial: true})
	free := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 12})
	// A grammar that allows anything but the newline still gives the same
	// text when the model wrote none.
	g, err := grammar.Parse(`root ::= [^\n]*`)
	if err != nil {
		t.Fatal(err)
	}
	got := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 12, Grammar: g})
	if got.text != free.text {
		t.Fatalf("constrained greedy text %q, unconstrained %q", got.text, free.text)
	}
	// A literal grammar is emitted token by token, whatever the model
	// thinks, and then ends.
	lit, err := grammar.Parse(`root ::= " 안녕하세요, JSON {\"a\": 1}"`)
	if err != nil {
		t.Fatal(err)
	}
	o := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 100, Grammar: lit})
	if o.text != " 안녕하세요, JSON {\"a\": 1}" || o.final.Result.FinishReason != engine.FinishStop {
		t.Fatalf("literal grammar gave %q (%s)", o.text, o.final.Result.FinishReason)
	}
}

func TestGrammarBadToken(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 64})
	g, err := grammar.Parse(`root ::= <think> "a"`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Submit(context.Background(), engine.Request{Prompt: []int32{tok.BOS()}, Grammar: g})
	if !errors.Is(err, engine.ErrBadRequest) {
		t.Fatalf("Submit with an unknown token: %v, want ErrBadRequest", err)
	}
	if want := "<think> is not in the vocabulary"; !strings.Contains(fmt.Sprint(err), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
