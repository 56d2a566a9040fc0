// Package model turns a GGUF file into something that computes logits.
//
// Each architecture family lives in its own package (model/llama, …) that
// registers a loader for its general.architecture name in an init function;
// [Load] picks the loader by that name. A program makes the families it
// wants available by importing their packages, usually for side effects:
//
//	import _ "github.com/ondo-ai/ondo/model/llama"
//
// A decoder family's package is its hyperparameters and a recipe: which
// norms, attention, feed-forward and scalars each layer has, assembled by
// model/decoder from the parts in model/layers, where the forward pass,
// the KV cache and batching live once.
package model

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kvcache"
)

// Model is a loaded model, ready to evaluate batches of tokens.
type Model interface {
	// Info describes the model's shape.
	Info() Info
	// NewCache returns an empty key/value cache for a sequence of up to
	// size positions, stored as fp16 when f16 is true (the usual choice)
	// and float32 otherwise.
	NewCache(size int, f16 bool) (*kvcache.Cache, error)
	// Forward evaluates the batch b, storing every token's keys and values
	// in its sequence's cache, and writes the logits of the tokens b asks
	// for to logits, one row of Info().VocabSize per token in batch order.
	// Tokens of one sequence are evaluated together as a matrix, not one
	// by one. Calls on one Model are serialised.
	Forward(ctx context.Context, b *Batch, logits []float32) error
	// Close releases the model's workers. It does not close the GGUF file,
	// which must stay open while the model is used.
	Close() error
}

// Info describes a model's shape, read from its GGUF metadata.
type Info struct {
	Arch              string // general.architecture
	Name              string // general.name, if present
	VocabSize         int
	ContextLength     int // the context the model was trained for
	EmbeddingLength   int
	FeedForwardLength int
	Layers            int
	Heads             int
	KVHeads           int
	HeadDim           int
	// KVShapes is the geometry of each layer of the KV cache when the
	// layers differ or some share another's keys and values (Gemma 4); nil
	// when the cache has Layers layers of KVHeads heads of HeadDim.
	KVShapes []kvcache.Shape
}

// fits reports whether cache c has the model's layers and geometry.
func (i *Info) fits(c *kvcache.Cache) bool {
	if i.KVShapes != nil {
		return slices.Equal(c.Shapes(), i.KVShapes)
	}
	if c.Layers() != i.Layers {
		return false
	}
	for l := range i.Layers {
		if c.Shape(l) != (kvcache.Shape{KVHeads: i.KVHeads, HeadDim: i.HeadDim}) {
			return false
		}
	}
	return true
}

// Config holds the loading options that do not come from the file.
type Config struct {
	// Threads is the number of goroutines the kernels use; 0 means
	// GOMAXPROCS.
	Threads int
	// BatchSize is the most tokens evaluated in one pass through the
	// layers; longer batches are split, which bounds the scratch memory.
	// 0 means DefaultBatchSize.
	BatchSize int
}

// DefaultBatchSize is the batch split when Config.BatchSize is 0. Prompt
// processing is bound by arithmetic, not by reading the weights, so 128
// tokens per pass is as fast as 512 (pp512 of the 1B-shape files within
// run-to-run noise) while the activations a pass holds are a quarter (about
// 17 instead of 70 MB for a 1B Llama): peak RSS stays within file + KV
// cache + 10%.
const DefaultBatchSize = 128

// Batch returns c.BatchSize, or DefaultBatchSize when it is not set.
func (c Config) Batch() int {
	if c.BatchSize > 0 {
		return c.BatchSize
	}
	return DefaultBatchSize
}

// Loader builds a model of one architecture from an open file.
type Loader func(f *gguf.File, cfg Config) (Model, error)

var (
	mu            sync.RWMutex
	loaders       = map[string]Loader{}
	descriptions  = map[string]string{}
	embeddingOnly = map[string]bool{}
)

// Describe records a one-line description of the architecture arch, the
// models it covers and what sets it apart, for `ondo show`.
func Describe(arch, text string) {
	mu.Lock()
	defer mu.Unlock()
	descriptions[arch] = text
}

// MarkEmbeddingOnly records that architecture arch computes embeddings
// only (an encoder), for listings that say what a model can do.
func MarkEmbeddingOnly(arch string) {
	mu.Lock()
	defer mu.Unlock()
	embeddingOnly[arch] = true
}

// EmbeddingOnly reports whether [MarkEmbeddingOnly] recorded arch.
func EmbeddingOnly(arch string) bool {
	mu.RLock()
	defer mu.RUnlock()
	return embeddingOnly[arch]
}

// Description returns what [Describe] recorded for arch, "" if nothing.
func Description(arch string) string {
	mu.RLock()
	defer mu.RUnlock()
	return descriptions[arch]
}

// Register makes a loader available for the architecture name arch, the
// value of general.architecture. It panics if arch is already registered,
// which is a programming error.
func Register(arch string, load Loader) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := loaders[arch]; dup {
		panic(fmt.Sprintf("model: architecture %q registered twice", arch))
	}
	loaders[arch] = load
}

// Architectures returns the registered architecture names, sorted.
func Architectures() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(loaders))
	for n := range loaders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnsupported is wrapped by the error Load returns for an architecture no
// package has registered.
var ErrUnsupported = errors.New("unsupported architecture")

// Load builds the model in f with the loader registered for its
// general.architecture. The returned model refers to f's mapped tensors; f
// must stay open while the model is in use.
func Load(f *gguf.File, cfg Config) (Model, error) {
	arch, err := f.Architecture()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	mu.RLock()
	load := loaders[arch]
	mu.RUnlock()
	if load == nil {
		return nil, unsupportedError{arch, Architectures()}
	}
	return load(f, cfg)
}

type unsupportedError struct {
	arch      string
	supported []string
}

// Error returns the message naming the architecture and those supported.
func (e unsupportedError) Error() string {
	return fmt.Sprintf("unsupported architecture %q (supported: %s)", e.arch, strings.Join(e.supported, ", "))
}

// Unwrap makes errors.Is(err, ErrUnsupported) hold.
func (e unsupportedError) Unwrap() error { return ErrUnsupported }
