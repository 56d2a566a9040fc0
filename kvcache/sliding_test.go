package kvcache

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewSliding(t *testing.T) {
	c, err := NewSliding(3, 100, 2, 4, true, Sliding{Window: 8, Batch: 4, Layers: []bool{true, false, true}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Window() != 8 || !c.Sliding(0) || c.Sliding(1) || c.Slots(0) != 11 || c.Slots(1) != 100 || c.Slots(2) != 11 {
		t.Errorf("window %d, slots %d %d %d", c.Window(), c.Slots(0), c.Slots(1), c.Slots(2))
	}
	if got, want := c.Bytes(), int64(2*2*(11+100+11)*8); got != want {
		t.Errorf("Bytes %d, want %d", got, want)
	}
	if k, _ := c.LayerF16(2); len(k) != 11*8 {
		t.Errorf("sliding layer view of %d elements, want %d", len(k), 11*8)
	}
	// A window and batch as large as the context give no ring.
	c, _ = NewSliding(2, 10, 1, 2, false, Sliding{Window: 8, Batch: 4, Layers: []bool{true, true}})
	if c.Slots(0) != 10 {
		t.Errorf("ring of %d for a context of 10", c.Slots(0))
	}
	// No layer marked: the plain cache.
	c, _ = NewSliding(2, 10, 1, 2, false, Sliding{Window: 3, Batch: 1, Layers: []bool{false, false}})
	if c.Window() != 0 || c.Sliding(0) || c.Slots(1) != 10 {
		t.Errorf("unmarked layers slide: window %d", c.Window())
	}
	for _, s := range []Sliding{
		{Window: 8, Batch: 4, Layers: []bool{true}},
		{Window: 0, Batch: 4, Layers: []bool{true, false}},
		{Window: 8, Batch: 0, Layers: []bool{true, false}},
	} {
		if _, err := NewSliding(2, 16, 1, 2, true, s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// TestSlidingLong stores a sequence several windows long in a sliding
// cache and a full one, in passes, and checks after every pass that the
// sliding layer holds, for each position of the pass, every position of its
// window exactly as the full cache does; and that Truncate and Holds accept
// exactly the rewinds whose window is still held.
func TestSlidingLong(t *testing.T) {
	const window, n = 4, 50
	for _, f16 := range []bool{false, true} {
		for _, batch := range []int{1, 3, 5} {
			s, _ := NewSliding(2, 64, 1, 2, f16, Sliding{Window: window, Batch: batch, Layers: []bool{false, true}})
			full, _ := New(2, 64, 1, 2, f16)
			row := func(c *Cache, layer, p int) []float32 {
				slot := p % c.Slots(layer)
				if f16 {
					k, v := c.LayerF16(layer)
					return []float32{float32(k[2*slot]), float32(k[2*slot+1]), float32(v[2*slot]), float32(v[2*slot+1])}
				}
				k, v := c.LayerF32(layer)
				return []float32{k[2*slot], k[2*slot+1], v[2*slot], v[2*slot+1]}
			}
			for lo := 0; lo < n; lo += batch {
				hi := min(lo+batch, n)
				if err := s.Holds(lo); err != nil {
					t.Fatalf("batch %d: pass at %d: %v", batch, lo, err)
				}
				for p := lo; p < hi; p++ {
					k, v := []float32{float32(p), -float32(p)}, []float32{float32(2 * p), 1}
					for l := 0; l < 2; l++ {
						if err := s.Put(l, p, k, v); err != nil {
							t.Fatal(err)
						}
						full.Put(l, p, k, v)
					}
				}
				for p := lo; p < hi; p++ {
					for q := max(0, p-window+1); q <= p; q++ {
						if got, want := row(s, 1, q), row(full, 1, q); !slices.Equal(got, want) {
							t.Fatalf("f16 %v batch %d: after pass at %d, position %d sees %d as %v, want %v", f16, batch, lo, p, q, got, want)
						}
					}
				}
				s.Commit(hi)
				full.Commit(hi)
			}
			ring := window - 1 + batch
			if s.Oldest() != n-ring {
				t.Errorf("batch %d: oldest %d, want %d", batch, s.Oldest(), n-ring)
			}
			// Rewinds: position r needs r−window+1 … r−1.
			for r := n; r >= 0; r-- {
				from := max(0, r-window+1)
				ok := from == r || from >= n-ring
				err := s.Holds(r)
				if (err == nil) != ok {
					t.Errorf("batch %d: Holds(%d) = %v, want ok %v", batch, r, err, ok)
				}
				if err != nil && (!errors.Is(err, ErrEvicted) || !strings.Contains(err.Error(), "hold positions from")) {
					t.Errorf("Holds(%d): error %v", r, err)
				}
			}
			if err := s.Truncate(n - batch); err != nil {
				t.Errorf("batch %d: rewind by a batch: %v", batch, err)
			}
			if err := s.Truncate(n - ring); !errors.Is(err, ErrEvicted) {
				t.Errorf("batch %d: rewind by the ring: %v", batch, err)
			}
			if s.Len() != n-batch {
				t.Errorf("refused rewind moved Len to %d", s.Len())
			}
			if err := s.Truncate(0); err != nil || s.Oldest() != 0 {
				t.Errorf("rewind to 0: %v, oldest %d", err, s.Oldest())
			}
			s.Commit(n / 2)
			s.Reset()
			if s.Len() != 0 || s.Oldest() != 0 || s.Holds(0) != nil {
				t.Errorf("after Reset: Len %d, oldest %d", s.Len(), s.Oldest())
			}
		}
	}
}
