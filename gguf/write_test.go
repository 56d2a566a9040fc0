package gguf

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// seq returns n bytes 1, 2, 3, … (mod 251), so misplaced data shows.
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251 + 1)
	}
	return b
}

// nest wraps a in depth-1 further levels of arrays.
func nest(a Array, depth int) Array {
	for range depth - 1 {
		a = Array{ArrayType, []Array{a}}
	}
	return a
}

// allTypesKV returns metadata using every value type: scalars at their
// limits, strings of every kind, arrays of each type (empty ones too) and
// nested arrays.
func allTypesKV() []KV {
	return []KV{
		NewKV("general.architecture", "llama"),
		NewKV("u8", uint8(255)), NewKV("u8.0", uint8(0)),
		NewKV("i8", int8(-128)), NewKV("i8.max", int8(127)),
		NewKV("u16", uint16(65535)), NewKV("i16", int16(-32768)),
		NewKV("u32", uint32(math.MaxUint32)), NewKV("i32", int32(math.MinInt32)),
		NewKV("f32", float32(1e-5)), NewKV("f32.inf", float32(math.Inf(1))),
		NewKV("f32.negzero", float32(math.Copysign(0, -1))), NewKV("f32.tiny", math.Float32frombits(1)),
		NewKV("bool.t", true), NewKV("bool.f", false),
		NewKV("u64", uint64(math.MaxUint64)), NewKV("i64", int64(math.MinInt64)),
		NewKV("int", 42), // NewKV makes this an int64
		NewKV("f64", math.Pi), NewKV("f64.max", math.MaxFloat64), NewKV("f64.neginf", math.Inf(-1)),
		NewKV("str.empty", ""), NewKV("str.korean", "안녕하세요, 세계! 한국어 토크나이저"),
		NewKV("str.utf8", "▁héllo 👋 ∑ \u0000 nul"), NewKV("str.invalid", "\xff\xfe bytes"),
		NewKV("str.long", strings.Repeat("가나다", 1000)),
		NewKV("", "empty key"), NewKV("키", "Korean key"),
		NewKV("arr.u8", []uint8{0, 1, 255}), NewKV("arr.i8", []int8{-128, 0, 127}),
		NewKV("arr.u16", []uint16{0, 65535}), NewKV("arr.i16", []int16{-32768, 32767}),
		NewKV("arr.u32", []uint32{1, 2, math.MaxUint32}), NewKV("arr.i32", []int32{-1, math.MaxInt32}),
		NewKV("arr.f32", []float32{-0.5, 3.25, float32(math.Inf(-1))}),
		NewKV("arr.bool", []bool{true, false, true}),
		NewKV("arr.str", []string{"", "<s>", "▁the", "안녕", "\n", "a\x00b"}),
		NewKV("arr.u64", []uint64{math.MaxUint64, 0}), NewKV("arr.i64", []int64{math.MinInt64, -1}),
		NewKV("arr.f64", []float64{1e300, -1e-300}),
		NewKV("empty.u8", []uint8{}), NewKV("empty.i8", []int8{}), NewKV("empty.u16", []uint16{}),
		NewKV("empty.i16", []int16{}), NewKV("empty.u32", []uint32{}), NewKV("empty.i32", []int32{}),
		NewKV("empty.f32", []float32{}), NewKV("empty.bool", []bool{}), NewKV("empty.str", []string{}),
		NewKV("empty.u64", []uint64{}), NewKV("empty.i64", []int64{}), NewKV("empty.f64", []float64{}),
		NewKV("empty.nested", Array{ArrayType, []Array{}}),
		NewKV("nested", Array{ArrayType, []Array{
			{String, []string{"a", "bc"}},
			{Int32, []int32{}},
			{ArrayType, []Array{{Float32, []float32{1, 2}}, {Bool, []bool{false}}}},
			{ArrayType, []Array{}},
		}}),
		NewKV("nested.deepest", nest(Array{Uint8, []uint8{7}}, maxNesting)),
	}
}

