// Package engine schedules generation requests on one loaded model:
// continuous batching of up to Parallel sequences per forward call, prompt
// evaluation in chunks interleaved with decoding, prefix reuse across
// requests, and cancellation that frees a sequence's slot and cache at once.
//
// The server (package server) makes one Engine per loaded model and turns
// HTTP requests into Requests; results stream back as Events.
//
// One scheduler goroutine owns the model. Each step it ends the requests
// whose context is done, gives free slots to waiting requests (to the slot
// whose cached tokens share the longest prefix with the prompt, so that
// only the rest is evaluated), and builds one model.Batch: the pending
// token of every decoding sequence, then prompt chunks of the sequences
// still reading their prompts, oldest first, up to Config.BatchTokens.
// After the single Forward call, every sequence whose logits came back
// samples its next token with its own sampler and streams it. A sequence's
// tokens do not depend on what shares its batch: the model computes each
// token's row on its own.
//
// The scheduler never waits for a reader. Events that do not fit in a
// request's channel wait in the engine, and the channel's last place is
// kept for the final event, so a request can always be ended, and a reader
// that goes away only has to cancel its context.
package engine

import (
	"time"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/sample"
)

// Request is one generation (or prompt-only evaluation) job.
type Request struct {
	// Prompt is the tokenized prompt, BOS included when the model wants it.
	Prompt []int32
	// MaxTokens is the most new tokens; 0 or less means until an
	// end-of-generation token, a stop string or the context's end.
	MaxTokens int
	// Sampling configures the sampler; the zero value is greedy.
	Sampling sample.Config
	// Stop strings end generation; they are not emitted.
	Stop []string
	// Logprobs, when > 0, attaches the top-Logprobs alternatives (and the
	// chosen token's log-probability) to every token event.
	Logprobs int
	// ChosenLogprob attaches the chosen token's log-probability even when
	// Logprobs is 0 (OpenAI's logprobs without top_logprobs).
	ChosenLogprob bool
	// Special renders control tokens in the text.
	Special bool
	// Truncate, when the prompt does not fit the context, keeps its end
	// instead of failing with ErrPromptTooLong.
	Truncate bool
	// Grammar, when set, constrains the generated text (not the prompt)
	// to the grammar's language: only tokens it allows are sampled, and
	// an end-of-generation token only once the text is complete. Submit
	// binds it to the model's vocabulary; a token reference the vocabulary
	// lacks is an ErrBadRequest.
	Grammar *grammar.Grammar
}

// TokenLogprob is a token with its log-probability under the model's raw
// distribution (before sampling settings), as OpenAI and Ollama report it.
type TokenLogprob struct {
	ID int32
	// Text is the token's bytes as decoded text renders them (control
	// tokens included); for a byte token it may be part of a character.
	Text    string
	Logprob float32
}

// Event is one step of a request's stream. Exactly one Event has Done set,
// the last; it carries the Result or the error.
type Event struct {
	// Text is the newly decided text (possibly empty while bytes of a
	// character or a possible stop string are held back).
	Text string
	// Token is the generated token id (-1 on the final event).
	Token int32
	// Logprob and Top are set when the request asked for logprobs.
	Logprob float32
	Top     []TokenLogprob

	Done   bool
	Result *Result
	Err    error
}

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// Result summarises a finished request.
type Result struct {
	PromptTokens     int
	CachedTokens     int // prompt tokens reused from an earlier request's cache
	CompletionTokens int
	FinishReason     string
	// Timing, for Ollama's fields and the metrics.
	QueueDuration  time.Duration // waiting for a slot
	PromptDuration time.Duration // evaluating the prompt
	GenDuration    time.Duration // first new token to the last
	TimeToFirst    time.Duration // submission to the first token
}
