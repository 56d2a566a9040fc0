// Package kvcache stores the attention keys and values of one sequence, so
// that each new token attends to the whole history without recomputing it.
//
// A Cache is a fixed-size block sized from the requested context: for every
// layer, context positions × KV heads × head dimension keys and as many
// values, in fp16 (the default, as in llama.cpp: half the memory, and keys
// and values tolerate it well) or float32. Position p of layer l holds the
// K and V rows of the token at position p, all KV heads side by side.
//
// The filled length only grows through [Cache.Commit], which a model calls
// once a forward pass has written every layer; [Cache.Truncate] rewinds it,
// so a caller can drop a suffix and reuse the prefix.
//
// A cache made by [NewSliding] serves models whose local layers attend over
// a sliding window (Gemma 2 and 3, for instance): each sliding layer keeps
// only the last window − 1 + batch positions in a ring, position p in row
// p mod [Cache.Slots], because no later token can see anything older, while
// the other layers keep the whole context. The price is that a rewind can
// no longer reach positions the ring has overwritten: [Cache.Truncate] and
// [Cache.Holds] then fail with [ErrEvicted], and the caller must start the
// sequence again from position 0.
package kvcache

import (
	"errors"
	"fmt"
	"slices"

	"github.com/ondo-ai/ondo/kernels"
)

// Cache is the key/value cache of one sequence. It is not safe for
// concurrent use.
type Cache struct {
	layers, size int
	shapes       []Shape // per layer
	kvDims       []int   // per layer: KVHeads × HeadDim

	f16      bool
	k16, v16 []uint16 // every layer's slots × kvDim, back to back, when f16
	k32, v32 []float32

	// off[l] is layer l's first element in the key arrays and voff[l] in
	// the value arrays (a layer whose values are its keys has none),
	// slots[l] the positions it holds: size, or the ring of a sliding
	// layer.
	off, voff, slots []int
	window           int    // the sliding layers' window; 0 when none slides
	sliding          []bool // per layer, nil when none slides

	n      int // positions [0, n) are valid
	oldest int // sliding layers no longer hold positions before oldest

	states      [][]float32 // recurrent layers' states (see recurrent.go)
	statePos    int         // the position the states are at, -1 when invalid
	checkpoints []checkpoint
}

// ErrEvicted is wrapped by the errors of [Cache.Holds] and
// [Cache.Truncate] when the sliding-window layers no longer hold positions
// the requested token would attend to.
var ErrEvicted = errors.New("positions evicted from the sliding-window layers")

// Sliding describes the sliding-window layers of a cache made by
// [NewSliding].
type Sliding struct {
	// Window is the number of positions a token of a sliding layer
	// attends to, itself included: the token at p sees (p−Window, p].
	// This is llama.cpp's n_swa with its "standard" window type.
	Window int
	// Batch is the most tokens of the sequence a forward pass stores in a
	// layer before it attends: the ring must hold the window of the pass's
	// first token and the whole pass at once.
	Batch int
	// Layers marks the sliding layers, one entry per layer.
	Layers []bool
}

// maxElements bounds one of the K or V arrays (about 32 GiB of fp16), which
// catches sizes computed from a corrupt file before they reach make.
const maxElements = 1 << 34

// New returns an empty cache for layers layers of kvHeads heads of headDim
// elements, holding up to size positions, in fp16 when f16 is true and
// float32 otherwise.
func New(layers, size, kvHeads, headDim int, f16 bool) (*Cache, error) {
	return NewSliding(layers, size, kvHeads, headDim, f16, Sliding{})
}

// Shape is one layer's key/value geometry: KVHeads heads of HeadDim each.
// VIsK marks a layer whose values are its keys (DeepSeek's latent
// attention caches one vector per token and reads it as both): the cache
// stores it once and gives the keys as the values.
type Shape struct {
	KVHeads, HeadDim int
	VIsK             bool
}

// Uniform returns layers copies of one shape.
func Uniform(layers, kvHeads, headDim int) []Shape {
	s := make([]Shape, max(layers, 0))
	for i := range s {
		s[i] = Shape{KVHeads: kvHeads, HeadDim: headDim}
	}
	return s
}

// NewSliding is [New] for a model with sliding-window layers: the layers s
// marks hold min(size, s.Window−1+s.Batch) positions in a ring instead of
// size. A zero s (no layer marked) gives the cache of New.
func NewSliding(layers, size, kvHeads, headDim int, f16 bool, s Sliding) (*Cache, error) {
	if layers <= 0 || size <= 0 || kvHeads <= 0 || headDim <= 0 {
		return nil, fmt.Errorf("kvcache: bad geometry: %d layers, context %d, %d KV heads of %d", layers, size, kvHeads, headDim)
	}
	return NewShaped(size, f16, Uniform(layers, kvHeads, headDim), s)
}

