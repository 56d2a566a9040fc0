package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// sequence is one request from Submit to its final event. Everything but
// ctx, ch and the fields set in newSequence belongs to the scheduler.
type sequence struct {
	ctx    context.Context
	req    Request
	prompt []int32
	ch     chan Event
	outbox []Event // events waiting for room in ch
	// unwatch stops the watch on ctx that takes s out of the queue.
	unwatch func() bool

	sampler *sample.Sampler
	matcher *timedMatcher // the grammar's state, when the request has one
	dec     *tokenizer.Decoder
	stop    *sample.StopMatcher

	slot     *slot
	next     int   // while prefilling: prompt[:next] are in the cache
	decoding bool  // the prompt is done; pending is the token to feed
	pending  int32 // the last sampled token, evaluated at the next step
	res      Result

	submitted, admitted, first, last time.Time
}

// newSequence prepares a request: its sampler and decoder are primed with
// the prompt here, on the caller's goroutine, not the scheduler's.
func (e *Engine) newSequence(ctx context.Context, req Request, prompt []int32, con *grammar.Constraint) *sequence {
	s := &sequence{
		ctx:       ctx,
		req:       req,
		prompt:    prompt,
		ch:        make(chan Event, eventBuffer),
		sampler:   sample.New(req.Sampling),
		dec:       e.tok.NewDecoder(tokenizer.DecodeOptions{Special: req.Special}),
		stop:      sample.NewStopMatcher(req.Stop...),
		submitted: time.Now(),
	}
	if con != nil {
		s.matcher = &timedMatcher{Matcher: con.NewMatcher()}
		s.sampler.Constrain(s.matcher)
	}
	// As Session.Generate does: the prompt counts for the penalties, and
	// runs through the decoder so that the first generated piece is
	// spaced as it would be in the whole text.
	for _, id := range prompt {
		s.sampler.AcceptPrompt(id)
		s.dec.Add(id) // ids were checked, Add cannot fail
	}
	s.dec.Flush()
	s.res.PromptTokens = len(prompt)
	return s
}

// errAllBanned ends a sequence whose sampling settings (and grammar) leave
// no token: the request's own doing, so an ErrBadRequest.
var errAllBanned = fmt.Errorf("%w: every token is banned by the sampling settings", ErrBadRequest)

// emit queues ev for the reader without ever blocking: it goes straight
// into the channel when nothing is waiting before it and a place other
// than the last (kept for the final event) is free.
func (s *sequence) emit(ev Event) {
	if len(s.outbox) == 0 && len(s.ch) < cap(s.ch)-1 {
		s.ch <- ev
		return
	}
	s.outbox = append(s.outbox, ev)
}

// flush moves waiting events into the channel as room allows. It reports
// whether the outbox is empty. The final event, last in the outbox, may
// take the reserved place; the channel is then closed.
func (s *sequence) flush() bool {
	for len(s.outbox) > 0 {
		ev := s.outbox[0]
		room := cap(s.ch) - 1
		if ev.Done {
			room = cap(s.ch)
		}
		if len(s.ch) >= room {
			return false
		}
		s.ch <- ev
		s.outbox[0] = Event{}
		s.outbox = s.outbox[1:]
		if ev.Done {
			close(s.ch)
		}
	}
	s.outbox = nil
	return true
}

// abort ends the stream at once with err: events not yet read are
// dropped, and the final event takes the place kept for it.
func (s *sequence) abort(err error) {
	s.unwatch()
	s.outbox = nil
	s.res.FinishReason = ""
	res := s.res
	s.ch <- Event{Token: -1, Done: true, Result: &res, Err: err}
	close(s.ch)
}

// accept handles the token id sampled from logits (the row of this
// sequence's last evaluated position): it streams its text and reports
// whether the sequence is finished, setting the finish reason. limit is
// the slot's context size.
func (e *Engine) accept(s *sequence, id int32, logits []float32, now time.Time) (done bool) {
	s.sampler.Accept(id)
	if s.matcher != nil {
		e.observe(ObserveConstraint, s.matcher.take())
	}
	e.stats.generated.Add(1)
	if s.first.IsZero() {
		s.first = now
		s.res.TimeToFirst = now.Sub(s.submitted)
		s.res.PromptDuration = now.Sub(s.admitted)
		e.observe(ObserveTimeToFirst, s.res.TimeToFirst)
	} else {
		e.observe(ObserveToken, now.Sub(s.last))
	}
	s.last = now
	if e.tok.IsEOG(id) {
		s.res.FinishReason = FinishStop
		return true
	}
	s.res.CompletionTokens++
	piece, _ := s.dec.Add(id) // sampled ids are in range
	out, stopped := s.stop.Feed(piece)
	ev := Event{Text: out, Token: id}
	if s.req.Logprobs > 0 || s.req.ChosenLogprob {
		ev.Logprob = sample.LogProb(logits, id)
	}
	if s.req.Logprobs > 0 {
		top := sample.TopLogProbs(logits, s.req.Logprobs)
		ev.Top = make([]TokenLogprob, len(top))
		for i, t := range top {
			ev.Top[i] = TokenLogprob{ID: t.ID, Text: string(e.tok.Bytes(t.ID)), Logprob: t.LogProb}
		}
	}
	s.emit(ev)
	switch {
	case stopped:
		s.res.FinishReason = FinishStop
		return true
	case s.req.MaxTokens > 0 && s.res.CompletionTokens >= s.req.MaxTokens:
		s.res.FinishReason = FinishLength
		return true
	case len(s.slot.tokens) >= s.slot.cache.Size():
		// No position left for the token just sampled.
		s.res.FinishReason = FinishLength
		return true
	}
	s.pending = id
	s.decoding = true
	return false
}

// finishText returns the text still held back when a sequence ends
// normally: bytes of an unfinished character and a possible stop string's
// beginning.
func (s *sequence) finishText() string {
	if s.stop.Stopped() {
		return ""
	}
	out, _ := s.stop.Feed(s.dec.Flush())
	return out + s.stop.Flush()
}

func (e *Engine) observe(kind string, d time.Duration) {
	if e.cfg.OnObserve != nil {
		e.cfg.OnObserve(kind, d)
	}
}
