package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
)

// Meta reads an architecture's hyperparameters from GGUF metadata. Keys are
// given without the architecture prefix ("embedding_length" reads
// "llama.embedding_length"). The first error is kept and later reads return
// zero values, so a loader reads everything and checks [Meta.Err] once.
type Meta struct {
	f    *gguf.File
	arch string
	err  error
}

// NewMeta returns a reader of f's metadata for architecture arch.
func NewMeta(f *gguf.File, arch string) *Meta { return &Meta{f: f, arch: arch} }

// Err returns the first error met, prefixed with the architecture name.
func (m *Meta) Err() error {
	if m.err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", m.arch, m.err)
}

// Key returns the full metadata key for an architecture-relative key.
func (m *Meta) Key(key string) string { return m.arch + "." + key }

func (m *Meta) fail(err error) {
	if m.err == nil {
		m.err = err
	}
}

// Has reports whether the architecture key is present.
func (m *Meta) Has(key string) bool { return m.f.Has(m.Key(key)) }

// Int reads a required integer.
func (m *Meta) Int(key string) int { return m.int(key, 0, true) }

// IntOr reads an optional integer, def when absent.
func (m *Meta) IntOr(key string, def int) int { return m.int(key, def, false) }

func (m *Meta) int(key string, def int, required bool) int {
	if m.err != nil {
		return 0
	}
	k := m.Key(key)
	v, err := m.f.Int(k)
	switch {
	case errors.Is(err, gguf.ErrMissing) && !required:
		return def
	case err != nil:
		m.fail(err)
		return 0
	case v < math.MinInt32 || v > math.MaxInt32:
		m.fail(fmt.Errorf("metadata key %q: value %d out of range", k, v))
		return 0
	}
	return int(v)
}

// Float reads a required number as float32.
func (m *Meta) Float(key string) float32 { return m.float(key, 0, true) }

// FloatOr reads an optional number, def when absent.
func (m *Meta) FloatOr(key string, def float32) float32 { return m.float(key, def, false) }

func (m *Meta) float(key string, def float32, required bool) float32 {
	if m.err != nil {
		return 0
	}
	v, err := m.f.Float(m.Key(key))
	switch {
	case errors.Is(err, gguf.ErrMissing) && !required:
		return def
	case err != nil:
		m.fail(err)
		return 0
	}
	return float32(v)
}

// StringOr reads an optional string, def when absent.
func (m *Meta) StringOr(key, def string) string {
	if m.err != nil {
		return ""
	}
	v, err := m.f.String(m.Key(key))
	switch {
	case errors.Is(err, gguf.ErrMissing):
		return def
	case err != nil:
		m.fail(err)
		return ""
	}
	return v
}

// BoolOr reads an optional boolean, def when absent.
func (m *Meta) BoolOr(key string, def bool) bool {
	if m.err != nil {
		return false
	}
	v, err := m.f.Bool(m.Key(key))
	switch {
	case errors.Is(err, gguf.ErrMissing):
		return def
	case err != nil:
		m.fail(err)
		return false
	}
	return v
}
