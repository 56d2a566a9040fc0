package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/tensor"
)

func TestOpenStories260K(t *testing.T) {
	path := testdata.Path(t, "gguf", "stories260K.gguf")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := os.Stat(path)
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset != 14176 || f.Size() != st.Size() {
		t.Errorf("version %d alignment %d data offset %d size %d, want 3, 32, 14176, %d", f.Version, f.Alignment, f.DataOffset, f.Size(), st.Size())
	}
	if len(f.KV) != 19 || len(f.Tensors) != 48 {
		t.Fatalf("%d keys, %d tensors, want 19, 48", len(f.KV), len(f.Tensors))
	}
	if arch, err := f.Architecture(); err != nil || arch != "llama" {
		t.Errorf("architecture %q, %v", arch, err)
	}
	ints := map[string]int64{
		"llama.block_count": 5, "llama.embedding_length": 64, "llama.feed_forward_length": 172,
		"llama.attention.head_count": 8, "llama.attention.head_count_kv": 4, "llama.context_length": 2048,
		"llama.rope.dimension_count": 8, "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
		"tokenizer.ggml.unknown_token_id": 0, "tokenizer.ggml.padding_token_id": math.MaxUint32,
	}
	for k, want := range ints {
		kv, _ := f.Lookup(k)
		if got, err := f.Int(k); err != nil || got != want || kv.Type != Uint32 {
			t.Errorf("%s = %d (%s), %v; want uint32 %d", k, got, kv.Type, err, want)
		}
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(eps) != 1e-5 {
		t.Errorf("rms eps %v, %v", eps, err)
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(toks) != 512 || toks[0] != "<unk>" || toks[1] != "<s>" || toks[2] != "</s>" {
		t.Errorf("tokens: %d, %v, first %q", len(toks), err, toks[:min(3, len(toks))])
	}
	if s, err := f.Float32s("tokenizer.ggml.scores"); err != nil || len(s) != 512 {
		t.Errorf("scores: %d, %v", len(s), err)
	}
	if a, err := f.Array("tokenizer.ggml.token_type"); err != nil || a.Type != Int32 || a.Len() != 512 {
		t.Errorf("token_type: %v %d, %v", a.Type, a.Len(), err)
	}

	// Tensor infos: names, types, shapes, offsets as llama.cpp wrote them.
	want := []TensorInfo{
		{Name: "token_embd.weight", Type: tensor.F32, Shape: []int64{64, 512}, Offset: 0, Size: 131072},
		{Name: "output_norm.weight", Type: tensor.F32, Shape: []int64{64}, Offset: 131072, Size: 256},
		{Name: "output.weight", Type: tensor.F32, Shape: []int64{64, 512}, Offset: 131328, Size: 131072},
		{Name: "blk.0.attn_q.weight", Type: tensor.F32, Shape: []int64{64, 64}, Offset: 262400, Size: 16384},
		{Name: "blk.0.attn_k.weight", Type: tensor.F32, Shape: []int64{64, 32}, Offset: 278784, Size: 8192},
	}
	for i, w := range want {
		if got := f.Tensors[i]; !reflect.DeepEqual(got, w) {
			t.Errorf("tensor %d = %+v, want %+v", i, got, w)
		}
	}
	down, ok := f.Tensor("blk.4.ffn_down.weight")
	if !ok || !reflect.DeepEqual(down.Shape, []int64{172, 64}) || down.Rows() != 64 || down.Elements() != 172*64 {
		t.Errorf("blk.4.ffn_down.weight: %+v", down)
	}
	var total int64
	var end uint64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		total += ti.Size
		end = max(end, ti.Offset+uint64(ti.Size))
	}
	if total != 1171200 || f.DataOffset+int64(end) != f.Size() {
		t.Errorf("tensor bytes %d, data end %d; want 1171200 ending at the file size %d", total, f.DataOffset+int64(end), f.Size())
	}
	// The data is the file's bytes at DataOffset+Offset.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"token_embd.weight", "blk.2.attn_v.weight", "blk.4.ffn_norm.weight"} {
		ti, _ := f.Tensor(name)
		start := f.DataOffset + int64(ti.Offset)
		if !bytes.Equal(f.TensorData(ti), raw[start:start+ti.Size]) {
			t.Errorf("%s: TensorData differs from the file bytes", name)
		}
	}
	// A norm weight of a trained model is around 1, not garbage.
	norm, _ := f.Tensor("output_norm.weight")
	v := math.Float32frombits(binary.LittleEndian.Uint32(f.TensorData(norm)))
	if !(v > 0.01 && v < 100) {
		t.Errorf("output_norm.weight[0] = %v", v)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenTinyRandomF16(t *testing.T) {
	f, err := Open(testdata.Path(t, "gguf", "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if len(f.Tensors) != 12 {
		t.Errorf("%d tensors, want 12", len(f.Tensors))
	}
	types := map[tensor.Type]int{}
	for _, ti := range f.Tensors {
		types[ti.Type]++
	}
	if types[tensor.F16] == 0 {
		t.Errorf("no F16 tensors: %v", types)
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || !reflect.DeepEqual(emb.Shape, []int64{8, 32000}) || emb.Size != 8*32000*int64(emb.Type.TypeSize()) {
		t.Errorf("token_embd.weight: %+v", emb)
	}
	if toks, err := f.Strings("tokenizer.ggml.tokens"); err != nil || len(toks) != 32000 {
		t.Errorf("tokens: %d, %v", len(toks), err)
	}
}

func TestOpenVocabOnly(t *testing.T) {
	vocabs := map[string]int{"llama-spm": 32000, "phi-3": 32064, "gpt-2": 50257, "starcoder": 49152, "deepseek-coder": 32256, "bert-bge": 30522}
	for name, n := range vocabs {
		f, err := Open(testdata.Path(t, "tokenizer", "ggml-vocab-"+name+".gguf"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		toks, err := f.Strings("tokenizer.ggml.tokens")
		if len(f.Tensors) != 0 || err != nil || len(toks) != n {
			t.Errorf("%s: %d tensors, %d tokens (%v); want 0, %d", name, len(f.Tensors), len(toks), err, n)
		}
		if model, _ := f.String("tokenizer.ggml.model"); model == "gpt2" {
			if m, err := f.Strings("tokenizer.ggml.merges"); err != nil || len(m) == 0 {
				t.Errorf("%s: merges %d, %v", name, len(m), err)
			}
		}
		f.Close()
	}
}

// TestRewriteRealFiles checks the writer against llama.cpp's own files: the
// parsed metadata and tensors written again give the very same bytes.
func TestRewriteRealFiles(t *testing.T) {
	files := [][]string{
		{"gguf", "stories260K.gguf"},
		{"gguf", "llama-2-tiny-random.gguf"},
		{"llamacpp-quant", "synth-llama-Q4_K_M.gguf"},
		{"llamacpp-quant", "synth-llama-Q8_0.gguf"},
		{"tokenizer", "ggml-vocab-gpt-2.gguf"},
	}
	for _, elem := range files {
		b, err := os.ReadFile(testdata.Path(t, elem...))
		if err != nil {
			t.Fatal(err)
		}
		f := mustParse(t, b)
		out := checkParsed(t, b, f)
		if len(f.Tensors) == 0 {
			// llama.cpp does not pad a file without tensors; ours is
			// padded to the alignment with zeros.
			if len(out) != int(pad(int64(len(b)), f.Alignment)) || !bytes.Equal(out[:len(b)], b) || bytes.Count(out[len(b):], []byte{0}) != len(out)-len(b) {
				t.Errorf("%s: re-written file differs beyond padding (%d vs %d bytes)", elem[1], len(out), len(b))
			}
			continue
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: re-written file differs (%d vs %d bytes)", elem[1], len(out), len(b))
		}
	}
}

func TestReadVersion2(t *testing.T) {
	b, err := os.ReadFile(testdata.Path(t, "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	v3 := mustParse(t, b)
	b2 := bytes.Clone(b)
	binary.LittleEndian.PutUint32(b2[4:], 2)
	v2 := mustParse(t, b2)
	if v2.Version != 2 || !reflect.DeepEqual(v2.KV, v3.KV) || !reflect.DeepEqual(v2.Tensors, v3.Tensors) || v2.DataOffset != v3.DataOffset {
		t.Errorf("version 2 file parses differently from version 3")
	}
}

// TestReadHandBuilt reads a file made without the writer, one value of every
// type, and checks each value exactly.
func TestReadHandBuilt(t *testing.T) {
	for _, version := range []uint32{2, 3} {
		r := newRaw().header(version, 2, 17)
		r.kv("u8", Uint8).u8(200)
		r.kv("i8", Int8).u8(0x80)
		r.kv("u16", Uint16).bytes(0x34, 0x12)
		r.kv("i16", Int16).bytes(0xfe, 0xff)
		r.kv("u32", Uint32).u32(0xdeadbeef)
		r.kv("i32", Int32).u32(0x80000000)
		r.kv("f32", Float32).u32(math.Float32bits(-1.5))
		r.kv("t", Bool).u8(1)
		r.kv("f", Bool).u8(0)
		r.kv("s", String).str("안녕 ▁world")
		r.kv("u64", Uint64).u64(math.MaxUint64)
		r.kv("i64", Int64).u64(1 << 63)
		r.kv("f64", Float64).u64(math.Float64bits(math.Inf(-1)))
		r.kv("strs", ArrayType).u32(uint32(String)).u64(3).str("").str("a").str("한국어")
		r.kv("i16s", ArrayType).u32(uint32(Int16)).u64(2).bytes(1, 0, 0xff, 0xff)
		// [[1, 2], [], [[true]]] as nested arrays.
		r.kv("nested", ArrayType).u32(uint32(ArrayType)).u64(3)
		r.u32(uint32(Uint32)).u64(2).u32(1).u32(2)
		r.u32(uint32(Float64)).u64(0)
		r.u32(uint32(ArrayType)).u64(1).u32(uint32(Bool)).u64(1).u8(1)
		r.kv("general.alignment", Uint32).u32(64)
		r.tensor("a", tensor.F32, 0, 2, 3)
		r.tensor("b", tensor.Q8_0, 64, 32)
		header := len(r.b)
		r.pad(64, 64+34)
		f := mustParse(t, r.b)
		want := map[string]any{
			"u8": uint8(200), "i8": int8(-128), "u16": uint16(0x1234), "i16": int16(-2),
			"u32": uint32(0xdeadbeef), "i32": int32(math.MinInt32), "f32": float32(-1.5),
			"t": true, "f": false, "s": "안녕 ▁world", "u64": uint64(math.MaxUint64),
			"i64": int64(math.MinInt64), "f64": math.Inf(-1),
			"strs":              Array{String, []string{"", "a", "한국어"}},
			"i16s":              Array{Int16, []int16{1, -1}},
			"nested":            Array{ArrayType, []Array{{Uint32, []uint32{1, 2}}, {Float64, []float64{}}, {ArrayType, []Array{{Bool, []bool{true}}}}}},
			"general.alignment": uint32(64),
		}
		if f.Version != version || len(f.KV) != len(want) {
			t.Fatalf("version %d, %d keys", f.Version, len(f.KV))
		}
		for _, kv := range f.KV {
			if !reflect.DeepEqual(kv.Value, want[kv.Key]) {
				t.Errorf("v%d %s = %#v, want %#v", version, kv.Key, kv.Value, want[kv.Key])
			}
			if typ, _ := typeOf(want[kv.Key]); kv.Type != typ {
				t.Errorf("%s has type %s, want %s", kv.Key, kv.Type, typ)
			}
		}
		if f.Alignment != 64 || f.DataOffset != pad(int64(header), 64) {
			t.Errorf("alignment %d, data offset %d; want 64, %d", f.Alignment, f.DataOffset, pad(int64(header), 64))
		}
		wantT := []TensorInfo{
			{Name: "a", Type: tensor.F32, Shape: []int64{2, 3}, Offset: 0, Size: 24},
			{Name: "b", Type: tensor.Q8_0, Shape: []int64{32}, Offset: 64, Size: 34},
		}
		if !reflect.DeepEqual(f.Tensors, wantT) {
			t.Errorf("tensors %+v, want %+v", f.Tensors, wantT)
		}
		checkParsed(t, r.b, f)
	}
}

func TestDataOffset(t *testing.T) {
	// Default alignment 32: the data section starts at the next multiple.
	r := newRaw().header(3, 1, 0).tensor("w", tensor.F32, 0, 4)
	hdr := len(r.b) // 24 + 8+1 + 4 + 8 + 4 + 8 = 57
	r.pad(32, 16)
	f := mustParse(t, r.b)
	if hdr != 57 || f.Alignment != DefaultAlignment || f.DataOffset != 64 {
		t.Errorf("header %d, alignment %d, data offset %d; want 57, 32, 64", hdr, f.Alignment, f.DataOffset)
	}
	// Alignment 1 means no padding at all.
	r = newRaw().header(3, 1, 1)
	r.kv("general.alignment", Uint32).u32(1)
	r.tensor("w", tensor.F32, 0, 1)
	hdr = len(r.b)
	r.bytes(1, 2, 3, 4)
	f = mustParse(t, r.b)
	if f.DataOffset != int64(hdr) || !bytes.Equal(f.TensorData(&f.Tensors[0]), []byte{1, 2, 3, 4}) {
		t.Errorf("alignment 1: data offset %d want %d", f.DataOffset, hdr)
	}
	// A file without tensors may end right after its header.
	r = newRaw().header(3, 0, 1)
	r.kv("k", Uint8).u8(1)
	f = mustParse(t, r.b)
	if len(f.Tensors) != 0 || f.DataOffset != pad(int64(len(r.b)), 32) {
		t.Errorf("no tensors: data offset %d", f.DataOffset)
	}
}

// TestZeroSizeTensors: tensors with a zero dimension take no bytes and may
// share an offset with the tensor that follows, as the writer places them.
func TestZeroSizeTensors(t *testing.T) {
	var specs []TensorSpec
	for i := range 40 {
		specs = append(specs, TensorSpec{Name: "empty" + string(rune('A'+i)), Type: tensor.F32, Shape: []int64{0, 3}})
		specs = append(specs, TensorSpec{Name: "full" + string(rune('A'+i)), Type: tensor.F32, Shape: []int64{8}, Data: make([]byte, 32)})
	}
	specs = append(specs, TensorSpec{Name: "zero-rows", Type: tensor.Q4_K, Shape: []int64{256, 0}})
	b := encode(t, nil, specs)
	f := mustParse(t, b)
	e, _ := f.Tensor("emptyA")
	if e.Size != 0 || e.Elements() != 0 || e.Rows() != 3 || len(f.TensorData(e)) != 0 {
		t.Errorf("emptyA: %+v rows %d", e, e.Rows())
	}
	checkParsed(t, b, f)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.gguf")
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: %v", err)
	}
	empty := filepath.Join(dir, "empty.gguf")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty); err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "empty.gguf") {
		t.Errorf("empty file: %v", err)
	}
	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGML\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), 0o644)
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), `bad magic "GGML"`) || !strings.Contains(err.Error(), "bad.gguf") {
		t.Errorf("bad magic: %v", err)
	}
}

// TestHostile feeds broken and malicious files to the reader. Each must be
// refused with an error naming the problem and the offending value.
func TestHostile(t *testing.T) {
	h := func(tensors, kvs uint64) *raw { return newRaw().header(3, tensors, kvs) }
	be := func() *raw {
		r := &raw{order: binary.BigEndian}
		r.b = append(r.b, Magic...)
		return r
	}
	// one tensor "w" with the given type, offset and dims, and n data bytes.
	ten := func(typ tensor.Type, off uint64, n int, dims ...uint64) []byte {
		return h(1, 0).tensor("w", typ, off, dims...).pad(32, n).b
	}
	align := func(t ValueType, v func(*raw)) []byte {
		r := h(0, 1).kv("general.alignment", t)
		v(r)
		return r.b
	}
	nested := func(depth int) []byte {
		r := h(0, 1).kv("deep", ArrayType)
		for range depth - 1 {
			r.u32(uint32(ArrayType)).u64(1)
		}
		return r.u32(uint32(Uint8)).u64(1).u8(7).b
	}
	const long = "blk.0.attn_q.weight" // long enough to pass the tensor count check
	cases := []struct {
		name string
		b    []byte
		want []string
	}{
		{"empty", nil, []string{"truncated", "header"}},
		{"short", []byte("GGU"), []string{"truncated"}},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), []string{`bad magic "GGML"`, "not a GGUF file"}},
		{"lowercase magic", []byte("gguf\x03\x00\x00\x00"), []string{`bad magic "gguf"`}},
		{"zeros", make([]byte, 64), []string{`bad magic "\x00\x00\x00\x00"`}},
		{"version 1", newRaw().header(1, 0, 0).b, []string{"version 1", "not supported"}},
		{"version 0", newRaw().header(0, 0, 0).b, []string{"unknown GGUF version 0"}},
		{"version 4", newRaw().header(4, 0, 0).b, []string{"unknown GGUF version 4"}},
		{"version max", newRaw().header(math.MaxUint32, 0, 0).b, []string{"unknown GGUF version 4294967295"}},
		{"big-endian v3", be().u32(3).u64(0).u64(0).b, []string{"big-endian", "0x03000000"}},
		{"big-endian v2", be().u32(2).u64(1).u64(1).b, []string{"big-endian", "0x02000000"}},
		{"no counts", newRaw().bytes('G', 'G', 'U', 'F', 3, 0, 0, 0, 1).b, []string{"truncated", "tensor count"}},
		{"no kv count", newRaw().bytes('G', 'G', 'U', 'F', 3, 0, 0, 0).u64(0).u32(0).b, []string{"truncated", "metadata count"}},
		{"tensor count", h(1<<40, 0).b, []string{"tensor count 1099511627776", "larger than the rest of the file"}},
		{"tensor count max", h(math.MaxUint64, 0).b, []string{"tensor count 18446744073709551615"}},
		{"kv count", h(0, 1<<62).b, []string{"metadata count 4611686018427387904", "larger than the rest"}},
		{"kv count 2", h(0, 2).kv("a", Uint8).u8(1).b, []string{"metadata count 2", "larger than the rest"}},
		{"kv missing", h(0, 2).kv("a", Uint8).u8(1).bytes(make([]byte, 12)...).b, []string{"truncated", `value of ""`}},
		{"key length", h(0, 1).u64(1000).bytes(make([]byte, 13)...).b, []string{"metadata key 0 length 1000", "larger than the rest of the file (13 bytes)"}},
		{"key length max", h(0, 1).u64(math.MaxUint64).u64(0).b, []string{"length 18446744073709551615"}},
		{"no type", h(0, 1).str("abcde").b, []string{"truncated", `type of "abcde"`}},
		{"string length", h(0, 1).kv("name", String).u64(1 << 33).str("x").b, []string{`value of "name" length 8589934592`, "larger than the rest"}},
		{"array count", h(0, 1).kv("arr", ArrayType).u32(uint32(Uint32)).u64(1 << 30).u32(1).b, []string{`"arr"`, "array count 1073741824", "larger than the rest"}},
		{"array count max", h(0, 1).kv("arr", ArrayType).u32(uint32(Uint64)).u64(math.MaxUint64).b, []string{"array count 18446744073709551615"}},
		{"string array count", h(0, 1).kv("tokens", ArrayType).u32(uint32(String)).u64(5).str("a").str("b").b, []string{`"tokens"`, "array count 5", "larger than the rest"}},
		{"string array element", h(0, 1).kv("tokens", ArrayType).u32(uint32(String)).u64(2).str("a").u64(77).u64(0).b, []string{`"tokens" element 1 length 77`}},
		{"nested array count", h(0, 1).kv("nest", ArrayType).u32(uint32(ArrayType)).u64(1 << 40).b, []string{"array count 1099511627776"}},
		{"nested inner count", h(0, 1).kv("nest", ArrayType).u32(uint32(ArrayType)).u64(1).u32(uint32(Int64)).u64(3).u64(1).b, []string{`"nest"`, "array count 3"}},
		{"nested too deep", nested(9), []string{`"deep"`, "nested more than 8 deep"}},
		{"unknown value type", h(0, 1).kv("k", 13).u64(0).b, []string{`"k"`, "unknown value type 13"}},
		{"unknown value type max", h(0, 1).kv("k", math.MaxUint32).b, []string{"unknown value type 4294967295"}},
		{"unknown element type", h(0, 1).kv("k", ArrayType).u32(42).u64(0).b, []string{`"k"`, "unknown array element type 42"}},
		{"bool byte", h(0, 1).kv("flag", Bool).u8(2).b, []string{`"flag"`, "bool byte 2"}},
		{"bool array byte", h(0, 1).kv("flags", ArrayType).u32(uint32(Bool)).u64(3).bytes(0, 1, 0xff).b, []string{`"flags"`, "bool byte 255 at index 2"}},
		{"truncated scalar", h(0, 1).kv("n", Uint64).bytes(1, 2, 3).b, []string{"truncated", `value of "n"`, "needs 8 bytes"}},
		{"duplicate key", h(0, 2).kv("dup", Uint8).u8(1).kv("dup", String).str("x").b, []string{`duplicate metadata key "dup"`}},
		{"alignment 0", align(Uint32, func(r *raw) { r.u32(0) }), []string{"general.alignment 0"}},
		{"alignment 48", align(Uint32, func(r *raw) { r.u32(48) }), []string{"general.alignment 48", "power of two"}},
		{"alignment 2 MiB", align(Uint32, func(r *raw) { r.u32(1 << 21) }), []string{"general.alignment 2097152"}},
		{"alignment type", align(Uint64, func(r *raw) { r.u64(32) }), []string{"general.alignment has type uint64"}},
		{"alignment string", align(String, func(r *raw) { r.str("32") }), []string{"general.alignment has type string"}},
		{"tensor name length", h(1, 0).u64(1 << 50).u64(0).u64(0).b, []string{"tensor 0 name length 1125899906842624"}},
		{"no dims", h(1, 0).str(long).b, []string{"truncated", `tensor "` + long + `" dimension count`}},
		{"truncated dim", h(1, 0).str(long).u32(2).u64(4).b, []string{"truncated", `tensor "` + long + `" dimension 1`}},
		{"truncated type", h(1, 0).str(long).u32(1).u64(4).b, []string{"truncated", `tensor "` + long + `" type`}},
		{"truncated offset", h(1, 0).str(long).u32(1).u64(4).u32(0).bytes(0, 0).b, []string{"truncated", `tensor "` + long + `" offset`}},
		{"5 dims", ten(tensor.F32, 0, 4, 1, 1, 1, 1, 1), []string{`tensor "w" has 5 dimensions`, "at most 4"}},
		{"many dims", h(1, 0).str(long).u32(math.MaxUint32).b, []string{`tensor "` + long + `" has 4294967295 dimensions`}},
		{"0 dims", ten(tensor.F32, 0, 4), []string{`tensor "w" has 0 dimensions`}},
		{"retired type", ten(4, 0, 32, 32), []string{`tensor "w" has unknown type 4`}},
		{"unknown type", ten(1000, 0, 32, 32), []string{`tensor "w" has unknown type 1000`}},
		{"element overflow", ten(tensor.F32, 0, 32, 1<<32, 1<<32), []string{`tensor "w"`, "overflows the element count", "[4294967296 4294967296]"}},
		{"element overflow 4d", ten(tensor.I8, 0, 32, 1<<16, 1<<16, 1<<16, 1<<16), []string{"overflows the element count", "[65536 65536 65536 65536]"}},
		{"dim beyond int64", ten(tensor.F32, 0, 32, 1<<63), []string{`tensor "w": dimension 0 is 9223372036854775808`}},
		{"byte size overflow", ten(tensor.F64, 0, 32, 1<<61, 2), []string{`tensor "w"`, "byte size", "[2305843009213693952 2]", "overflows"}},
		{"block size", ten(tensor.Q4_0, 0, 32, 33), []string{`tensor "w"`, "row length 33", "Q4_0 block size 32"}},
		{"k-quant block size", ten(tensor.Q4_K, 0, 288, 64, 2), []string{"row length 64", "Q4_K block size 256"}},
		{"data outside", ten(tensor.F32, 0, 16, 8), []string{`tensor "w": data [0, 32) lies outside the file`, "16 bytes"}},
		{"offset outside", ten(tensor.F32, 1<<40, 64, 4), []string{`tensor "w"`, "[1099511627776, 1099511627792)", "outside the file"}},
		{"offset wraps", ten(tensor.F32, math.MaxUint64-31, 64, 4), []string{`tensor "w"`, "outside the file"}},
		{"misaligned", ten(tensor.F32, 4, 64, 4), []string{`tensor "w": offset 4 is not a multiple of the alignment 32`}},
		{"misaligned 64", func() []byte {
			r := h(1, 1).kv("general.alignment", Uint32).u32(64)
			return r.tensor("w", tensor.F32, 32, 4).pad(64, 128).b
		}(), []string{`tensor "w": offset 32 is not a multiple of the alignment 64`}},
		{"overlap", h(2, 0).tensor("a", tensor.F32, 0, 16).tensor("b", tensor.F32, 32, 16).pad(32, 128).b, []string{`tensor "b" at offset 32 overlaps tensor "a" which ends at 64`}},
		{"same offset", h(2, 0).tensor("a", tensor.F32, 64, 4).tensor("b", tensor.F32, 64, 4).pad(32, 128).b, []string{"overlaps tensor", "ends at 80"}},
		{"overlap after empty", h(3, 0).tensor("a", tensor.F32, 0, 16).tensor("e", tensor.F32, 32, 0).tensor("b", tensor.F32, 32, 8).pad(32, 128).b, []string{`tensor "b" at offset 32 overlaps tensor "a"`}},
		{"duplicate tensor", h(2, 0).tensor("w", tensor.F32, 0, 4).tensor("w", tensor.F32, 32, 4).pad(32, 64).b, []string{`duplicate tensor name "w"`}},
		{"data section beyond file", h(1, 0).tensor("w", tensor.F32, 0, 0).b, []string{"truncated", "data section starts at 64", "file size 57"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse(c.b)
			if err == nil {
				t.Fatalf("parsed without error: %d keys, %d tensors", len(f.KV), len(f.Tensors))
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "gguf: ") {
				t.Errorf("error %q does not start with gguf:", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// smallFile is a valid file using every metadata type and a few tensors.
func smallFile(tb testing.TB) ([]KV, []TensorSpec) {
	kvs := allTypesKV()
	specs := []TensorSpec{
		{Name: "a", Type: tensor.F32, Shape: []int64{3, 2}, Data: seq(24)},
		{Name: "b", Type: tensor.Q8_0, Shape: []int64{32, 2}, Data: seq(68)},
		{Name: "c", Type: tensor.F16, Shape: []int64{5}, Data: seq(10)},
	}
	return kvs, specs
}

// TestTruncated cuts a valid file at every byte up to the end of its last
// tensor: every cut must fail with an error that says what is missing.
func TestTruncated(t *testing.T) {
	kvs, specs := smallFile(t)
	b := encode(t, kvs, specs)
	f := mustParse(t, b)
	var end int64
	for i := range f.Tensors {
		end = max(end, f.DataOffset+int64(f.Tensors[i].Offset)+f.Tensors[i].Size)
	}
	for n := range int(end) {
		_, err := Parse(b[:n])
		if err == nil {
			t.Fatalf("cut at %d of %d parsed", n, end)
		}
		msg := err.Error()
		if !strings.Contains(msg, "truncated") && !strings.Contains(msg, "larger than the rest of the file") && !strings.Contains(msg, "outside the file") {
			t.Errorf("cut at %d: error %q does not say the file is short", n, msg)
		}
	}
	// Past the last tensor only padding is missing: still valid.
	for n := int(end); n <= len(b); n++ {
		if _, err := Parse(b[:n]); err != nil {
			t.Errorf("cut at %d (data ends at %d): %v", n, end, err)
		}
	}
}

// TestBitFlips corrupts bytes of headers one at a time. Many corruptions
// still parse; none may panic, and whatever parses must hold the reader's
// invariants and survive a write/read round trip.
func TestBitFlips(t *testing.T) {
	kvs, specs := smallFile(t)
	kvs = slices.DeleteFunc(kvs, func(kv KV) bool { return kv.Key == "str.long" })
	small := encode(t, kvs, specs)
	f := mustParse(t, small)
	flip(t, small, 0, int(f.DataOffset), []byte{0xff, 0x01, 0x80}, 1)

	// stories260K: the metadata head and the tensor infos, where counts,
	// lengths, types, dims and offsets live (not the 512 token strings).
	b, err := os.ReadFile(testdata.Path(t, "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f = mustParse(t, b)
	infos := bytes.Index(b, []byte("token_embd.weight")) - 8
	if infos < 0 || infos > int(f.DataOffset) {
		t.Fatalf("tensor infos not found")
	}
	flip(t, b, 0, 1024, []byte{0xff, 0x01}, 64)
	flip(t, b, infos, int(f.DataOffset), []byte{0xff, 0x01, 0x80}, 64)
}

// flip xors each byte of b[from:to] with each of xs in turn and parses the
// result, checking every check-th file that parses in full.
func flip(t *testing.T, b []byte, from, to int, xs []byte, check int) {
	t.Helper()
	c := bytes.Clone(b)
	failed, parsed := 0, 0
	for i := from; i < to; i++ {
		for _, x := range xs {
			c[i] ^= x
			g, err := Parse(c)
			if err != nil {
				failed++
				if !strings.HasPrefix(err.Error(), "gguf: ") || strings.Contains(err.Error(), "\n") {
					t.Errorf("flip %#x at %d: error %q", x, i, err)
				}
			} else {
				if parsed%check == 0 {
					checkParsed(t, c, g)
				}
				parsed++
			}
			c[i] = b[i]
		}
	}
	t.Logf("bytes [%d, %d): %d corruptions refused, %d parsed", from, to, failed, parsed)
	if failed == 0 || parsed == 0 {
		t.Errorf("%d refused, %d parsed: expected both", failed, parsed)
	}
}