func TestRoundTrip(t *testing.T) {
	kvs, specs := smallFile(t)
	specs = append(specs,
		TensorSpec{Name: "q4k", Type: tensor.Q4_K, Shape: []int64{256, 3}, Data: seq(3 * 144)},
		TensorSpec{Name: "4d", Type: tensor.I8, Shape: []int64{2, 3, 1, 5}, Data: seq(30)},
		TensorSpec{Name: "streamed", Type: tensor.BF16, Shape: []int64{7, 3}, Fill: func(w io.Writer) error {
			// Several writes, as a quantizer streaming rows would.
			for i := range 3 {
				if _, err := w.Write(seq(14 * (i + 1))[14*i:]); err != nil {
					return err
				}
			}
			return nil
		}},
		TensorSpec{Name: "웨이트", Type: tensor.F32, Shape: []int64{1}, Data: []byte{0, 0, 0x80, 0x3f}},
	)
	check := func(f *File) {
		t.Helper()
		if f.Version != 3 || f.Alignment != DefaultAlignment {
			t.Errorf("version %d alignment %d", f.Version, f.Alignment)
		}
		if len(f.KV) != len(kvs) {
			t.Fatalf("%d keys, want %d", len(f.KV), len(kvs))
		}
		for i, kv := range f.KV {
			if !reflect.DeepEqual(kv, kvs[i]) {
				t.Errorf("key %d: got %#v, want %#v", i, kv, kvs[i])
			}
		}
		if len(f.Tensors) != len(specs) {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), len(specs))
		}
		for i := range specs {
			s, ti := &specs[i], &f.Tensors[i]
			want := s.Data
			if s.Fill != nil {
				var buf bytes.Buffer
				s.Fill(&buf)
				want = buf.Bytes()
			}
			if ti.Name != s.Name || ti.Type != s.Type || !reflect.DeepEqual(ti.Shape, s.Shape) || !bytes.Equal(f.TensorData(ti), want) {
				t.Errorf("tensor %d: got %s %s %v %x", i, ti.Name, ti.Type, ti.Shape, f.TensorData(ti))
			}
		}
	}
	b := encode(t, kvs, specs)
	f := mustParse(t, b)
	check(f)
	checkParsed(t, b, f)

	// The same through the file functions.
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteFile(path, kvs, specs); err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(path)
	if !bytes.Equal(onDisk, b) {
		t.Errorf("WriteFile wrote different bytes from Write")
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	check(g)
}

// TestRoundTripNaN checks float metadata bit for bit, NaN payloads included
// (reflect.DeepEqual cannot compare NaNs).
func TestRoundTripNaN(t *testing.T) {
	nan32 := math.Float32frombits(0x7fc00123)
	nan64 := math.Float64frombits(0xfff8000000000abc)
	kvs := []KV{NewKV("a", nan32), NewKV("b", nan64), NewKV("c", []float32{nan32, 1}), NewKV("d", []float64{nan64})}
	f := mustParse(t, encode(t, kvs, nil))
	if v := f.KV[0].Value.(float32); math.Float32bits(v) != 0x7fc00123 {
		t.Errorf("float32 NaN became %08x", math.Float32bits(v))
	}
	if v := f.KV[1].Value.(float64); math.Float64bits(v) != 0xfff8000000000abc {
		t.Errorf("float64 NaN became %016x", math.Float64bits(v))
	}
	if v := f.KV[2].Value.(Array).Values.([]float32); math.Float32bits(v[0]) != 0x7fc00123 || v[1] != 1 {
		t.Errorf("float32 array %v", v)
	}
	if v := f.KV[3].Value.(Array).Values.([]float64); math.Float64bits(v[0]) != 0xfff8000000000abc {
		t.Errorf("float64 array %v", v)
	}
}

