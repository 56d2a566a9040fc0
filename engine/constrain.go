package engine

import (
	"fmt"
	"time"

	"github.com/ondo-ai/ondo/grammar"
)

// Index returns the model's vocabulary as grammars see it, built on first
// use and shared by every request.
func (e *Engine) Index() *grammar.Index {
	e.indexOnce.Do(func() { e.index = grammar.NewIndex(e.tok) })
	return e.index
}

// bind ties a request's grammar to the model's vocabulary.
func (e *Engine) bind(g *grammar.Grammar) (*grammar.Constraint, error) {
	c, err := g.Bind(e.Index())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return c, nil
}

// timedMatcher is a grammar matcher that adds up the time spent in it, so
// that the scheduler can report the grammar's share of each token.
type timedMatcher struct {
	*grammar.Matcher
	spent time.Duration
}

func (t *timedMatcher) Allows(id int32) bool {
	start := time.Now()
	ok := t.Matcher.Allows(id)
	t.spent += time.Since(start)
	return ok
}

func (t *timedMatcher) Mask() ([]uint64, int) {
	start := time.Now()
	m, n := t.Matcher.Mask()
	t.spent += time.Since(start)
	return m, n
}

func (t *timedMatcher) Forced() (int32, bool) {
	start := time.Now()
	id, ok := t.Matcher.Forced()
	t.spent += time.Since(start)
	return id, ok
}

func (t *timedMatcher) Accept(id int32) error {
	start := time.Now()
	err := t.Matcher.Accept(id)
	t.spent += time.Since(start)
	return err
}

// take returns the time spent since the last call.
func (t *timedMatcher) take() time.Duration {
	d := t.spent
	t.spent = 0
	return d
}
