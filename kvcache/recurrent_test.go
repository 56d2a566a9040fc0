package kvcache

import (
	"errors"
	"slices"
	"testing"
)

// TestStates checks the recurrent states' rules: a pass continues from
// where they are, from a checkpoint or from 0; a pass that fails leaves
// them invalid; checkpoints restore their copies, are bounded, and are
// dropped past a rewind.
func TestStates(t *testing.T) {
	c, err := New(1, 64, 1, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddStates(2, 3); err != nil {
		t.Fatal(err)
	}
	step := func(from, to int, v float32) {
		t.Helper()
		if err := c.BeginStates(from); err != nil {
			t.Fatal(err)
		}
		for i := range c.States() {
			for j := range c.State(i) {
				c.State(i)[j] += v
			}
		}
		c.EndStates(to)
		if err := c.Commit(to); err != nil {
			t.Fatal(err)
		}
	}
	step(0, 10, 1)
	c.SaveCheckpoint()
	step(10, 20, 1)
	if err := c.BeginStates(15); !errors.Is(err, ErrEvicted) {
		t.Errorf("continuing from 15: %v, want ErrEvicted", err)
	}
	if r := c.Restorable(15); r != 10 {
		t.Errorf("Restorable(15) = %d, want 10", r)
	}
	if err := c.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.State(1), []float32{1, 1, 1}) || c.StatePos() != 10 {
		t.Errorf("after the rewind to 10: state %v at %d, want 1s at 10", c.State(1), c.StatePos())
	}
	// A pass that stops halfway: BeginStates without EndStates.
	if err := c.BeginStates(10); err != nil {
		t.Fatal(err)
	}
	if err := c.Holds(10); err != nil {
		t.Errorf("the checkpoint at 10 is still there: %v", err)
	}
	if err := c.Holds(11); !errors.Is(err, ErrEvicted) {
		t.Errorf("after a failed pass: %v, want ErrEvicted", err)
	}
	// At most MaxCheckpoints, the lowest dropped first.
	c.Reset()
	for i := 1; i <= MaxCheckpoints+2; i++ {
		step(i-1, i, 1)
		c.SaveCheckpoint()
	}
	if r := c.Restorable(2); r != 0 {
		t.Errorf("Restorable(2) = %d after %d checkpoints, want 0 (dropped)", r, MaxCheckpoints+2)
	}
	if r := c.Restorable(MaxCheckpoints + 1); r != MaxCheckpoints+1 {
		t.Errorf("Restorable(%d) = %d", MaxCheckpoints+1, r)
	}
	before := c.Bytes()
	c.Reset()
	if c.Bytes() >= before || c.Restorable(5) != 0 {
		t.Errorf("Reset kept checkpoints: %d bytes, was %d", c.Bytes(), before)
	}
}
