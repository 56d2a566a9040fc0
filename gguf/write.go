package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ondo-ai/ondo/tensor"
)

// TensorSpec describes a tensor to write. Exactly one of Data and Fill
// supplies the bytes: Fill streams them so large models need not be held in
// memory, and must write exactly the tensor's byte size.
type TensorSpec struct {
	Name  string
	Type  tensor.Type
	Shape []int64
	Data  []byte
	Fill  func(w io.Writer) error
}

// Size returns the tensor's byte size, or an error for a bad shape.
func (s *TensorSpec) Size() (int64, error) {
	if !s.Type.Known() {
		return 0, fmt.Errorf("tensor %q: unknown type %d", s.Name, uint32(s.Type))
	}
	if len(s.Shape) == 0 || len(s.Shape) > MaxDims {
		return 0, fmt.Errorf("tensor %q: %d dimensions, want 1 to %d", s.Name, len(s.Shape), MaxDims)
	}
	n := int64(1)
	for _, d := range s.Shape {
		if d < 0 || (d != 0 && n > math.MaxInt64/d) {
			return 0, fmt.Errorf("tensor %q: bad shape %v", s.Name, s.Shape)
		}
		n *= d
	}
	if s.Shape[0]%int64(s.Type.BlockSize()) != 0 {
		return 0, fmt.Errorf("tensor %q: row length %d is not a multiple of the %s block size %d", s.Name, s.Shape[0], s.Type, s.Type.BlockSize())
	}
	// RowSize does not check that the byte count fits; the reader
	// refuses such a file, so the writer must not produce one.
	if n/int64(s.Type.BlockSize()) > math.MaxInt64/int64(s.Type.TypeSize()) {
		return 0, fmt.Errorf("tensor %q: byte size of shape %v overflows", s.Name, s.Shape)
	}
	return s.Type.RowSize(n)
}

// WriteFile writes a GGUF v3 file atomically: to a temporary file in the
// same directory, synced, then renamed over path. general.alignment, when
// present in kvs, must be a uint32 power of two up to 1 MiB.
func WriteFile(path string, kvs []KV, tensors []TensorSpec) (err error) {
	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = Write(bw, kvs, tensors); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

// createTemp creates a new file next to path. Unlike os.CreateTemp, which
// makes files only their owner can read, it asks for mode 0666 and lets the
// umask decide, as os.WriteFile does: a model written by ondo is readable by
// whoever the user's umask allows.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	for try := 0; ; try++ {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if os.IsExist(err) && try < 100 {
			continue
		}
		return f, err
	}
}

// Write encodes a GGUF v3 file to w.
func Write(w io.Writer, kvs []KV, tensors []TensorSpec) error {
	align := DefaultAlignment
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		if seen[kv.Key] {
			return fmt.Errorf("gguf: duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
		if kv.Key == "general.alignment" {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
				return fmt.Errorf("gguf: general.alignment must be a uint32 power of two up to 1 MiB, got %v (%T)", kv.Value, kv.Value)
			}
			align = int(a)
		}
	}
	sizes := make([]int64, len(tensors))
	names := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if names[t.Name] {
			return fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
		}
		names[t.Name] = true
		n, err := t.Size()
		if err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		if (t.Data == nil) == (t.Fill == nil) && n > 0 {
			return fmt.Errorf("gguf: tensor %q: give exactly one of Data and Fill", t.Name)
		}
		if t.Data != nil && int64(len(t.Data)) != n {
			return fmt.Errorf("gguf: tensor %q: %d bytes of data, shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.Type, n)
		}
		sizes[i] = n
	}
	cw := &countWriter{w: w}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		if err := e.value(kv.Type, kv.Value); err != nil {
			return fmt.Errorf("gguf: metadata key %q: %w", kv.Key, err)
		}
	}
	var off int64
	for i := range tensors {
		t := &tensors[i]
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.Type))
		e.u64(uint64(off))
		off += pad(sizes[i], align)
	}
	if e.err != nil {
		return fmt.Errorf("gguf: %w", e.err)
	}
	if err := writeZeros(cw, pad(cw.n, align)-cw.n); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	for i := range tensors {
		t := &tensors[i]
		start := cw.n
		var err error
		if t.Data != nil {
			_, err = cw.Write(t.Data)
		} else if t.Fill != nil {
			err = t.Fill(cw)
		}
		if err != nil {
			return fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
		if got := cw.n - start; got != sizes[i] {
			return fmt.Errorf("gguf: tensor %q: wrote %d bytes, want %d", t.Name, got, sizes[i])
		}
		if err := writeZeros(cw, pad(sizes[i], align)-sizes[i]); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
	}
	return nil
}

