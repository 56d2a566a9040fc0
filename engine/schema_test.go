package engine_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/grammar"
	schemagbnf "github.com/ondo-ai/ondo/grammar/jsonschema"
	"github.com/ondo-ai/ondo/internal/schematest"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// realisticSchemas reads the schemas of the generation property test
// (grammar/jsonschema/testdata/realistic.json, in the test suite's layout,
// with valid examples): nested objects, arrays of objects with minItems,
// Korean enum values, recursion through $ref, patterns, bounded numbers,
// dates and other formats. Free strings carry a maxLength: a random-weight
// model would otherwise write strings as long as its context before it
// happened to close one.
func realisticSchemas(tb testing.TB) (names []string, schemas map[string]string) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "grammar", "jsonschema", "testdata", "realistic.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var groups []struct {
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(raw, &groups); err != nil {
		tb.Fatal(err)
	}
	schemas = map[string]string{}
	for _, g := range groups {
		names = append(names, g.Description)
		schemas[g.Description] = string(g.Schema)
	}
	return names, schemas
}

// TestSchemaGenerationProperty samples a random-weight model at temperature
// 1 with many seeds under each schema, through the engine (four sequences
// batched at a time): every output must finish (end of generation reached,
// whitespace bounded), parse, and validate against its schema with an
// independent validator (santhosh-tekuri/jsonschema, formats asserted).
func TestSchemaGenerationProperty(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 3
	}
	m, tok := open(t, synthTiny(t, 2048, ""), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 4, Context: 2048, MaxQueue: 64})
	prompt := tok.Encode("JSON:", tokenizer.EncodeOptions{AddSpecial: true})
	names, schemas := realisticSchemas(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src := schemas[name]
			gbnf, err := schemagbnf.Compile([]byte(src), schemagbnf.Options{})
			if err != nil {
				t.Fatal(err)
			}
			g, err := grammar.Parse(gbnf)
			if err != nil {
				t.Fatal(err)
			}
			validator := schematest.Compile(t, src)
			outs := make([]output, seeds)
			var wg sync.WaitGroup
			for i := range seeds {
				wg.Go(func() {
					outs[i] = run(t, e, engine.Request{Prompt: prompt, MaxTokens: 1800, Grammar: g,
						Sampling: sample.Config{Temperature: 1, Seed: int64(i)}})
				})
			}
			wg.Wait()
			tokens := 0
			for i, o := range outs {
				tokens += len(o.tokens)
				if o.final.Result.FinishReason != engine.FinishStop {
					t.Errorf("seed %d: did not finish in %d tokens: %q", i, len(o.tokens), o.text)
					continue
				}
				if msg := schematest.Check(validator, o.text); msg != "" {
					t.Errorf("seed %d: %s\n%s", i, msg, o.text)
				}
			}
			t.Logf("%s: %d outputs, all finished and valid, %d tokens in all; first: %s", name, seeds, tokens, outs[0].text)
		})
	}
}

// TestGrammarTimePerToken reports the time each generated token spends in
// the grammar (forcing, checking, masks: engine.ObserveConstraint) while a
// random-weight model samples the realistic schemas at temperature 1, each
// schema compiled afresh: a pessimistic case, since such a model's draws
// are rejected far more often than a trained one's. Set ONDO_MASKCOST=1.
func TestGrammarTimePerToken(t *testing.T) {
	if os.Getenv("ONDO_MASKCOST") == "" {
		t.Skip("set ONDO_MASKCOST=1 to measure")
	}
	var mu sync.Mutex
	var spent []time.Duration
	m, tok := open(t, synthTiny(t, 2048, ""), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 4, Context: 2048, MaxQueue: 64,
		OnObserve: func(kind string, d time.Duration) {
			if kind == engine.ObserveConstraint {
				mu.Lock()
				spent = append(spent, d)
				mu.Unlock()
			}
		}})
	prompt := tok.Encode("JSON:", tokenizer.EncodeOptions{AddSpecial: true})
	names, schemas := realisticSchemas(t)
	for _, name := range names {
		gbnf, err := schemagbnf.Compile([]byte(schemas[name]), schemagbnf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g, err := grammar.Parse(gbnf)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				run(t, e, engine.Request{Prompt: prompt, MaxTokens: 1800, Grammar: g,
					Sampling: sample.Config{Temperature: 1, Seed: int64(i)}})
			})
		}
		wg.Wait()
	}
	slices.Sort(spent)
	var sum time.Duration
	for _, d := range spent {
		sum += d
	}
	q := func(p float64) time.Duration { return spent[min(len(spent)-1, int(p*float64(len(spent))))] }
	fmt.Printf("grammar time per generated token (tiny model, vocabulary %d, %d tokens): mean %v, p50 %v, p99 %v, max %v\n",
		tok.VocabSize(), len(spent), sum/time.Duration(len(spent)), q(0.5), q(0.99), spent[len(spent)-1])
}
