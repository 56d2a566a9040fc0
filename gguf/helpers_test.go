package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/tensor"
)

// raw builds GGUF bytes by hand, independently of the writer, so tests can
// make files the writer refuses to produce.
type raw struct {
	b     []byte
	order binary.AppendByteOrder
}

func newRaw() *raw { return &raw{order: binary.LittleEndian} }

func (r *raw) bytes(b ...byte) *raw { r.b = append(r.b, b...); return r }
func (r *raw) u8(v uint8) *raw      { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw    { r.b = r.order.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw    { r.b = r.order.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw    { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }

// header writes the magic, version and counts.
func (r *raw) header(version uint32, tensors, kvs uint64) *raw {
	r.b = append(r.b, Magic...)
	return r.u32(version).u64(tensors).u64(kvs)
}

// kv writes a key and a value type; the caller appends the value.
func (r *raw) kv(key string, t ValueType) *raw { return r.str(key).u32(uint32(t)) }

// tensor writes one tensor info.
func (r *raw) tensor(name string, typ tensor.Type, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(offset)
}

// pad appends zeros up to a multiple of align, then n more zero bytes
// (the data section).
func (r *raw) pad(align, n int) *raw {
	for len(r.b)%align != 0 {
		r.b = append(r.b, 0)
	}
	r.b = append(r.b, make([]byte, n)...)
	return r
}

// encode writes kvs and tensors with Write and fails the test on error.
func encode(tb testing.TB, kvs []KV, specs []TensorSpec) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, kvs, specs); err != nil {
		tb.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// mustParse parses b and fails the test on error.
func mustParse(tb testing.TB, b []byte) *File {
	tb.Helper()
	f, err := Parse(b)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return f
}

// sharedAvailable reports whether the shared test data folder exists,
// following internal/testdata's rules. Fuzz targets need it: a Skip there
// would skip the whole target, hand-made seeds included.
func sharedAvailable() bool {
	_, err := testdata.Find()
	return err == nil
}

// sharedBytes returns a shared test file's contents, or nil when the shared
// data is absent outside CI (in CI testdata.Path fails the test).
func sharedBytes(tb testing.TB, elem ...string) []byte {
	tb.Helper()
	if !sharedAvailable() && os.Getenv("CI") == "" {
		tb.Logf("shared test data not found; %v not used (set ONDO_TESTDATA)", elem)
		return nil
	}
	b, err := os.ReadFile(testdata.Path(tb, elem...))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkValue verifies that a metadata value has the Go type its GGUF type
// promises, recursively, and returns an error otherwise.
func checkValue(t ValueType, v any, depth int) error {
	got, ok := typeOf(v)
	if !ok || got != t {
		return fmt.Errorf("value %T does not match type %s", v, t)
	}
	a, ok := v.(Array)
	if !ok {
		return nil
	}
	if depth >= maxNesting {
		return fmt.Errorf("array nested %d deep", depth+1)
	}
	if a.Type == ArrayType {
		vs, ok := a.Values.([]Array)
		if !ok {
			return fmt.Errorf("nested array holds %T", a.Values)
		}
		for _, x := range vs {
			if err := checkValue(ArrayType, x, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	want := map[ValueType]string{Uint8: "[]uint8", Int8: "[]int8", Uint16: "[]uint16", Int16: "[]int16", Uint32: "[]uint32", Int32: "[]int32", Float32: "[]float32", Bool: "[]bool", String: "[]string", Uint64: "[]uint64", Int64: "[]int64", Float64: "[]float64"}[a.Type]
	if got := fmt.Sprintf("%T", a.Values); got != want {
		return fmt.Errorf("array of %s holds %s", a.Type, got)
	}
	return nil
}

// checkParsed verifies the invariants every successfully parsed file must
// hold, re-encodes it with Write and checks that the result parses back to
// the same content. It returns the re-encoded bytes.
func checkParsed(tb testing.TB, data []byte, f *File) []byte {
	tb.Helper()
	if f.Version != 2 && f.Version != 3 {
		tb.Fatalf("version %d accepted", f.Version)
	}
	if a := f.Alignment; a <= 0 || a&(a-1) != 0 || a > maxAlignment {
		tb.Fatalf("alignment %d accepted", a)
	}
	if f.DataOffset%int64(f.Alignment) != 0 || f.DataOffset < 24 {
		tb.Fatalf("data offset %d (alignment %d)", f.DataOffset, f.Alignment)
	}
	if len(f.kvIdx) != len(f.KV) || len(f.tIdx) != len(f.Tensors) {
		tb.Fatalf("index sizes %d/%d for %d keys, %d tensors", len(f.kvIdx), len(f.tIdx), len(f.KV), len(f.Tensors))
	}
	for i, kv := range f.KV {
		if got, ok := f.Lookup(kv.Key); !ok || got.Key != kv.Key || f.kvIdx[kv.Key] != i {
			tb.Fatalf("Lookup(%q) does not find entry %d", kv.Key, i)
		}
		if err := checkValue(kv.Type, kv.Value, 0); err != nil {
			tb.Fatalf("key %q: %v", kv.Key, err)
		}
		// The accessors must never panic, whatever the type.
		f.String(kv.Key)
		f.Int(kv.Key)
		f.Float(kv.Key)
		f.Bool(kv.Key)
		f.Array(kv.Key)
		f.Strings(kv.Key)
		f.Float32s(kv.Key)
		f.Ints(kv.Key)
	}
	type extent struct{ start, end int64 }
	var used []extent
	specs := make([]TensorSpec, len(f.Tensors))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if got, ok := f.Tensor(ti.Name); !ok || got != ti {
			tb.Fatalf("Tensor(%q) does not return entry %d", ti.Name, i)
		}
		if !ti.Type.Known() || len(ti.Shape) < 1 || len(ti.Shape) > MaxDims {
			tb.Fatalf("tensor %q: type %v, shape %v accepted", ti.Name, ti.Type, ti.Shape)
		}
		n := ti.Elements()
		for _, d := range ti.Shape {
			if d < 0 {
				tb.Fatalf("tensor %q: shape %v", ti.Name, ti.Shape)
			}
		}
		if ti.Shape[0]*ti.Rows() != n {
			tb.Fatalf("tensor %q: %d columns × %d rows != %d elements", ti.Name, ti.Shape[0], ti.Rows(), n)
		}
		if size, err := ti.Type.RowSize(n); err != nil || size != ti.Size {
			tb.Fatalf("tensor %q: size %d, want %d (%v)", ti.Name, ti.Size, size, err)
		}
		if ti.Offset%uint64(f.Alignment) != 0 {
			tb.Fatalf("tensor %q: offset %d misaligned", ti.Name, ti.Offset)
		}
		start := f.DataOffset + int64(ti.Offset)
		if ti.Offset > uint64(len(data)) || start+ti.Size > int64(len(data)) {
			tb.Fatalf("tensor %q: [%d, %d) outside %d bytes", ti.Name, start, start+ti.Size, len(data))
		}
		td := f.TensorData(ti)
		if int64(len(td)) != ti.Size || int64(cap(td)) != ti.Size {
			tb.Fatalf("tensor %q: TensorData len %d cap %d, want %d", ti.Name, len(td), cap(td), ti.Size)
		}
		if ti.Size > 0 {
			if &td[0] != &data[start] {
				tb.Fatalf("tensor %q: TensorData is a copy, not a view", ti.Name)
			}
			used = append(used, extent{start, start + ti.Size})
		}
		specs[i] = TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: td}
	}
	sort.Slice(used, func(i, j int) bool { return used[i].start < used[j].start })
	for i := 1; i < len(used); i++ {
		if used[i].start < used[i-1].end {
			tb.Fatalf("tensor data overlaps: %v and %v", used[i-1], used[i])
		}
	}

	// Re-encode: what was read must be writable, and read back the same.
	var buf bytes.Buffer
	if err := Write(&buf, f.KV, specs); err != nil {
		tb.Fatalf("re-Write of a parsed file: %v", err)
	}
	out := buf.Bytes()
	g, err := Parse(out)
	if err != nil {
		tb.Fatalf("Parse of re-written file: %v", err)
	}
	if len(g.KV) != len(f.KV) || len(g.Tensors) != len(f.Tensors) {
		tb.Fatalf("re-written file has %d keys, %d tensors, want %d, %d", len(g.KV), len(g.Tensors), len(f.KV), len(f.Tensors))
	}
	for i := range g.Tensors {
		a, b := &f.Tensors[i], &g.Tensors[i]
		if a.Name != b.Name || a.Type != b.Type || fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) || !bytes.Equal(f.TensorData(a), g.TensorData(b)) {
			tb.Fatalf("tensor %d differs after round trip: %+v vs %+v", i, *a, *b)
		}
	}
	// Writing is deterministic, so equal content gives equal bytes; this
	// compares the metadata bit for bit (NaNs included).
	specs2 := make([]TensorSpec, len(g.Tensors))
	for i := range g.Tensors {
		ti := &g.Tensors[i]
		specs2[i] = TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: g.TensorData(ti)}
	}
	var buf2 bytes.Buffer
	if err := Write(&buf2, g.KV, specs2); err != nil {
		tb.Fatalf("second re-Write: %v", err)
	}
	if !bytes.Equal(out, buf2.Bytes()) {
		tb.Fatalf("write(read(write(read(x)))) differs from write(read(x))")
	}
	return out
}
