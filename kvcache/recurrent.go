package kvcache

import "fmt"

// Recurrent layers (linear attention, state-space models) keep no keys and
// values: each holds one fixed-size state per sequence that every token
// updates in place (a convolution window and a recurrent matrix, say). A
// cache carries those states beside its keys and values, so that the
// engine's slots, batching and memory accounting treat them alike.
//
// A state cannot be rewound: it holds the whole history at one position,
// [Cache.StatePos]. A cache with states can continue only from there or
// from position 0, so [Cache.Holds] and [Cache.Truncate] fail with
// [ErrEvicted] elsewhere, as they do for evicted sliding-window positions,
// and the caller starts the sequence again. A forward pass that stops
// halfway leaves the states between two positions: the cache then holds no
// valid state until it is reset.

// AddStates gives the cache one zeroed float32 state of each of sizes
// elements, numbered in order (a model's recurrent layers).
func (c *Cache) AddStates(sizes ...int) error {
	total := 0
	for i, n := range sizes {
		if n <= 0 || n > maxElements {
			return fmt.Errorf("kvcache: recurrent state %d of %d elements", i, n)
		}
		total += n
	}
	buf := make([]float32, total)
	for _, n := range sizes {
		c.states = append(c.states, buf[:n:n])
		buf = buf[n:]
	}
	c.statePos = 0
	return nil
}

// States returns the number of recurrent states.
func (c *Cache) States() int { return len(c.states) }

// State returns recurrent state i, to read and update in place.
func (c *Cache) State(i int) []float32 { return c.states[i] }

// StatePos returns the position the recurrent states hold the history up
// to (the next token to apply goes there), or -1 while a pass is updating
// them or after one failed.
func (c *Cache) StatePos() int { return c.statePos }

// BeginStates prepares the states for a pass whose first token of this
// sequence is at pos: from position 0 they start zeroed; otherwise they
// must be at pos. Until [Cache.EndStates] they are marked in flight.
func (c *Cache) BeginStates(pos int) error {
	if len(c.states) == 0 {
		return nil
	}
	switch {
	case pos == 0:
		c.zeroStates()
	case pos != c.statePos:
		return c.stateErr(pos)
	}
	c.statePos = -1
	return nil
}

// EndStates records that the states now hold the history up to pos, the
// position after the pass's last token of this sequence.
func (c *Cache) EndStates(pos int) {
	if len(c.states) > 0 {
		c.statePos = pos
	}
}

func (c *Cache) zeroStates() {
	for _, s := range c.states {
		clear(s)
	}
	c.statePos = 0
}

func (c *Cache) stateErr(pos int) error {
	if c.statePos < 0 {
		return fmt.Errorf("kvcache: %w: a pass over the recurrent states stopped halfway", ErrEvicted)
	}
	return fmt.Errorf("kvcache: %w: the recurrent states hold position %d, not %d, and cannot be rewound", ErrEvicted, c.statePos, pos)
}

func (c *Cache) stateBytes() int64 {
	var n int64
	for _, s := range c.states {
		n += 4 * int64(len(s))
	}
	return n
}
