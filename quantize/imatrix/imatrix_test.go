package imatrix

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tensor"
)

// sample is a small matrix: a plain weight, a stack of three experts of
// which the second saw no activations, and counts chosen so that both
// forms give exactly the same weights (a power-of-two call count).
func sample() map[string]Stats {
	return map[string]Stats{
		"blk.0.attn_q.weight":        {Sums: []float32{1, 2, 3, 4, 5, 6, 7, 8}, Counts: []int64{1024}},
		"blk.0.ffn_down_exps.weight": {Sums: []float32{8, 16, 9, 9, 3, 300}, Counts: []int64{512, 0, 96}},
	}
}

var sampleWeights = map[string][]float32{
	"blk.0.attn_q.weight":        {1.0 / 1024, 2.0 / 1024, 3.0 / 1024, 4.0 / 1024, 5.0 / 1024, 6.0 / 1024, 7.0 / 1024, 8.0 / 1024},
	"blk.0.ffn_down_exps.weight": {8.0 / 512, 16.0 / 512, 1, 1, float32(3) / 96, float32(300) / 96},
}

func encode(t testing.TB, stats map[string]Stats, dat bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if dat {
		err = WriteDat(&b, stats, "wiki.train.raw", 7, 512)
	} else {
		err = WriteGGUF(&b, stats, []string{"wiki.train.raw"}, 7, 512)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBothForms(t *testing.T) {
	for _, dat := range []bool{false, true} {
		m, err := Parse(encode(t, sample(), dat))
		if err != nil {
			t.Fatalf("dat=%v: %v", dat, err)
		}
		if m.Legacy != dat || m.Chunks != 7 || !slices.Equal(m.Datasets, []string{"wiki.train.raw"}) {
			t.Errorf("dat=%v: legacy %v, chunks %d, datasets %q", dat, m.Legacy, m.Chunks, m.Datasets)
		}
		if len(m.Entries) != len(sampleWeights) {
			t.Errorf("dat=%v: %d entries", dat, len(m.Entries))
		}
		for name, want := range sampleWeights {
			if got := m.Entries[name]; !slices.Equal(got, want) {
				t.Errorf("dat=%v: %s = %v, want %v", dat, name, got, want)
			}
		}
		w, ok, err := m.Lookup("blk.0.ffn_down_exps.weight", 2, 3)
		if !ok || err != nil || len(w) != 6 {
			t.Errorf("Lookup experts: %v %v %v", w, ok, err)
		}
		if _, ok, err := m.Lookup("blk.0.ffn_down_exps.weight", 2, 1); !ok || err == nil || !strings.Contains(err.Error(), "size 6 is different from tensor size 2") {
			t.Errorf("Lookup wrong size: %v %v", ok, err)
		}
		if _, ok, err := m.Lookup("output.weight", 2, 1); ok || err != nil {
			t.Errorf("Lookup missing: %v %v", ok, err)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.dat")
	if err := os.WriteFile(path, encode(t, sample(), true), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil || m.Path != path {
		t.Fatalf("Load: %v, path %q", err, m.Path)
	}
	if _, err := Load(path + ".missing"); err == nil {
		t.Error("missing file loaded")
	}
}

// TestLegacyDetails: the trailer is optional, names end at a NUL, a later
// entry replaces an earlier one of the same name, and a call count of 0
// leaves the values as they are.
func TestLegacyDetails(t *testing.T) {
	var b bytes.Buffer
	put := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	put(int32(2))
	put(int32(5))
	b.WriteString("a\x00bcd")
	put(int32(0))
	put(int32(1))
	put(float32(3))
	put(int32(1))
	b.WriteString("a")
	put(int32(4))
	put(int32(2))
	put([]float32{8, 2})
	m, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Entries["a"], []float32{2, 0.5}) || len(m.Entries) != 1 || m.Chunks != 0 || m.Datasets != nil {
		t.Errorf("got %v, chunks %d, datasets %q", m.Entries, m.Chunks, m.Datasets)
	}
}

func ggufFile(t *testing.T, kvs []gguf.KV, specs []gguf.TensorSpec) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gguf.Write(&b, kvs, specs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestErrors(t *testing.T) {
	good := encode(t, sample(), true)
	meta := []gguf.KV{gguf.NewKV("imatrix.datasets", []string{"x"}), gguf.NewKV("imatrix.chunk_count", uint32(1)), gguf.NewKV("imatrix.chunk_size", uint32(512))}
	f32 := func(name string, shape []int64, v ...float32) gguf.TensorSpec {
		return gguf.TensorSpec{Name: name, Type: tensor.F32, Shape: shape, Data: f32bytes(v)}
	}
	var negLen, negVal, nanVal bytes.Buffer
	binary.Write(&negLen, binary.LittleEndian, []int32{1, -4})
	for _, b := range []*bytes.Buffer{&negVal, &nanVal} {
		binary.Write(b, binary.LittleEndian, []int32{1, 1})
		b.WriteByte('a')
		binary.Write(b, binary.LittleEndian, []int32{1, 1})
	}
	binary.Write(&negVal, binary.LittleEndian, float32(-1))
	binary.Write(&nanVal, binary.LittleEndian, float32(math.NaN()))
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"not a matrix", []byte("hello world, not a matrix"), "not an importance matrix"},
		{"short", []byte{1, 0}, "not an importance matrix"},
		{"truncated values", good[:40], "legacy .dat file: truncated: entry 1 of 2 (blk.0.attn_q.weight): 8 values at byte 35 needs 32 bytes, 5 left"},
		{"truncated trailer", good[:len(good)-3], "legacy .dat file: truncated: the dataset name"},
		{"negative name length", negLen.Bytes(), "negative name length"},
		{"negative value", negVal.Bytes(), "negative value -1"},
		{"NaN", nanVal.Bytes(), "non-finite value NaN"},
		{"bad GGUF", []byte("GGUF\x03\x00\x00\x00"), "imatrix: gguf"},
		{"no metadata", ggufFile(t, meta[1:], []gguf.TensorSpec{f32("a.in_sum2", []int64{1, 1}, 1), f32("a.counts", []int64{1, 1}, 1)}), "missing imatrix metadata: no imatrix.datasets"},
		{"no tensors", ggufFile(t, meta, nil), "no data"},
		{"unpaired", ggufFile(t, meta, []gguf.TensorSpec{f32("a.in_sum2", []int64{1, 1}, 1)}), "mismatched sums and counts for a"},
		{"F16 sums", ggufFile(t, meta, []gguf.TensorSpec{{Name: "a.in_sum2", Type: tensor.F16, Shape: []int64{1}, Data: []byte{0, 0x3c}}, f32("a.counts", []int64{1}, 1)}), "must be F32"},
		{"sums not per count", ggufFile(t, meta, []gguf.TensorSpec{f32("a.in_sum2", []int64{3}, 1, 2, 3), f32("a.counts", []int64{2}, 1, 1)}), "not a positive multiple of its 2 counts"},
		{"NaN count", ggufFile(t, meta, []gguf.TensorSpec{f32("a.in_sum2", []int64{1}, 1), f32("a.counts", []int64{1}, float32(math.NaN()))}), "not a count"},
		{"infinite sum", ggufFile(t, meta, []gguf.TensorSpec{f32("a.in_sum2", []int64{1}, float32(math.Inf(1))), f32("a.counts", []int64{1}, 1)}), "non-finite value +Inf (a, column 0)"},
		{"no pairs", ggufFile(t, meta, []gguf.TensorSpec{f32("a", []int64{1}, 1)}), "no NAME.in_sum2"},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func FuzzReadImatrix(f *testing.F) {
	f.Add(encode(f, sample(), true))
	f.Add(encode(f, sample(), false))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x80, 0x3f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for name, w := range m.Entries {
			if err := check(name, w); err != nil {
				t.Fatalf("accepted a bad matrix: %v", err)
			}
			if _, ok, err := m.Lookup(name, int64(len(w)), 1); !ok || err != nil {
				t.Fatalf("Lookup(%q): %v %v", name, ok, err)
			}
		}
	})
}