// TestWriteGolden compares the writer's bytes with the layout the GGUF
// specification gives, built by hand.
func TestWriteGolden(t *testing.T) {
	got := encode(t,
		[]KV{NewKV("a", uint32(7)), NewKV("s", []string{"x", "yz"})},
		[]TensorSpec{
			{Name: "t", Type: tensor.F32, Shape: []int64{2}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			{Name: "u", Type: tensor.F16, Shape: []int64{1, 2}, Data: []byte{9, 10, 11, 12}},
		})
	r := newRaw().header(3, 2, 2)
	r.kv("a", Uint32).u32(7)
	r.kv("s", ArrayType).u32(uint32(String)).u64(2).str("x").str("yz")
	r.tensor("t", tensor.F32, 0, 2)
	r.tensor("u", tensor.F16, 32, 1, 2)
	r.pad(32, 0).bytes(1, 2, 3, 4, 5, 6, 7, 8).pad(32, 0).bytes(9, 10, 11, 12).pad(32, 0)
	if !bytes.Equal(got, r.b) {
		t.Errorf("writer output differs from the specification's layout:\n got %x\nwant %x", got, r.b)
	}
}

func TestWriteAlignment(t *testing.T) {
	for _, align := range []uint32{0, 1, 8, 64, 4096} {
		var kvs []KV
		want := DefaultAlignment
		if align != 0 {
			kvs = []KV{NewKV("general.alignment", align)}
			want = int(align)
		}
		kvs = append(kvs, NewKV("odd", "12345")) // so the header is not aligned by luck
		specs := []TensorSpec{
			{Name: "a", Type: tensor.F32, Shape: []int64{3}, Data: seq(12)},
			{Name: "b", Type: tensor.Q8_0, Shape: []int64{64}, Data: seq(68)},
			{Name: "c", Type: tensor.I8, Shape: []int64{1}, Data: []byte{0xee}},
			{Name: "d", Type: tensor.F16, Shape: []int64{1000}, Data: seq(2000)},
		}
		b := encode(t, kvs, specs)
		f := mustParse(t, b)
		if f.Alignment != want || f.DataOffset%int64(want) != 0 {
			t.Fatalf("align %d: alignment %d, data offset %d", align, f.Alignment, f.DataOffset)
		}
		// The header's length by the specification: 24 bytes, then each
		// key, type and value, then each tensor's name, dims, type, offset.
		hdr := 24 + 28 + 4*33 // "odd" and four 1-D tensors with 1-byte names
		if align != 0 {
			hdr += 33 // general.alignment
		}
		if f.DataOffset != pad(int64(hdr), want) {
			t.Errorf("align %d: data offset %d, want %d", align, f.DataOffset, pad(int64(hdr), want))
		}
		if p := b[hdr:f.DataOffset]; !bytes.Equal(p, make([]byte, len(p))) {
			t.Errorf("align %d: padding before the data is not zeros", align)
		}
		off := uint64(0)
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			if ti.Offset != off {
				t.Errorf("align %d: tensor %s at %d, want %d", align, ti.Name, ti.Offset, off)
			}
			start := f.DataOffset + int64(ti.Offset)
			padded := pad(ti.Size, want)
			if !bytes.Equal(b[start:start+ti.Size], specs[i].Data) {
				t.Errorf("align %d: tensor %s data differs", align, ti.Name)
			}
			if p := b[start+ti.Size : start+padded]; !bytes.Equal(p, make([]byte, len(p))) {
				t.Errorf("align %d: padding after %s is not zeros: %x", align, ti.Name, p)
			}
			off += uint64(padded)
		}
		if int64(len(b)) != f.DataOffset+int64(off) {
			t.Errorf("align %d: file is %d bytes, want %d", align, len(b), f.DataOffset+int64(off))
		}
	}
}

