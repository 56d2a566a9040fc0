// Package ondo runs large language models from GGUF files on the CPU. It is
// the library behind the ondo command: load a model, open a session (a
// sequence with its own key/value cache), and stream generated text with a
// context for cancellation.
//
//	m, err := ondo.Load("model.gguf", ondo.Options{})
//	…
//	defer m.Close()
//	s, err := m.NewSession(ondo.SessionOptions{Context: 2048})
//	…
//	prompt := m.Tokenize("Once upon a time", true)
//	res, err := s.Generate(ctx, prompt, ondo.GenerateOptions{MaxTokens: 64},
//		func(text string) error { fmt.Print(text); return nil })
//
// The pieces it joins are packages of their own: gguf (files), tokenizer,
// model (architectures, registered by name), sample (samplers) and kernels.
package ondo

import (
	"fmt"
	"sync"
	"time"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/all" // the architectures ondo runs
	"github.com/ondo-ai/ondo/tokenizer"
)

// Options tune loading.
type Options struct {
	// Threads the kernels use; 0 means all CPUs.
	Threads int
	// BatchSize is the most tokens evaluated in one pass; 0 means
	// model.DefaultBatchSize.
	BatchSize int
	// AllowUnknownPre falls back to GPT-2 pre-tokenizer rules for a
	// tokenizer.ggml.pre ondo does not know, at the user's risk.
	AllowUnknownPre bool
}

// Model is a loaded model with its tokenizer. Its methods are safe for
// concurrent use; evaluation of different sessions is serialised.
type Model struct {
	file     *gguf.File
	net      model.Model
	tok      *tokenizer.Tokenizer
	path     string
	loadTime time.Duration

	indexOnce sync.Once
	index     *grammar.Index // the vocabulary as grammars see it, built on first use
}

// Load memory-maps the GGUF file at path and prepares the model in it.
func Load(path string, opts Options) (*Model, error) {
	start := time.Now()
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{AllowUnknownPre: opts.AllowUnknownPre})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	net, err := model.Load(f, model.Config{Threads: opts.Threads, BatchSize: opts.BatchSize})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v := net.Info().VocabSize; v != tok.VocabSize() {
		net.Close()
		f.Close()
		return nil, fmt.Errorf("%s: the tokenizer has %d tokens but the output layer %d", path, tok.VocabSize(), v)
	}
	return &Model{file: f, net: net, tok: tok, path: path, loadTime: time.Since(start)}, nil
}

// Close releases the model and unmaps its file. Sessions must not be used
// afterwards.
func (m *Model) Close() error {
	err := m.net.Close()
	if cerr := m.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// Info describes the model's shape.
func (m *Model) Info() model.Info { return m.net.Info() }

// Tokenizer returns the model's tokenizer.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// File returns the model's GGUF file, for its metadata.
func (m *Model) File() *gguf.File { return m.file }

// LoadDuration is how long Load took.
func (m *Model) LoadDuration() time.Duration { return m.loadTime }

// grammarIndex returns the vocabulary's grammar.Index, built on first use
// (tens of milliseconds for a large vocabulary) and shared by every
// session, so that a grammar's cached token masks serve them all.
func (m *Model) grammarIndex() *grammar.Index {
	m.indexOnce.Do(func() { m.index = grammar.NewIndex(m.tok) })
	return m.index
}

// Tokenize encodes text, adding BOS/EOS as the model's metadata asks when
// addSpecial is true. Control tokens written in the text stay ordinary
// text; use the tokenizer directly to parse them.
func (m *Model) Tokenize(text string, addSpecial bool) []int32 {
	return m.tok.Encode(text, tokenizer.EncodeOptions{AddSpecial: addSpecial})
}
