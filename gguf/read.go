// Package gguf reads and writes GGUF files, the container llama.cpp and the
// Hugging Face ecosystem use for model weights and metadata.
//
// A file is opened by memory-mapping it read-only; tensors are views into the
// mapping, so opening a multi-gigabyte model costs milliseconds and no heap.
// Every count and offset read from the file is checked against the file's
// size before it is used: a hostile or truncated file gets an error that names
// the problem, never a panic or an allocation sized by the file.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/ondo-ai/ondo/tensor"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment used when general.alignment is absent.
const DefaultAlignment = 32

// MaxDims is the most dimensions a tensor may have.
const MaxDims = 4

// maxAlignment is the largest general.alignment accepted.
const maxAlignment = 1 << 20

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	Type tensor.Type
	// Shape lists the dimensions innermost first (ggml's ne): Shape[0] is
	// the row length.
	Shape []int64
	// Offset is the position of the data relative to the data section.
	Offset uint64
	// Size is the number of bytes the data takes.
	Size int64
}

// Elements returns the number of elements.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows returns the number of rows (all dimensions but the first).
func (t *TensorInfo) Rows() int64 {
	n := int64(1)
	if len(t.Shape) > 1 {
		// Not Elements()/Shape[0]: a row length of 0 is valid.
		for _, d := range t.Shape[1:] {
			n *= d
		}
	}
	return n
}

// File is a parsed GGUF file. Its methods are safe for concurrent use.
type File struct {
	Version    uint32
	KV         []KV
	Tensors    []TensorInfo
	Alignment  int
	DataOffset int64 // start of the data section in the file

	data   []byte // the whole file
	closer func() error
	mapped bool // data is a file mapping (see Releaser)
	kvIdx  map[string]int
	tIdx   map[string]int
}

// Parse parses a GGUF file held in memory. The returned File refers to data;
// tensor views alias it.
func Parse(data []byte) (*File, error) {
	r := &reader{buf: data}
	f, err := r.file()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f.data = data
	return f, nil
}

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Close releases the mapping; tensor views must not be used afterwards.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	f.data = nil
	return c()
}