// NewShaped is [NewSliding] for layers of different geometry (Gemma 4's
// sliding and global layers have heads of different sizes): one Shape per
// layer.
func NewShaped(size int, f16 bool, shapes []Shape, s Sliding) (*Cache, error) {
	layers := len(shapes)
	if layers == 0 || size <= 0 {
		return nil, fmt.Errorf("kvcache: bad geometry: %d layers, context %d", layers, size)
	}
	c := &Cache{layers: layers, size: size, shapes: slices.Clone(shapes), kvDims: make([]int, layers), f16: f16,
		off: make([]int, layers+1), voff: make([]int, layers+1), slots: make([]int, layers)}
	for l, sh := range shapes {
		if sh.KVHeads <= 0 || sh.HeadDim <= 0 {
			return nil, fmt.Errorf("kvcache: bad geometry: layer %d has %d KV heads of %d", l, sh.KVHeads, sh.HeadDim)
		}
		c.kvDims[l] = sh.KVHeads * sh.HeadDim
		if c.kvDims[l] > maxElements/layers/size {
			return nil, fmt.Errorf("kvcache: %d layers × context %d × %d too large", layers, size, c.kvDims[l])
		}
	}
	ring := size
	if slices.Contains(s.Layers, true) {
		switch {
		case len(s.Layers) != layers:
			return nil, fmt.Errorf("kvcache: sliding-window flags for %d layers, cache has %d", len(s.Layers), layers)
		case s.Window <= 0 || s.Batch <= 0:
			return nil, fmt.Errorf("kvcache: sliding window %d and batch %d must be positive", s.Window, s.Batch)
		}
		c.window, c.sliding = s.Window, slices.Clone(s.Layers)
		if s.Window <= size && s.Batch <= size {
			ring = min(size, s.Window-1+s.Batch)
		}
	}
	for l := range layers {
		c.slots[l] = size
		if c.Sliding(l) {
			c.slots[l] = ring
		}
		c.off[l+1] = c.off[l] + c.slots[l]*c.kvDims[l]
		c.voff[l+1] = c.voff[l]
		if !c.shapes[l].VIsK {
			c.voff[l+1] += c.slots[l] * c.kvDims[l]
		}
	}
	n, nv := c.off[layers], c.voff[layers]
	if f16 {
		c.k16, c.v16 = make([]uint16, n), make([]uint16, nv)
	} else {
		c.k32, c.v32 = make([]float32, n), make([]float32, nv)
	}
	return c, nil
}

// Len returns the number of positions filled.
func (c *Cache) Len() int { return c.n }

// Size returns the context size: the most positions the cache holds.
func (c *Cache) Size() int { return c.size }

// Layers returns the number of layers.
func (c *Cache) Layers() int { return c.layers }

// KVHeads returns the number of key/value heads of layer 0 (of every
// layer unless the cache was made by NewShaped).
func (c *Cache) KVHeads() int { return c.shapes[0].KVHeads }

// HeadDim returns the dimension of one head of layer 0.
func (c *Cache) HeadDim() int { return c.shapes[0].HeadDim }

// Shape returns layer's key/value geometry.
func (c *Cache) Shape(layer int) Shape { return c.shapes[layer] }

// Shapes returns every layer's key/value geometry.
func (c *Cache) Shapes() []Shape { return slices.Clone(c.shapes) }

// F16 reports whether keys and values are stored as fp16.
func (c *Cache) F16() bool { return c.f16 }

// Window returns the attention window of the sliding layers, 0 when no
// layer slides.
func (c *Cache) Window() int { return c.window }

// Sliding reports whether layer keeps only a sliding window of positions.
func (c *Cache) Sliding(layer int) bool { return c.sliding != nil && c.sliding[layer] }

// Slots returns the number of positions layer holds: Size, or for a
// sliding layer the length of its ring. Position p is in row p mod Slots.
func (c *Cache) Slots(layer int) int { return c.slots[layer] }

// Oldest returns the first position the sliding layers still hold; the
// positions before it were overwritten by later ones (0 without sliding
// layers).
func (c *Cache) Oldest() int { return c.oldest }

// Bytes returns the memory the keys and values take.
func (c *Cache) Bytes() int64 {
	per := int64(4)
	if c.f16 {
		per = 2
	}
	return per*int64(c.off[c.layers]+c.voff[c.layers]) + c.stateBytes()
}

// Check returns an error unless positions [pos, pos+count) fit the cache.
func (c *Cache) Check(pos, count int) error {
	if pos < 0 || count < 0 {
		return fmt.Errorf("kvcache: negative position %d or count %d", pos, count)
	}
	if end := pos + count; end > c.size {
		return fmt.Errorf("kvcache: position %d beyond context size %d", max(pos, c.size), c.size)
	}
	return nil
}

