package kvcache

import "fmt"

// Recurrent layers (linear attention, state-space models) keep no keys and
// values: each holds one fixed-size state per sequence that every token
// updates in place (a convolution window and a recurrent matrix, say). A
// cache carries those states beside its keys and values, so that the
// engine's slots, batching and memory accounting treat them alike.
//
// A state cannot be rewound: it holds the whole history at one position,
// [Cache.StatePos]. So that a prefix can still be reused, a model saves
// checkpoints (copies of the states, [Cache.SaveCheckpoint]) as it goes,
// and the cache can go back to any of them. A cache with states continues
// from StatePos, from a checkpoint or from position 0;
// [Cache.Restorable] says the furthest of those within a prefix, and
// [Cache.Holds] and [Cache.Truncate] fail with [ErrEvicted] elsewhere, as
// they do for evicted sliding-window positions. A forward pass that stops
// halfway leaves the states between two positions: the cache then holds no
// valid state until it goes back to a checkpoint or to 0.

// MaxCheckpoints is how many checkpoints a cache keeps; saving one more
// drops the one at the lowest position.
const MaxCheckpoints = 4

type checkpoint struct {
	pos  int
	data []float32 // every state, back to back
}

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
	if !c.restoreStates(pos) {
		return c.stateErr(pos)
	}
	c.dropCheckpoints(pos)
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

// SaveCheckpoint keeps a copy of the states at StatePos (when valid and not
// 0, and not kept already).
func (c *Cache) SaveCheckpoint() {
	if len(c.states) == 0 || c.statePos <= 0 {
		return
	}
	for _, cp := range c.checkpoints {
		if cp.pos == c.statePos {
			return
		}
	}
	var data []float32
	if len(c.checkpoints) == MaxCheckpoints { // reuse the lowest one's memory
		low := 0
		for i, cp := range c.checkpoints {
			if cp.pos < c.checkpoints[low].pos {
				low = i
			}
		}
		data = c.checkpoints[low].data[:0]
		c.checkpoints = append(c.checkpoints[:low], c.checkpoints[low+1:]...)
	}
	for _, s := range c.states {
		data = append(data, s...)
	}
	c.checkpoints = append(c.checkpoints, checkpoint{c.statePos, data})
}

// Restorable returns the furthest position at most n from which the cache
// can continue: n itself without recurrent states; otherwise StatePos, a
// checkpoint or 0.
func (c *Cache) Restorable(n int) int {
	if len(c.states) == 0 || n == c.statePos {
		return n
	}
	best := 0
	for _, cp := range c.checkpoints {
		if cp.pos <= n && cp.pos > best {
			best = cp.pos
		}
	}
	if c.statePos > best && c.statePos <= n {
		best = c.statePos
	}
	return best
}

// restoreStates makes the states those of position n, from a checkpoint
// when they are elsewhere; it reports whether it could.
func (c *Cache) restoreStates(n int) bool {
	switch {
	case n == 0:
		c.zeroStates()
		return true
	case n == c.statePos:
		return true
	}
	for _, cp := range c.checkpoints {
		if cp.pos == n {
			data := cp.data
			for _, s := range c.states {
				copy(s, data)
				data = data[len(s):]
			}
			c.statePos = n
			return true
		}
	}
	return false
}

// hasCheckpoint reports whether the states can be brought to pos.
func (c *Cache) hasCheckpoint(pos int) bool {
	for _, cp := range c.checkpoints {
		if cp.pos == pos {
			return true
		}
	}
	return false
}

// dropCheckpoints forgets the checkpoints past n, a history the cache
// no longer continues.
func (c *Cache) dropCheckpoints(n int) {
	kept := c.checkpoints[:0]
	for _, cp := range c.checkpoints {
		if cp.pos <= n {
			kept = append(kept, cp)
		}
	}
	c.checkpoints = kept
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
	for _, cp := range c.checkpoints {
		n += 4 * int64(cap(cp.data))
	}
	return n
}