func TestWriteErrors(t *testing.T) {
	f32 := func(name string, n int) TensorSpec {
		return TensorSpec{Name: name, Type: tensor.F32, Shape: []int64{int64(n)}, Data: make([]byte, 4*n)}
	}
	fill := func(n int, err error) func(io.Writer) error {
		return func(w io.Writer) error {
			if _, e := w.Write(make([]byte, n)); e != nil {
				return e
			}
			return err
		}
	}
	errBoom := errors.New("boom")
	cases := []struct {
		name    string
		kvs     []KV
		tensors []TensorSpec
		want    []string
	}{
		{"duplicate key", []KV{NewKV("k", uint8(1)), NewKV("k", "x")}, nil, []string{`duplicate metadata key "k"`}},
		{"duplicate tensor", nil, []TensorSpec{f32("w", 1), f32("w", 2)}, []string{`duplicate tensor name "w"`}},
		{"data too short", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{4}, Data: make([]byte, 15)}}, []string{`tensor "w"`, "15 bytes of data", "needs 16"}},
		{"data too long", nil, []TensorSpec{{Name: "w", Type: tensor.Q8_0, Shape: []int64{32}, Data: make([]byte, 35)}}, []string{`tensor "w"`, "35 bytes", "needs 34"}},
		{"no data", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{4}}}, []string{`tensor "w"`, "exactly one of Data and Fill"}},
		{"data and fill", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{1}, Data: make([]byte, 4), Fill: fill(4, nil)}}, []string{"exactly one of Data and Fill"}},
		{"fill short", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{4}, Fill: fill(12, nil)}}, []string{`tensor "w": wrote 12 bytes, want 16`}},
		{"fill long", nil, []TensorSpec{f32("a", 1), {Name: "w", Type: tensor.F32, Shape: []int64{4}, Fill: fill(17, nil)}}, []string{`tensor "w": wrote 17 bytes, want 16`}},
		{"fill error", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{4}, Fill: fill(8, errBoom)}}, []string{`tensor "w": boom`}},
		{"0 dims", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: nil, Data: make([]byte, 4)}}, []string{`tensor "w": 0 dimensions`}},
		{"5 dims", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{1, 1, 1, 1, 1}, Data: make([]byte, 4)}}, []string{`tensor "w": 5 dimensions`}},
		{"negative dim", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{4, -1}}}, []string{`tensor "w": bad shape [4 -1]`}},
		{"overflow", nil, []TensorSpec{{Name: "w", Type: tensor.F32, Shape: []int64{1 << 32, 1 << 32}}}, []string{`tensor "w": bad shape [4294967296 4294967296]`}},
		{"byte overflow", nil, []TensorSpec{{Name: "w", Type: tensor.F64, Shape: []int64{1 << 61, 2}}}, []string{`tensor "w": byte size of shape [2305843009213693952 2] overflows`}},
		{"block size", nil, []TensorSpec{{Name: "w", Type: tensor.Q4_K, Shape: []int64{32, 8}}}, []string{`tensor "w": row length 32`, "Q4_K block size 256"}},
		{"unknown type", nil, []TensorSpec{{Name: "w", Type: 5, Shape: []int64{32}}}, []string{`tensor "w": unknown type 5`}},
		{"alignment 0", []KV{NewKV("general.alignment", uint32(0))}, nil, []string{"general.alignment", "got 0"}},
		{"alignment 24", []KV{NewKV("general.alignment", uint32(24))}, nil, []string{"general.alignment", "power of two", "got 24"}},
		{"alignment 2 MiB", []KV{NewKV("general.alignment", uint32(1<<21))}, nil, []string{"general.alignment", "got 2097152"}},
		{"alignment type", []KV{NewKV("general.alignment", uint64(32))}, nil, []string{"general.alignment", "uint64"}},
		{"value type mismatch", []KV{{Key: "k", Type: Uint32, Value: "x"}}, nil, []string{`metadata key "k"`, "does not match"}},
		{"unknown value type", []KV{{Key: "k", Type: 99, Value: 1}}, nil, []string{`metadata key "k"`, "unknown value type 99"}},
		{"unknown element type", []KV{{Key: "k", Type: ArrayType, Value: Array{Type: 77}}}, nil, []string{`metadata key "k"`, "unknown array element type 77"}},
		{"element mismatch", []KV{{Key: "k", Type: ArrayType, Value: Array{Uint32, []int32{1}}}}, nil, []string{`metadata key "k"`, "does not match"}},
		{"bytes as int8", []KV{{Key: "k", Type: ArrayType, Value: Array{Int8, []uint8{1}}}}, nil, []string{`metadata key "k"`, "does not match"}},
		{"nested mismatch", []KV{{Key: "k", Type: ArrayType, Value: Array{ArrayType, []string{"x"}}}}, nil, []string{`metadata key "k"`, "does not match"}},
		{"too deep", []KV{NewKV("deep", nest(Array{Uint8, []uint8{1}}, maxNesting+1))}, nil, []string{`metadata key "deep"`, "nested more than 8 deep"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Write(io.Discard, c.kvs, c.tensors)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if c.name == "fill error" && !errors.Is(err, errBoom) {
				t.Errorf("error %v does not wrap Fill's error", err)
			}
		})
	}
}

