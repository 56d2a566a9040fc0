package gguf

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// FuzzParse feeds arbitrary bytes to the reader. It must never panic, its
// errors must be one line naming the package, and every file it accepts must
// hold the reader's invariants (tensor data inside the buffer, views not
// copies, no overlaps) and survive a write/read round trip.
//
//	go test ./gguf -run XXX -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	for _, elem := range [][]string{
		{"gguf", "stories260K.gguf"},
		{"gguf", "llama-2-tiny-random.gguf"},
		{"tokenizer", "ggml-vocab-bert-bge.gguf"},
	} {
		if b := sharedBytes(f, elem...); b != nil {
			f.Add(b)
		}
	}
	for _, b := range handSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a file and the error %v", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "gguf: ") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("error %q is not one line starting with gguf:", msg)
			}
			return
		}
		checkParsed(t, data, file)
	})
}

// handSeeds returns small files covering every value type, alignments,
// empty tensors, nesting, version 2, and broken variants of them.
func handSeeds(tb testing.TB) [][]byte {
	kvs, specs := smallFile(tb)
	kvs = slices.DeleteFunc(kvs, func(kv KV) bool { return kv.Key == "str.long" })
	full := encode(tb, kvs, specs)
	v2 := slices.Clone(full)
	binary.LittleEndian.PutUint32(v2[4:], 2)
	seeds := [][]byte{
		full, v2,
		encode(tb, nil, nil),
		encode(tb, []KV{NewKV("general.alignment", uint32(64)), NewKV("s", "x")}, []TensorSpec{
			{Name: "a", Type: tensor.Q4_0, Shape: []int64{32, 2}, Data: seq(36)},
			{Name: "b", Type: tensor.F32, Shape: []int64{1}, Data: seq(4)},
		}),
		encode(tb, []KV{NewKV("general.alignment", uint32(1))}, []TensorSpec{
			{Name: "a", Type: tensor.I8, Shape: []int64{3}, Data: seq(3)},
			{Name: "b", Type: tensor.I16, Shape: []int64{1, 1, 1, 1}, Data: seq(2)},
		}),
		encode(tb, nil, []TensorSpec{
			{Name: "e", Type: tensor.F32, Shape: []int64{0, 4}},
			{Name: "f", Type: tensor.Q6_K, Shape: []int64{256}, Data: seq(210)},
		}),
		encode(tb, []KV{NewKV("deep", nest(Array{String, []string{"x"}}, maxNesting)), NewKV("b", []bool{true, false})}, nil),
		nil,
		[]byte(Magic),
		newRaw().header(3, 0, 0).b,
		(&raw{order: binary.BigEndian}).bytes('G', 'G', 'U', 'F').u32(3).u64(0).u64(0).b,
	}
	for _, cut := range []int{len(full) / 4, len(full) / 2, len(full) - 40, len(full) - 1} {
		seeds = append(seeds, full[:cut])
	}
	return seeds
}
