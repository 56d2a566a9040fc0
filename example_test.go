package ondo_test

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
)

// sharedExamples are the examples that run on the shared test models.
const sharedExamples = "^ExampleSession_Generate_jsonSchema$"

// TestMain skips the examples that need the shared test models when they
// are missing, as the tests that need them skip (an example cannot skip
// itself); under CI they run and fail instead.
func TestMain(m *testing.M) {
	flag.Parse()
	if _, err := testdata.Find(); err != nil && os.Getenv("CI") == "" {
		fmt.Fprintf(os.Stderr, "skipping %s: shared test data not found: %v; set ONDO_TESTDATA to the shared/testdata folder\n", sharedExamples, err)
		skip := sharedExamples
		if f := flag.Lookup("test.skip"); f != nil && f.Value.String() != "" {
			skip = f.Value.String() + "|" + skip
		}
		flag.Set("test.skip", skip)
	}
	os.Exit(m.Run())
}

// Load a model, open a session and stream text as it is generated.
func Example() {
	dir, err := os.MkdirTemp("", "ondo-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// A small random-weight model stands in for a real one here.
	path := filepath.Join(dir, "tiny.gguf")
	cfg, _ := synth.Preset("tiny")
	if err := synth.Write(path, cfg); err != nil {
		log.Fatal(err)
	}

	m, err := ondo.Load(path, ondo.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s, err := m.NewSession(ondo.SessionOptions{Context: 256})
	if err != nil {
		log.Fatal(err)
	}
	var text strings.Builder
	res, err := s.Generate(context.Background(), m.Tokenize("Once upon a time", true),
		ondo.GenerateOptions{MaxTokens: 8, Sampling: sample.Config{Temperature: 0}},
		func(piece string) error {
			text.WriteString(piece) // or print it as it comes
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Tokens), "tokens,", res.FinishReason)
	// Output: 8 tokens, length
}

// Constrain the output to a JSON schema: whatever the model, the text is
// JSON that validates, and generation ends when the JSON does.
func ExampleSession_Generate_jsonSchema() {
	dir, err := testdata.Find() // stories260K, from the shared test models
	if err != nil {
		log.Fatal(err)
	}
	m, err := ondo.Load(filepath.Join(dir, "gguf", "stories260K.gguf"), ondo.Options{Threads: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	src, err := jsonschema.Compile([]byte(`{
		"type": "object",
		"properties": {
			"name": {"type": "string", "maxLength": 12},
			"age": {"type": "integer", "minimum": 1, "maximum": 99}
		},
		"required": ["name", "age"]
	}`), jsonschema.Options{Strict: true})
	if err != nil {
		log.Fatal(err)
	}
	g, err := grammar.Parse(src) // compile once, use for every request
	if err != nil {
		log.Fatal(err)
	}

	s, err := m.NewSession(ondo.SessionOptions{Context: 256})
	if err != nil {
		log.Fatal(err)
	}
	var text strings.Builder
	res, err := s.Generate(context.Background(), m.Tokenize("Once upon a time", true),
		ondo.GenerateOptions{MaxTokens: 100, Grammar: g},
		func(piece string) error {
			text.WriteString(piece)
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(text.String())
	fmt.Println(res.FinishReason)
	// Output:
	// { "name" : "I can help m" , "age" : 30 }
	// stop
}
