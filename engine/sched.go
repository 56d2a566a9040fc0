package engine

import (
	"fmt"
	"slices"
	"time"
)

// drainPoll is how often an otherwise idle scheduler retries handing
// events to readers that have fallen behind.
const drainPoll = 2 * time.Millisecond

// minReuse is the shortest cached prefix that decides which slot a request
// gets. Evaluating a few tokens again costs about one decoding step, while
// the history a slot would lose may be worth thousands.
const minReuse = 16

// loop is the scheduler. Each turn it drops cancelled requests, gives free
// slots to waiting requests, and runs one step; with nothing to run it
// sleeps until Submit wakes it.
func (e *Engine) loop() {
	defer close(e.done)
	for e.ctx.Err() == nil {
		e.reap()
		e.admit()
		e.flush()
		if len(e.active) > 0 {
			e.step()
			continue
		}
		var poll <-chan time.Time
		if len(e.draining) > 0 {
			poll = time.After(drainPoll)
		}
		select {
		case <-e.wake:
		case <-e.ctx.Done():
		case <-poll:
		}
	}
	e.shutdown()
}

// reap ends the sequences whose context is done, freeing their slots. The
// slot keeps its cache: between steps it always holds exactly the tokens
// recorded for it.
func (e *Engine) reap() {
	for i := 0; i < len(e.active); i++ {
		s := e.active[i]
		if err := s.ctx.Err(); err != nil {
			e.release(s)
			i--
			e.stats.requests.Add(1)
			e.stats.cancelled.Add(1)
			s.abort(err)
		}
	}
	e.draining = slices.DeleteFunc(e.draining, func(s *sequence) bool {
		if err := s.ctx.Err(); err != nil {
			s.abort(err)
			return true
		}
		return false
	})
}

// admit moves waiting requests, oldest first, into free slots, and ends
// those cancelled while waiting.
func (e *Engine) admit() {
	var in, gone []*sequence
	e.mu.Lock()
	q := e.queue[:0]
	for _, s := range e.queue {
		switch {
		case s.ctx.Err() != nil:
			gone = append(gone, s)
		case e.free > 0:
			e.free--
			in = append(in, s)
		default:
			q = append(q, s)
		}
	}
	clear(e.queue[len(q):])
	e.queue = q
	e.mu.Unlock()
	for _, s := range gone {
		e.stats.requests.Add(1)
		e.stats.cancelled.Add(1)
		s.abort(s.ctx.Err())
	}
	for _, s := range in {
		e.assign(s)
	}
}

// assign gives s the free slot whose cache shares the longest prefix with
// its prompt and rewinds that cache to the shared prefix, so that only the
// rest of the prompt is evaluated. Prefixes shorter than minReuse count as
// none: the least recently used slot is taken instead, so that a chance
// match of a few tokens (a BOS that every prompt starts with) does not
// evict a long history another request may come back for.
func (e *Engine) assign(s *sequence) {
	var best *slot
	bestScore := -1
	for _, sl := range e.slots {
		if sl.seq != nil {
			continue
		}
		score := commonPrefix(sl.tokens, s.prompt)
		if score < minReuse {
			score = 0
		}
		if score > bestScore || score == bestScore && sl.lastUsed < best.lastUsed {
			best, bestScore = sl, score
		}
	}
	keep := commonPrefix(best.tokens, s.prompt)
	// The last prompt token is evaluated in any case: its logits choose
	// the first new token.
	keep = min(keep, len(s.prompt)-1)
	// A cache with recurrent states resumes only where it kept a
	// checkpoint (or its current end): the furthest within the prefix.
	keep = best.cache.Restorable(keep)
	if err := best.cache.Truncate(keep); err != nil {
		// tokens and cache disagree, which is a bug; start afresh.
		best.cache.Reset()
		keep = 0
	}
	best.tokens = best.tokens[:keep]
	best.seq = s
	s.slot = best
	s.next = keep
	s.res.CachedTokens = keep
	s.admitted = time.Now()
	s.res.QueueDuration = s.admitted.Sub(s.submitted)
	e.active = append(e.active, s)
	e.stats.active.Add(1)
	e.stats.cached.Add(uint64(keep))
	e.observe(ObserveQueue, s.res.QueueDuration)
	e.countCells()
}

// release takes s out of the running sequences and frees its slot, which
// keeps its cache and tokens for a later prompt.
func (e *Engine) release(s *sequence) {
	e.active = slices.DeleteFunc(e.active, func(t *sequence) bool { return t == s })
	s.slot.seq = nil
	s.slot.lastUsed = e.clock
	e.mu.Lock()
	e.free++
	e.mu.Unlock()
	e.stats.active.Add(-1)
}

// finish ends s after a step: normally (err nil) with its result and the
// text still held back, or with err.
func (e *Engine) finish(s *sequence, err error) {
	e.release(s)
	e.stats.requests.Add(1)
	if err != nil {
		e.stats.failed.Add(1)
		s.abort(err)
		return
	}
	s.unwatch()
	s.res.GenDuration = s.last.Sub(s.first)
	res := s.res
	s.outbox = append(s.outbox, Event{Text: s.finishText(), Token: -1, Done: true, Result: &res})
	if !s.flush() {
		e.draining = append(e.draining, s)
	}
}

