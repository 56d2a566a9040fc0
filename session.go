package ondo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// SessionOptions tune a session.
type SessionOptions struct {
	// Context is the most tokens (prompt and generated) the session holds;
	// 0 means the model's trained context length.
	Context int
	// F32Cache stores keys and values as float32 instead of fp16.
	F32Cache bool
}

// Session is one sequence of tokens with its key/value cache. A new prompt
// that starts with tokens already in the cache (the previous turn of a
// chat, a shared system prompt) evaluates only what follows them. A
// Session is not safe for concurrent use.
type Session struct {
	m      *Model
	cache  *kvcache.Cache
	tokens []int32 // the tokens whose keys and values the cache holds
	logits []float32
}

// NewSession opens a session with an empty cache.
func (m *Model) NewSession(opts SessionOptions) (*Session, error) {
	size := opts.Context
	if size < 0 {
		return nil, fmt.Errorf("ondo: context size %d is negative", size)
	}
	if size == 0 {
		size = m.Info().ContextLength
	}
	c, err := m.net.NewCache(size, !opts.F32Cache)
	if err != nil {
		return nil, err
	}
	return &Session{m: m, cache: c}, nil
}

// Context returns the session's capacity in tokens.
func (s *Session) Context() int { return s.cache.Size() }

// Tokens returns the tokens the session's cache holds.
func (s *Session) Tokens() []int32 { return append([]int32(nil), s.tokens...) }

// Reset empties the session.
func (s *Session) Reset() {
	s.cache.Reset()
	s.tokens = s.tokens[:0]
}

// GenerateOptions control one generation.
type GenerateOptions struct {
	// MaxTokens is the most new tokens; 0 or less means until an
	// end-of-generation token, a stop string or a full context.
	MaxTokens int
	// Sampling chooses tokens; the zero value is greedy decoding.
	Sampling sample.Config
	// Stop strings end generation; they and what follows are not emitted.
	Stop []string
	// Special renders control tokens (such as <|eot_id|>) in the text.
	Special bool
	// Logits, when set, receives the logits of every evaluated position:
	// the prompt positions first (those not reused from the cache), then
	// each generated token fed back. The slice is reused between calls.
	Logits func(logits []float32) error
	// Grammar, when set, constrains the generated text (not the prompt)
	// to the grammar's language: only tokens it allows are sampled, and
	// generation ends at an end-of-generation token only once the text is
	// whole. grammar.Parse compiles GBNF; jsonschema.Compile turns a JSON
	// schema into GBNF. A Grammar may serve many generations at once and
	// keeps the token masks it builds, so compile it once and reuse it.
	Grammar *grammar.Grammar
}

// Finish reasons.
const (
	FinishStop    = "stop"    // an end-of-generation token or a stop string
	FinishLength  = "length"  // MaxTokens reached
	FinishContext = "context" // the session's context is full
)

// Result summarises a generation.
type Result struct {
	PromptTokens   int // tokens in the prompt
	ReusedTokens   int // of those, how many the cache already held
	Tokens         []int32
	FinishReason   string
	PromptDuration time.Duration // evaluating the new part of the prompt
	GenDuration    time.Duration // generating, from the first new token
}

// ErrContextFull is returned when a prompt does not fit in the session.
var ErrContextFull = errors.New("prompt does not fit in the context")