// TestWriteNilArray: an Array with nil Values is an empty array.
func TestWriteNilArray(t *testing.T) {
	f := mustParse(t, encode(t, []KV{NewKV("a", Array{Type: Uint32}), NewKV("n", Array{Type: ArrayType})}, nil))
	if a := f.KV[0].Value.(Array); a.Type != Uint32 || a.Len() != 0 {
		t.Errorf("nil array read back as %#v", a)
	}
	if a := f.KV[1].Value.(Array); a.Type != ArrayType || a.Len() != 0 {
		t.Errorf("nil nested array read back as %#v", a)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	kvs, specs := smallFile(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.gguf")
	old := []byte("the previous model")
	entries := func() []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}

	// Failures of every kind leave the destination as it was and no
	// temporary file behind.
	failing := map[string][]TensorSpec{
		"fill error": append(append([]TensorSpec{}, specs...), TensorSpec{Name: "bad", Type: tensor.F32, Shape: []int64{1 << 20}, Fill: func(w io.Writer) error {
			w.Write(make([]byte, 1<<21)) // half written, past the buffer
			return errors.New("disk on fire")
		}}),
		"fill short": append(append([]TensorSpec{}, specs...), TensorSpec{Name: "bad", Type: tensor.F32, Shape: []int64{4}, Fill: func(w io.Writer) error {
			_, err := w.Write(make([]byte, 12))
			return err
		}}),
		"duplicate": append(append([]TensorSpec{}, specs...), specs[0]),
	}
	for name, bad := range failing {
		for _, exists := range []bool{true, false} {
			os.Remove(path)
			if exists {
				if err := os.WriteFile(path, old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, kvs, bad); err == nil {
				t.Fatalf("%s: WriteFile succeeded", name)
			}
			got, err := os.ReadFile(path)
			switch {
			case exists && !bytes.Equal(got, old):
				t.Errorf("%s: destination changed to %d bytes (%v)", name, len(got), err)
			case !exists && !os.IsNotExist(err):
				t.Errorf("%s: destination created (%v)", name, err)
			}
			if es := entries(); len(es) != map[bool]int{true: 1, false: 0}[exists] {
				t.Errorf("%s: directory holds %v after a failed write", name, es)
			}
		}
	}

	// Success replaces the file whole and leaves nothing else.
	if err := WriteFile(path, kvs, specs); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, encode(t, kvs, specs)) {
		t.Error("WriteFile content differs from Write")
	}
	if es := entries(); !reflect.DeepEqual(es, []string{"model.gguf"}) {
		t.Errorf("directory holds %v", es)
	}
	// A relative path in the working directory works too.
	t.Chdir(dir)
	if err := WriteFile("rel.gguf", kvs, specs); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.gguf")); err != nil {
		t.Error(err)
	}

	if err := WriteFile(filepath.Join(dir, "no", "such", "dir.gguf"), kvs, specs); err == nil || !strings.Contains(err.Error(), "dir.gguf") {
		t.Errorf("missing directory: %v", err)
	}
}

// TestWriteFileMode: the written file gets the permissions os.WriteFile
// would give it (0666 less the umask), not os.CreateTemp's owner-only 0600.
func TestWriteFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	if err := os.WriteFile(ref, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.gguf")
	if err := WriteFile(path, []KV{NewKV("a", "b")}, nil); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(ref)
	b, _ := os.Stat(path)
	if a.Mode().Perm() != b.Mode().Perm() {
		t.Errorf("WriteFile made mode %v, os.WriteFile %v", b.Mode().Perm(), a.Mode().Perm())
	}
}