// flush hands waiting events to readers that have made room.
func (e *Engine) flush() {
	for _, s := range e.active {
		if len(s.outbox) > 0 {
			s.flush()
		}
	}
	e.draining = slices.DeleteFunc(e.draining, (*sequence).flush)
}

// part is one sequence's run of tokens in a step's batch.
type part struct {
	s        *sequence
	off, n   int // tokens [off, off+n) of the batch
	pos      int // position of the first
	prefill  bool
	hasLogit bool
}

// step evaluates one batch: the pending token of every decoding sequence
// and, within BatchTokens, the next prompt chunk of each sequence still
// reading its prompt (oldest first), in a single Forward call. Then each
// sequence whose last evaluated token was asked for logits samples its
// next token.
func (e *Engine) step() {
	e.clock++
	b := &e.batch
	b.Tokens, b.Pos, b.Seq, b.Caches, b.Logits = b.Tokens[:0], b.Pos[:0], b.Seq[:0], b.Caches[:0], b.Logits[:0]
	e.rows = e.rows[:0]
	parts := e.parts[:0]
	add := func(s *sequence, toks []int32, pos int, logit, prefill bool) {
		seq := len(b.Caches)
		b.Caches = append(b.Caches, s.slot.cache)
		parts = append(parts, part{s: s, off: len(b.Tokens), n: len(toks), pos: pos, prefill: prefill, hasLogit: logit})
		for i, t := range toks {
			b.Tokens = append(b.Tokens, t)
			b.Pos = append(b.Pos, pos+i)
			b.Seq = append(b.Seq, seq)
			b.Logits = append(b.Logits, logit && i == len(toks)-1)
		}
		if logit {
			e.rows = append(e.rows, s)
		}
	}
	decoding := 0
	for _, s := range e.active {
		if s.decoding {
			add(s, []int32{s.pending}, len(s.slot.tokens), true, false)
			decoding++
		}
	}
	budget := e.cfg.BatchTokens - decoding
	chunk := e.cfg.BatchTokens
	if decoding > 0 {
		chunk = e.cfg.PromptChunk
	}
	for _, s := range e.active {
		if s.decoding || budget == 0 {
			continue
		}
		n := min(len(s.prompt)-s.next, chunk, budget)
		last := s.next+n == len(s.prompt)
		add(s, s.prompt[s.next:s.next+n], s.next, last, true)
		budget -= n
	}
	e.parts = parts

	start := time.Now()
	err := e.m.Forward(e.ctx, b, e.logits[:len(e.rows)*e.vocab])
	now := time.Now()
	e.stats.steps.Add(1)
	if err != nil {
		// A failed Forward leaves each cache at most rewound: keep the
		// token lists in step with it.
		for _, p := range parts {
			sl := p.s.slot
			sl.tokens = sl.tokens[:min(len(sl.tokens), sl.cache.Len())]
		}
		e.countCells()
		if e.ctx.Err() != nil {
			return // closing: shutdown ends everything
		}
		for _, p := range parts {
			e.finish(p.s, fmt.Errorf("engine: %w", err))
		}
		return
	}
	e.observe(ObserveStep, now.Sub(start))
	for _, p := range parts {
		sl := p.s.slot
		sl.tokens = append(sl.tokens[:p.pos], b.Tokens[p.off:p.off+p.n]...)
		if p.prefill {
			p.s.next += p.n
			e.stats.prompt.Add(uint64(p.n))
		}
	}
	e.countCells()
	for i, s := range e.rows {
		row := e.logits[i*e.vocab : (i+1)*e.vocab]
		id := s.sampler.Sample(row)
		if id < 0 {
			err := errAllBanned
			if cerr := s.sampler.Err(); cerr != nil {
				err = fmt.Errorf("%w: grammar: %w", ErrBadRequest, cerr)
			}
			e.finish(s, err)
			continue
		}
		if e.accept(s, id, row, now) {
			e.finish(s, nil)
		}
	}
}

// countCells publishes the number of cache positions filled.
func (e *Engine) countCells() {
	n := 0
	for _, sl := range e.slots {
		n += len(sl.tokens)
	}
	e.stats.cells.Store(int64(n))
}

// shutdown ends every request with ErrClosed once the engine is closing.
func (e *Engine) shutdown() {
	e.mu.Lock()
	queued := e.queue
	e.queue = nil
	e.mu.Unlock()
	for _, s := range e.active {
		s.slot.seq = nil
		s.abort(ErrClosed)
	}
	for _, s := range slices.Concat(e.draining, queued) {
		s.abort(ErrClosed)
	}
	e.stats.requests.Add(uint64(len(e.active) + len(e.draining) + len(queued)))
	e.stats.active.Store(0)
	e.active, e.draining = nil, nil
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