func pad(n int64, align int) int64 {
	a := int64(align)
	return (n + a - 1) / a * a
}

func writeZeros(w io.Writer, n int64) error {
	var zeros [256]byte
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type encoder struct {
	w   io.Writer
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u8(v uint8)   { e.buf[0] = v; e.raw(e.buf[:1]) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.raw(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.raw(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.raw(e.buf[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }

var errTypeMismatch = errors.New("value does not match its declared type")

func (e *encoder) value(t ValueType, v any) error {
	switch t {
	case Uint8:
		x, ok := v.(uint8)
		if !ok {
			return errTypeMismatch
		}
		e.u8(x)
	case Int8:
		x, ok := v.(int8)
		if !ok {
			return errTypeMismatch
		}
		e.u8(uint8(x))
	case Bool:
		x, ok := v.(bool)
		if !ok {
			return errTypeMismatch
		}
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case Uint16:
		x, ok := v.(uint16)
		if !ok {
			return errTypeMismatch
		}
		e.u16(x)
	case Int16:
		x, ok := v.(int16)
		if !ok {
			return errTypeMismatch
		}
		e.u16(uint16(x))
	case Uint32:
		x, ok := v.(uint32)
		if !ok {
			return errTypeMismatch
		}
		e.u32(x)
	case Int32:
		x, ok := v.(int32)
		if !ok {
			return errTypeMismatch
		}
		e.u32(uint32(x))
	case Float32:
		x, ok := v.(float32)
		if !ok {
			return errTypeMismatch
		}
		e.u32(math.Float32bits(x))
	case Uint64:
		x, ok := v.(uint64)
		if !ok {
			return errTypeMismatch
		}
		e.u64(x)
	case Int64:
		x, ok := v.(int64)
		if !ok {
			return errTypeMismatch
		}
		e.u64(uint64(x))
	case Float64:
		x, ok := v.(float64)
		if !ok {
			return errTypeMismatch
		}
		e.u64(math.Float64bits(x))
	case String:
		x, ok := v.(string)
		if !ok {
			return errTypeMismatch
		}
		e.str(x)
	case ArrayType:
		a, ok := v.(Array)
		if !ok {
			return errTypeMismatch
		}
		return e.array(a, 0)
	default:
		return fmt.Errorf("unknown value type %d", uint32(t))
	}
	return nil
}

// array encodes a, nested depth arrays deep.
func (e *encoder) array(a Array, depth int) error {
	if depth >= maxNesting {
		// The reader refuses deeper nesting.
		return fmt.Errorf("arrays nested more than %d deep", maxNesting)
	}
	if a.Type == ArrayType {
		// Nested arrays: each element carries its own type and count.
		vs, ok := a.Values.([]Array)
		if !ok && a.Values != nil {
			return errTypeMismatch
		}
		e.u32(uint32(ArrayType))
		e.u64(uint64(len(vs)))
		for _, x := range vs {
			if err := e.array(x, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if a.Type.minSize() == 0 {
		return fmt.Errorf("unknown array element type %d", uint32(a.Type))
	}
	e.u32(uint32(a.Type))
	e.u64(uint64(a.Len()))
	var err error
	each := func(v any) {
		if err == nil {
			err = e.value(a.Type, v)
		}
	}
	switch v := a.Values.(type) {
	case nil:
	case []uint8:
		if a.Type != Uint8 {
			return errTypeMismatch
		}
		e.raw(v)
	case []int8:
		for _, x := range v {
			each(x)
		}
	case []uint16:
		for _, x := range v {
			each(x)
		}
	case []int16:
		for _, x := range v {
			each(x)
		}
	case []uint32:
		for _, x := range v {
			each(x)
		}
	case []int32:
		for _, x := range v {
			each(x)
		}
	case []float32:
		for _, x := range v {
			each(x)
		}
	case []bool:
		for _, x := range v {
			each(x)
		}
	case []string:
		for _, x := range v {
			each(x)
		}
	case []uint64:
		for _, x := range v {
			each(x)
		}
	case []int64:
		for _, x := range v {
			each(x)
		}
	case []float64:
		for _, x := range v {
			each(x)
		}
	default:
		return errTypeMismatch
	}
	return err
}