// Generate evaluates prompt, reusing what the cache already holds of it,
// then generates tokens, calling emit with each piece of text as it is
// decided (never a partial UTF-8 character, never part of a stop string).
// It stops at an end-of-generation token, a stop string, MaxTokens, or a
// full context, and returns early with ctx's error when ctx ends.
func (s *Session) Generate(ctx context.Context, prompt []int32, opts GenerateOptions, emit func(text string) error) (*Result, error) {
	if len(prompt) == 0 {
		return nil, errors.New("ondo: empty prompt")
	}
	if len(prompt) > s.cache.Size() {
		return nil, fmt.Errorf("ondo: %w: %d tokens, context size %d", ErrContextFull, len(prompt), s.cache.Size())
	}
	if err := opts.Sampling.Validate(); err != nil {
		return nil, err
	}
	vocab := s.m.Info().VocabSize
	for i, id := range prompt {
		if id < 0 || int(id) >= vocab {
			return nil, fmt.Errorf("ondo: prompt token %d at index %d out of range [0, %d)", id, i, vocab)
		}
	}
	sampler := sample.New(opts.Sampling)
	if opts.Grammar != nil {
		c, err := opts.Grammar.Bind(s.m.grammarIndex())
		if err != nil {
			return nil, fmt.Errorf("ondo: %w", err)
		}
		sampler.Constrain(c.NewMatcher())
	}
	res := &Result{PromptTokens: len(prompt)}

	// Reuse the longest common prefix, but evaluate at least the last
	// prompt token: its logits choose the first new token.
	keep := commonPrefix(s.tokens, prompt)
	if keep == len(prompt) {
		keep--
	}
	if opts.Logits != nil {
		// Every prompt position's logits were asked for: reuse nothing.
		keep = 0
	}
	// Recurrent states resume only at a checkpoint or their end.
	keep = s.cache.Restorable(keep)
	start := time.Now()
	err := s.eval(ctx, prompt[keep:], keep, opts.Logits)
	if errors.Is(err, kvcache.ErrEvicted) {
		// A sliding-window cache no longer holds what the reused
		// prefix's last tokens attend to: start the sequence over.
		s.Reset()
		keep = 0
		err = s.eval(ctx, prompt, 0, opts.Logits)
	}
	res.ReusedTokens = keep
	if err != nil {
		return res, err
	}
	res.PromptDuration = time.Since(start)

	tok := s.m.tok
	dec := tok.NewDecoder(tokenizer.DecodeOptions{Special: opts.Special})
	// Run the prompt through the decoder so the first generated piece is
	// spaced as it would be in the whole text.
	for _, id := range prompt {
		dec.Add(id)
	}
	dec.Flush()
	stop := sample.NewStopMatcher(opts.Stop...)
	for _, id := range prompt {
		// The prompt counts for the penalties; the grammar only sees
		// what is generated.
		sampler.AcceptPrompt(id)
	}
	start = time.Now()
	defer func() { res.GenDuration = time.Since(start) }()
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		id := sampler.Sample(s.logits)
		if id < 0 {
			if err := sampler.Err(); err != nil {
				return res, fmt.Errorf("ondo: %w", err)
			}
			if opts.Grammar != nil {
				return res, errors.New("ondo: the grammar allows no token that the sampling settings leave")
			}
			return res, errors.New("ondo: every token is banned by the sampling settings")
		}
		sampler.Accept(id)
		if tok.IsEOG(id) {
			res.FinishReason = FinishStop
			break
		}
		res.Tokens = append(res.Tokens, id)
		piece, err := dec.Add(id)
		if err != nil {
			return res, err
		}
		out, stopped := stop.Feed(piece)
		if out != "" {
			if err := emit(out); err != nil {
				return res, err
			}
		}
		if stopped {
			res.FinishReason = FinishStop
			return res, nil
		}
		if opts.MaxTokens > 0 && len(res.Tokens) >= opts.MaxTokens {
			res.FinishReason = FinishLength
			break
		}
		if len(s.tokens) >= s.cache.Size() {
			res.FinishReason = FinishContext
			break
		}
		if err := s.eval(ctx, []int32{id}, len(s.tokens), opts.Logits); err != nil {
			return res, err
		}
	}
	if out, _ := stop.Feed(dec.Flush()); out != "" {
		if err := emit(out); err != nil {
			return res, err
		}
	}
	if out := stop.Flush(); out != "" {
		if err := emit(out); err != nil {
			return res, err
		}
	}
	return res, nil
}

// eval feeds tokens at positions pos… and leaves the last one's logits in
// s.logits; with all set it hands every position's logits to all.
func (s *Session) eval(ctx context.Context, tokens []int32, pos int, all func([]float32) error) error {
	vocab := s.m.Info().VocabSize
	rows := 1
	if all != nil {
		rows = len(tokens)
	}
	if cap(s.logits) < rows*vocab {
		s.logits = make([]float32, rows*vocab)
	}
	buf := s.logits[:rows*vocab]
	// The cache rewinds to pos itself; keep our token list in step even
	// when the evaluation fails part-way.
	s.tokens = s.tokens[:min(pos, len(s.tokens))]
	if err := s.m.net.Forward(ctx, model.SeqBatch(s.cache, tokens, pos, all != nil), buf); err != nil {
		s.tokens = s.tokens[:min(pos, s.cache.Len())]
		return err
	}
	s.tokens = append(s.tokens, tokens...)
	if all != nil {
		for r := 0; r < rows; r++ {
			if err := all(buf[r*vocab : (r+1)*vocab]); err != nil {
				return err
			}
		}
	}
	s.logits = buf[(rows-1)*vocab : rows*vocab]
	return nil
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