// Holds returns an error wrapping [ErrEvicted] unless the sliding layers
// still hold the positions a token at pos attends to before itself,
// [pos−Window+1, pos) clipped at 0; it is nil for a cache without sliding
// layers. A model checks the first token of each sequence of a batch with
// it, before anything changes: the later tokens' windows are either the
// first's or written by the batch itself. It fails after Truncate into
// evicted positions was refused, and after a failed multi-pass batch
// overwrote the window of position Len.
func (c *Cache) Holds(pos int) error {
	if len(c.states) > 0 && pos != 0 && pos != c.statePos && !c.hasCheckpoint(pos) {
		return c.stateErr(pos)
	}
	if c.window == 0 {
		return nil
	}
	if from := max(0, pos-c.window+1); from < pos && from < c.oldest {
		return fmt.Errorf("kvcache: %w: position %d attends back to %d, the sliding-window layers hold positions from %d on",
			ErrEvicted, pos, from, c.oldest)
	}
	return nil
}

// Put stores the keys k and values v (KVHeads × HeadDim each) of layer at
// position pos, rounding to fp16 for an fp16 cache; v is ignored in a layer
// whose values are its keys. It does not change Len;
// the model commits a batch once every layer is stored. In a sliding layer
// the row of pos held pos − Slots before, which is gone from then on (see
// [Cache.Oldest]) even if the batch is never committed.
func (c *Cache) Put(layer, pos int, k, v []float32) error {
	if layer < 0 || layer >= c.layers {
		return fmt.Errorf("kvcache: layer %d out of range [0, %d)", layer, c.layers)
	}
	if err := c.Check(pos, 1); err != nil {
		return err
	}
	kvDim := c.kvDims[layer]
	if len(k) < kvDim || len(v) < kvDim {
		return fmt.Errorf("kvcache: %d keys and %d values, want %d each", len(k), len(v), kvDim)
	}
	slots := c.slots[layer]
	row := pos % slots * kvDim
	off, voff := c.off[layer]+row, c.voff[layer]+row
	if slots < c.size {
		c.oldest = max(c.oldest, pos-slots+1) // the row held pos−slots
	}
	vIsK := c.shapes[layer].VIsK
	if c.f16 {
		kernels.ToFP16(c.k16[off:off+kvDim], k[:kvDim])
		if !vIsK {
			kernels.ToFP16(c.v16[voff:voff+kvDim], v[:kvDim])
		}
	} else {
		copy(c.k32[off:off+kvDim], k)
		if !vIsK {
			copy(c.v32[voff:voff+kvDim], v)
		}
	}
	return nil
}

// Commit marks positions [Len, n) as filled after a forward pass has stored
// them in every layer.
func (c *Cache) Commit(n int) error {
	if n < c.n || n > c.size {
		return fmt.Errorf("kvcache: commit to %d with %d filled and context size %d", n, c.n, c.size)
	}
	c.n = n
	return nil
}

// Truncate rewinds the cache to its first n positions, dropping the rest;
// the next token evaluated goes at position n. With sliding layers it fails,
// wrapping [ErrEvicted], when they no longer hold the window of position n:
// rewinding more than about Batch positions is then impossible, and the
// sequence must be evaluated again from 0 (Truncate(0) always works).
func (c *Cache) Truncate(n int) error {
	if n < 0 || n > c.n {
		return fmt.Errorf("kvcache: truncate to %d, only %d positions filled", n, c.n)
	}
	if err := c.Holds(n); err != nil {
		return err
	}
	c.n = n
	c.oldest = min(c.oldest, n)
	if len(c.states) > 0 {
		c.restoreStates(n) // Holds made sure it can
		c.dropCheckpoints(n)
	}
	return nil
}

// Reset empties the cache.
func (c *Cache) Reset() {
	c.n, c.oldest = 0, 0
	if len(c.states) > 0 {
		c.zeroStates()
		c.checkpoints = nil
	}
}

// LayerF16 returns the keys and values of layer as fp16 bits, Slots(layer)
// × the layer's KVHeads × HeadDim each, or nils for a float32 cache. Position p is in
// row p mod Slots(layer), which is row p except in a sliding layer.
// Positions at and past Len hold stale data. Attention kernels read the
// cache through this view.
func (c *Cache) LayerF16(layer int) (k, v []uint16) {
	if !c.f16 {
		return nil, nil
	}
	lo, hi := c.off[layer], c.off[layer+1]
	if c.shapes[layer].VIsK {
		return c.k16[lo:hi], c.k16[lo:hi]
	}
	return c.k16[lo:hi], c.v16[c.voff[layer]:c.voff[layer+1]]
}

// LayerF32 is [Cache.LayerF16] for a float32 cache; it returns nils for an
// fp16 cache.
func (c *Cache) LayerF32(layer int) (k, v []float32) {
	if c.f16 {
		return nil, nil
	}
	lo, hi := c.off[layer], c.off[layer+1]
	if c.shapes[layer].VIsK {
		return c.k32[lo:hi], c.k32[lo:hi]
	}
	return c.k32[lo:hi], c.v32[c.voff[layer]:c.voff[layer+1]]
}