func TestNewKV(t *testing.T) {
	cases := []struct {
		v    any
		typ  ValueType
		want any
	}{
		{uint8(1), Uint8, uint8(1)}, {int8(1), Int8, int8(1)}, {uint16(1), Uint16, uint16(1)},
		{int16(1), Int16, int16(1)}, {uint32(1), Uint32, uint32(1)}, {int32(1), Int32, int32(1)},
		{float32(1), Float32, float32(1)}, {true, Bool, true}, {"s", String, "s"},
		{uint64(1), Uint64, uint64(1)}, {int64(1), Int64, int64(1)}, {1.5, Float64, 1.5},
		{7, Int64, int64(7)},
		{[]uint8{1}, ArrayType, Array{Uint8, []uint8{1}}}, {[]int8{1}, ArrayType, Array{Int8, []int8{1}}},
		{[]uint16{1}, ArrayType, Array{Uint16, []uint16{1}}}, {[]int16{1}, ArrayType, Array{Int16, []int16{1}}},
		{[]uint32{1}, ArrayType, Array{Uint32, []uint32{1}}}, {[]int32{1}, ArrayType, Array{Int32, []int32{1}}},
		{[]float32{1}, ArrayType, Array{Float32, []float32{1}}}, {[]bool{true}, ArrayType, Array{Bool, []bool{true}}},
		{[]string{"a"}, ArrayType, Array{String, []string{"a"}}}, {[]uint64{1}, ArrayType, Array{Uint64, []uint64{1}}},
		{[]int64{1}, ArrayType, Array{Int64, []int64{1}}}, {[]float64{1}, ArrayType, Array{Float64, []float64{1}}},
		{Array{ArrayType, []Array{}}, ArrayType, Array{ArrayType, []Array{}}},
	}
	for _, c := range cases {
		kv := NewKV("k", c.v)
		if kv.Key != "k" || kv.Type != c.typ || !reflect.DeepEqual(kv.Value, c.want) {
			t.Errorf("NewKV(%T) = %#v, want type %s value %#v", c.v, kv, c.typ, c.want)
		}
		if a, ok := kv.Value.(Array); ok && a.Len() != 1 && a.Type != ArrayType {
			t.Errorf("NewKV(%T): Len %d", c.v, a.Len())
		}
	}
	for _, bad := range []any{uint(1), []int{1}, nil, struct{}{}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), `"k"`) {
					t.Errorf("NewKV(%T) did not panic naming the key: %v", bad, r)
				}
			}()
			NewKV("k", bad)
		}()
	}
}

func TestTensorSpecSize(t *testing.T) {
	cases := []struct {
		typ   tensor.Type
		shape []int64
		want  int64
	}{
		{tensor.F32, []int64{3, 2}, 24}, {tensor.F16, []int64{5}, 10}, {tensor.Q8_0, []int64{64, 3}, 2 * 34 * 3},
		{tensor.Q4_K, []int64{512, 2}, 4 * 144}, {tensor.Q6_K, []int64{256}, 210}, {tensor.F32, []int64{0, 9}, 0},
		{tensor.IQ4_NL, []int64{32, 1, 1, 2}, 36}, {tensor.MXFP4, []int64{64}, 34},
	}
	for _, c := range cases {
		s := TensorSpec{Name: "w", Type: c.typ, Shape: c.shape}
		if got, err := s.Size(); err != nil || got != c.want {
			t.Errorf("%s %v: size %d, %v; want %d", c.typ, c.shape, got, err, c.want)
		}
	}
}

// TestTensorInfoCounts covers Elements and Rows, including a zero row
// length, where Rows must not divide by zero.
func TestTensorInfoCounts(t *testing.T) {
	for _, c := range []struct {
		shape      []int64
		elems, row int64
	}{{[]int64{4}, 4, 1}, {[]int64{4, 3}, 12, 3}, {[]int64{4, 3, 2, 5}, 120, 30}, {[]int64{0, 7}, 0, 7}, {[]int64{7, 0}, 0, 0}, {nil, 1, 1}} {
		ti := TensorInfo{Shape: c.shape}
		if ti.Elements() != c.elems || ti.Rows() != c.row {
			t.Errorf("%v: %d elements, %d rows; want %d, %d", c.shape, ti.Elements(), ti.Rows(), c.elems, c.row)
		}
	}
}