// Lookup returns the metadata entry for key.
func (f *File) Lookup(key string) (KV, bool) {
	i, ok := f.kvIdx[key]
	if !ok {
		return KV{}, false
	}
	return f.KV[i], true
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tIdx[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns the bytes of a tensor, a view into the file.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + int64(t.Offset)
	return f.data[start : start+t.Size : start+t.Size]
}

type reader struct {
	buf []byte
	off int
}

var errTruncated = errors.New("truncated")

func (r *reader) need(n int, what string) error {
	if n < 0 || n > len(r.buf)-r.off {
		return fmt.Errorf("truncated file: %s needs %d bytes at offset %d, only %d left", what, n, r.off, len(r.buf)-r.off)
	}
	return nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.buf[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.buf[r.off:])
	r.off += 8
	return v, nil
}

// u32f and u64f are u32 and u64 whose error context is built only on
// failure: the header of a model with a thousand tensors holds thousands of
// fields, and formatting a name for each would dominate Open.
func (r *reader) u32f(what func() string) (uint32, error) {
	if len(r.buf)-r.off < 4 {
		return 0, r.need(4, what())
	}
	return r.u32("")
}

func (r *reader) u64f(what func() string) (uint64, error) {
	if len(r.buf)-r.off < 8 {
		return 0, r.need(8, what())
	}
	return r.u64("")
}

// strf is str with its error context built only on failure.
func (r *reader) strf(what func() string) (string, error) {
	if s, ok := r.tryStr(); ok {
		return s, nil
	}
	return r.str(what())
}

// count reads an element count and checks that count elements of at least
// minSize bytes each fit in the rest of the file.
func (r *reader) count(what string, minSize int) (int, error) {
	n, err := r.u64(what)
	if err != nil {
		return 0, err
	}
	left := uint64(len(r.buf) - r.off)
	if minSize > 0 && n > left/uint64(minSize) {
		return 0, fmt.Errorf("%s %d is larger than the rest of the file (%d bytes) can hold", what, n, left)
	}
	return int(n), nil
}

// tryStr reads a string when it is whole and reports false, reading
// nothing, otherwise: callers build their error context only on failure, so
// the hundred thousand strings of a vocabulary cost no formatting.
func (r *reader) tryStr() (string, bool) {
	left := len(r.buf) - r.off
	if left < 8 {
		return "", false
	}
	n := binary.LittleEndian.Uint64(r.buf[r.off:])
	if n > uint64(left-8) {
		return "", false
	}
	start := r.off + 8
	r.off = start + int(n)
	return string(r.buf[start:r.off]), true
}

func (r *reader) str(what string) (string, error) {
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.buf)-r.off) {
		return "", fmt.Errorf("%s length %d is larger than the rest of the file (%d bytes)", what, n, len(r.buf)-r.off)
	}
	s := string(r.buf[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

func (r *reader) file() (*File, error) {
	if err := r.need(8, "header"); err != nil {
		return nil, err
	}
	if string(r.buf[:4]) != Magic {
		return nil, fmt.Errorf("bad magic %q, want %q: not a GGUF file", r.buf[:4], Magic)
	}
	r.off = 4
	version, _ := r.u32("version")
	switch {
	case version == 2 || version == 3:
	case version&0xffff == 0 && version>>16 != 0:
		return nil, fmt.Errorf("version field 0x%08x looks byte-swapped: big-endian GGUF files are not supported", version)
	case version == 1:
		return nil, fmt.Errorf("GGUF version 1 is not supported (only 2 and 3)")
	default:
		return nil, fmt.Errorf("unknown GGUF version %d (only 2 and 3)", version)
	}
	// A tensor info takes at least 8 (name) + 4 (dims) + 4 (type) + 8
	// (offset) bytes, a KV at least 8 (key) + 4 (type) + 1.
	nTensors, err := r.count("tensor count", 24)
	if err != nil {
		return nil, err
	}
	nKV, err := r.count("metadata count", 13)
	if err != nil {
		return nil, err
	}
	f := &File{Version: version, Alignment: DefaultAlignment, kvIdx: make(map[string]int, nKV), tIdx: make(map[string]int, nTensors)}
	f.KV = make([]KV, 0, nKV)
	for i := 0; i < nKV; i++ {
		key, err := r.strf(func() string { return fmt.Sprintf("metadata key %d", i) })
		if err != nil {
			return nil, err
		}
		if _, dup := f.kvIdx[key]; dup {
			return nil, fmt.Errorf("duplicate metadata key %q", key)
		}
		t, err := r.u32f(func() string { return fmt.Sprintf("type of %q", key) })
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t), key, 0)
		if err != nil {
			return nil, err
		}
		f.kvIdx[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Type: ValueType(t), Value: v})
	}
	if kv, ok := f.Lookup("general.alignment"); ok {
		a, isU32 := kv.Value.(uint32)
		if !isU32 {
			return nil, fmt.Errorf("general.alignment has type %s, want uint32", kv.Type)
		}
		if a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return nil, fmt.Errorf("general.alignment %d is not a power of two up to 1 MiB", a)
		}
		f.Alignment = int(a)
	}
	f.Tensors = make([]TensorInfo, 0, nTensors)
	for i := 0; i < nTensors; i++ {
		ti, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIdx[ti.Name]; dup {
			return nil, fmt.Errorf("duplicate tensor name %q", ti.Name)
		}
		if ti.Offset%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("tensor %q: offset %d is not a multiple of the alignment %d", ti.Name, ti.Offset, f.Alignment)
		}
		f.tIdx[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	// The data section starts at the next aligned offset. A file without
	// tensors may end before it.
	start := int64(r.off)
	if rem := start % int64(f.Alignment); rem != 0 {
		start += int64(f.Alignment) - rem
	}
	f.DataOffset = start
	if nTensors == 0 {
		return f, nil
	}
	return f, f.checkExtents(int64(len(r.buf)))
}

