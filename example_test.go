package ondo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
)

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
