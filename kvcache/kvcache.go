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
package kvcache

import (
	"fmt"

	"github.com/ondo-ai/ondo/kernels"
)

// Cache is the key/value cache of one sequence. It is not safe for
// concurrent use.
type Cache struct {
	layers, size, kvHeads, headDim, kvDim int

	f16      bool
	k16, v16 []uint16 // layers × size × kvDim, when f16
	k32, v32 []float32

	n int // positions [0, n) are valid
}

// maxElements bounds one of the K or V arrays (about 32 GiB of fp16), which
// catches sizes computed from a corrupt file before they reach make.
const maxElements = 1 << 34

// New returns an empty cache for layers layers of kvHeads heads of headDim
// elements, holding up to size positions, in fp16 when f16 is true and
// float32 otherwise.
func New(layers, size, kvHeads, headDim int, f16 bool) (*Cache, error) {
	if layers <= 0 || size <= 0 || kvHeads <= 0 || headDim <= 0 {
		return nil, fmt.Errorf("kvcache: bad geometry: %d layers, context %d, %d KV heads of %d", layers, size, kvHeads, headDim)
	}
	kvDim := kvHeads * headDim
	if kvDim > maxElements/layers/size {
		return nil, fmt.Errorf("kvcache: %d layers × context %d × %d too large", layers, size, kvDim)
	}
	c := &Cache{layers: layers, size: size, kvHeads: kvHeads, headDim: headDim, kvDim: kvDim, f16: f16}
	n := layers * size * kvDim
	if f16 {
		c.k16, c.v16 = make([]uint16, n), make([]uint16, n)
	} else {
		c.k32, c.v32 = make([]float32, n), make([]float32, n)
	}
	return c, nil
}

// Len returns the number of positions filled.
func (c *Cache) Len() int { return c.n }

// Size returns the context size: the most positions the cache holds.
func (c *Cache) Size() int { return c.size }

// Layers returns the number of layers.
func (c *Cache) Layers() int { return c.layers }

// KVHeads returns the number of key/value heads per layer.
func (c *Cache) KVHeads() int { return c.kvHeads }

// HeadDim returns the dimension of one head.
func (c *Cache) HeadDim() int { return c.headDim }

// F16 reports whether keys and values are stored as fp16.
func (c *Cache) F16() bool { return c.f16 }

// Bytes returns the memory the keys and values take.
func (c *Cache) Bytes() int64 {
	per := int64(4)
	if c.f16 {
		per = 2
	}
	return 2 * per * int64(c.layers) * int64(c.size) * int64(c.kvDim)
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

// Put stores the keys k and values v (KVHeads × HeadDim each) of layer at
// position pos, rounding to fp16 for an fp16 cache. It does not change Len;
// the model commits a batch once every layer is stored.
func (c *Cache) Put(layer, pos int, k, v []float32) error {
	if layer < 0 || layer >= c.layers {
		return fmt.Errorf("kvcache: layer %d out of range [0, %d)", layer, c.layers)
	}
	if err := c.Check(pos, 1); err != nil {
		return err
	}
	if len(k) < c.kvDim || len(v) < c.kvDim {
		return fmt.Errorf("kvcache: %d keys and %d values, want %d each", len(k), len(v), c.kvDim)
	}
	off := (layer*c.size + pos) * c.kvDim
	if c.f16 {
		kernels.ToFP16(c.k16[off:off+c.kvDim], k[:c.kvDim])
		kernels.ToFP16(c.v16[off:off+c.kvDim], v[:c.kvDim])
	} else {
		copy(c.k32[off:off+c.kvDim], k)
		copy(c.v32[off:off+c.kvDim], v)
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
// the next token evaluated goes at position n.
func (c *Cache) Truncate(n int) error {
	if n < 0 || n > c.n {
		return fmt.Errorf("kvcache: truncate to %d, only %d positions filled", n, c.n)
	}
	c.n = n
	return nil
}

// Reset empties the cache.
func (c *Cache) Reset() { c.n = 0 }

// LayerF16 returns the keys and values of layer as fp16 bits, Size ×
// KVHeads × HeadDim each, or nils for a float32 cache. Positions at and past
// Len hold stale data. Attention kernels read the cache through this view.
func (c *Cache) LayerF16(layer int) (k, v []uint16) {
	if !c.f16 {
		return nil, nil
	}
	n := c.size * c.kvDim
	return c.k16[layer*n : (layer+1)*n], c.v16[layer*n : (layer+1)*n]
}

// LayerF32 is [Cache.LayerF16] for a float32 cache; it returns nils for an
// fp16 cache.
func (c *Cache) LayerF32(layer int) (k, v []float32) {
	if c.f16 {
		return nil, nil
	}
	n := c.size * c.kvDim
	return c.k32[layer*n : (layer+1)*n], c.v32[layer*n : (layer+1)*n]
}