// checkExtents verifies that every tensor's data lies inside the file and
// that no two tensors overlap.
func (f *File) checkExtents(fileSize int64) error {
	dataLen := fileSize - f.DataOffset
	if dataLen < 0 {
		return fmt.Errorf("truncated file: data section starts at %d beyond file size %d", f.DataOffset, fileSize)
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	var end uint64
	prev := -1 // the last non-empty tensor
	for _, i := range order {
		t := &f.Tensors[i]
		if t.Offset > uint64(dataLen) || uint64(t.Size) > uint64(dataLen)-t.Offset {
			return fmt.Errorf("tensor %q: data [%d, %d) lies outside the file (data section holds %d bytes)", t.Name, t.Offset, t.Offset+uint64(t.Size), dataLen)
		}
		if t.Size == 0 {
			// An empty tensor overlaps nothing; the writer gives it
			// the offset of the tensor that follows it.
			continue
		}
		if prev >= 0 && t.Offset < end {
			return fmt.Errorf("tensor %q at offset %d overlaps tensor %q which ends at %d", t.Name, t.Offset, f.Tensors[prev].Name, end)
		}
		end = t.Offset + uint64(t.Size)
		prev = i
	}
	return nil
}

func (r *reader) tensorInfo(i int) (TensorInfo, error) {
	name, err := r.strf(func() string { return fmt.Sprintf("tensor %d name", i) })
	if err != nil {
		return TensorInfo{}, err
	}
	nDims, err := r.u32f(func() string { return fmt.Sprintf("tensor %q dimension count", name) })
	if err != nil {
		return TensorInfo{}, err
	}
	if nDims > MaxDims {
		return TensorInfo{}, fmt.Errorf("tensor %q has %d dimensions, at most %d allowed", name, nDims, MaxDims)
	}
	if nDims == 0 {
		// The writer refuses these too, and the rest of ondo relies on
		// Shape[0] being the row length.
		return TensorInfo{}, fmt.Errorf("tensor %q has 0 dimensions, want 1 to %d", name, MaxDims)
	}
	ti := TensorInfo{Name: name, Shape: make([]int64, nDims)}
	elems := int64(1)
	for d := range ti.Shape {
		v, err := r.u64f(func() string { return fmt.Sprintf("tensor %q dimension %d", name, d) })
		if err != nil {
			return TensorInfo{}, err
		}
		if v > math.MaxInt64 {
			return TensorInfo{}, fmt.Errorf("tensor %q: dimension %d is %d, beyond int64", name, d, v)
		}
		ti.Shape[d] = int64(v)
		if v != 0 && elems > math.MaxInt64/int64(v) {
			return TensorInfo{}, fmt.Errorf("tensor %q: shape %v overflows the element count", name, ti.Shape[:d+1])
		}
		elems *= int64(v)
	}
	typ, err := r.u32f(func() string { return fmt.Sprintf("tensor %q type", name) })
	if err != nil {
		return TensorInfo{}, err
	}
	ti.Type = tensor.Type(typ)
	if !ti.Type.Known() {
		return TensorInfo{}, fmt.Errorf("tensor %q has unknown type %d", name, typ)
	}
	if ti.Shape[0]%int64(ti.Type.BlockSize()) != 0 {
		return TensorInfo{}, fmt.Errorf("tensor %q: row length %d is not a multiple of the %s block size %d", name, ti.Shape[0], ti.Type, ti.Type.BlockSize())
	}
	// elems is a multiple of the block size, so elems/bs*ts cannot
	// overflow unless the byte count itself does.
	blocks := elems / int64(ti.Type.BlockSize())
	if blocks > math.MaxInt64/int64(ti.Type.TypeSize()) {
		return TensorInfo{}, fmt.Errorf("tensor %q: byte size of shape %v overflows", name, ti.Shape)
	}
	ti.Size = blocks * int64(ti.Type.TypeSize())
	ti.Offset, err = r.u64f(func() string { return fmt.Sprintf("tensor %q offset", name) })
	if err != nil {
		return TensorInfo{}, err
	}
	return ti, nil
}

// maxNesting bounds nested arrays so a hostile file cannot recurse deeply.
const maxNesting = 8

func (r *reader) value(t ValueType, key string, depth int) (any, error) {
	// Formatted only on error: this runs once per nested array element.
	what := func() string { return fmt.Sprintf("value of %q", key) }
	if sz := t.size(); sz > 0 {
		if sz > len(r.buf)-r.off {
			return nil, r.need(sz, what())
		}
		b := r.buf[r.off:]
		r.off += sz
		switch t {
		case Uint8:
			return b[0], nil
		case Int8:
			return int8(b[0]), nil
		case Bool:
			if b[0] > 1 {
				return nil, fmt.Errorf("%s: bool byte %d is neither 0 nor 1", what(), b[0])
			}
			return b[0] == 1, nil
		case Uint16:
			return binary.LittleEndian.Uint16(b), nil
		case Int16:
			return int16(binary.LittleEndian.Uint16(b)), nil
		case Uint32:
			return binary.LittleEndian.Uint32(b), nil
		case Int32:
			return int32(binary.LittleEndian.Uint32(b)), nil
		case Float32:
			return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
		case Uint64:
			return binary.LittleEndian.Uint64(b), nil
		case Int64:
			return int64(binary.LittleEndian.Uint64(b)), nil
		case Float64:
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		}
	}
	switch t {
	case String:
		return r.strf(what)
	case ArrayType:
		if depth >= maxNesting {
			return nil, fmt.Errorf("%s: arrays nested more than %d deep", what(), maxNesting)
		}
		if len(r.buf)-r.off < 12 {
			_, err := r.u32(what() + " element type")
			if err == nil {
				_, err = r.u64(what() + " array count")
			}
			return nil, err
		}
		et, _ := r.u32("")
		elem := ValueType(et)
		if elem.minSize() == 0 {
			return nil, fmt.Errorf("%s: unknown array element type %d", what(), et)
		}
		n, err := r.count(what()+" array count", elem.minSize())
		if err != nil {
			return nil, err
		}
		return r.array(elem, n, key, depth)
	}
	return nil, fmt.Errorf("%s: unknown value type %d", what(), uint32(t))
}

func (r *reader) array(t ValueType, n int, key string, depth int) (Array, error) {
	a := Array{Type: t}
	if sz := t.size(); sz > 0 {
		// count() already checked n*sz fits in the file.
		b := r.buf[r.off : r.off+n*sz]
		r.off += n * sz
		switch t {
		case Uint8:
			a.Values = append([]uint8{}, b...)
		case Int8:
			v := make([]int8, n)
			for i := range v {
				v[i] = int8(b[i])
			}
			a.Values = v
		case Bool:
			v := make([]bool, n)
			for i := range v {
				if b[i] > 1 {
					return a, fmt.Errorf("value of %q: bool byte %d at index %d is neither 0 nor 1", key, b[i], i)
				}
				v[i] = b[i] == 1
			}
			a.Values = v
		case Uint16, Int16:
			u := make([]uint16, n)
			for i := range u {
				u[i] = binary.LittleEndian.Uint16(b[2*i:])
			}
			if t == Uint16 {
				a.Values = u
			} else {
				v := make([]int16, n)
				for i := range v {
					v[i] = int16(u[i])
				}
				a.Values = v
			}
		case Uint32, Int32, Float32:
			u := make([]uint32, n)
			for i := range u {
				u[i] = binary.LittleEndian.Uint32(b[4*i:])
			}
			switch t {
			case Uint32:
				a.Values = u
			case Int32:
				v := make([]int32, n)
				for i := range v {
					v[i] = int32(u[i])
				}
				a.Values = v
			default:
				v := make([]float32, n)
				for i := range v {
					v[i] = math.Float32frombits(u[i])
				}
				a.Values = v
			}
		case Uint64, Int64, Float64:
			u := make([]uint64, n)
			for i := range u {
				u[i] = binary.LittleEndian.Uint64(b[8*i:])
			}
			switch t {
			case Uint64:
				a.Values = u
			case Int64:
				v := make([]int64, n)
				for i := range v {
					v[i] = int64(u[i])
				}
				a.Values = v
			default:
				v := make([]float64, n)
				for i := range v {
					v[i] = math.Float64frombits(u[i])
				}
				a.Values = v
			}
		}
		return a, nil
	}
	if t == String {
		v := make([]string, n)
		for i := range v {
			s, ok := r.tryStr()
			if !ok {
				_, err := r.str(fmt.Sprintf("value of %q element %d", key, i))
				return a, err
			}
			v[i] = s
		}
		a.Values = v
		return a, nil
	}
	// Grow as elements parse rather than trusting n: every nesting level
	// could otherwise allocate twice the file's size before failing.
	v := make([]Array, 0, min(n, 1024))
	for range n {
		x, err := r.value(ArrayType, key, depth+1)
		if err != nil {
			return a, err
		}
		v = append(v, x.(Array))
	}
	a.Values = v
	return a, nil
}
