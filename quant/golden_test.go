package quant_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// testdata/llamacpp-golden.bin holds what llama.cpp's prebuilt ggml library
// (the one node-llama-cpp ships) computes for every type this package
// supports; testdata/gen_golden.c wrote it and documents the layout. It
// covers what the synth-llama GGUF files cannot: Q4_1, Q5_0, Q5_1, IQ4_NL,
// IQ4_XS and Q8_K quantization, corner-case inputs (zero, constant,
// one-sided, tiny, huge, tied and sparse rows), and dequantization of random
// block bytes, i.e. every bit pattern of quants and scales.

type goldenRecord struct {
	kind    uint32 // 1: quantize the shared input, 2: dequantize data, 3: quantize with an importance matrix
	typ     tensor.Type
	n       int
	data    []byte
	out     []float32 // kind 2
	imatrix []float32 // kind 3
	index   int
}

type golden struct {
	rows, cols int
	input      []float32
	records    []goldenRecord
}

func readGolden(t *testing.T) *golden {
	t.Helper()
	raw, err := os.ReadFile("testdata/llamacpp-golden.bin")
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(raw)
	magic := make([]byte, 8)
	if _, err := r.Read(magic); err != nil || string(magic) != "ONDOQG01" {
		t.Fatalf("bad golden file header %q", magic)
	}
	u32 := func() uint32 {
		var v uint32
		if err := binary.Read(r, binary.LittleEndian, &v); err != nil {
			t.Fatalf("golden file: %v", err)
		}
		return v
	}
	floats := func(n int) []float32 {
		v := make([]float32, n)
		if err := binary.Read(r, binary.LittleEndian, v); err != nil {
			t.Fatalf("golden file: %v", err)
		}
		return v
	}
	g := &golden{rows: int(u32()), cols: int(u32())}
	g.input = floats(g.rows * g.cols)
	nrec := int(u32())
	for i := 0; i < nrec; i++ {
		rec := goldenRecord{kind: u32(), typ: tensor.Type(u32()), n: int(u32()), index: i}
		rec.data = make([]byte, u32())
		if _, err := r.Read(rec.data); err != nil {
			t.Fatalf("golden file: %v", err)
		}
		switch rec.kind {
		case 2:
			rec.out = floats(rec.n)
		case 3:
			rec.imatrix = floats(g.cols)
		}
		g.records = append(g.records, rec)
	}
	if r.Len() != 0 {
		t.Fatalf("golden file: %d trailing bytes", r.Len())
	}
	return g
}

// pending lists the codecs of issue 15 still being written, by direction:
// their golden records are skipped while the type is unsupported, and a
// type that becomes supported must leave the list (the test says so).
var pending = map[string][]tensor.Type{
	"quantize":   {},
	"dequantize": {},
}

// skipPending skips the record of a codec still pending in direction dir,
// and fails once a pending codec is supported.
func skipPending(t *testing.T, dir string, typ tensor.Type, supported bool) {
	t.Helper()
	if !slices.Contains(pending[dir], typ) {
		return
	}
	if supported {
		t.Fatalf("%v %s is supported now: remove it from pending", typ, dir)
	}
	t.Skipf("%v %s not written yet", typ, dir)
}

// TestGoldenQuantize requires byte-identical encodings of the shared input,
// reporting the first differing block of each input row: without an
// importance matrix (kind 1) and with one (kind 3).
func TestGoldenQuantize(t *testing.T) {
	g := readGolden(t)
	seen := map[uint32]int{}
	for _, rec := range g.records {
		if rec.kind != 1 && rec.kind != 3 {
			continue
		}
		seen[rec.kind]++
		name := rec.typ.String()
		if rec.kind == 3 {
			name += "/imatrix"
		}
		t.Run(name, func(t *testing.T) {
			skipPending(t, "quantize", rec.typ, quant.QuantizeSupported(rec.typ))
			got := make([]byte, len(rec.data))
			var err error
			if rec.kind == 3 {
				err = quant.QuantizeWeighted(rec.typ, g.input[:rec.n], rec.imatrix, got)
			} else {
				err = quant.Quantize(rec.typ, g.input[:rec.n], got)
			}
			if err != nil {
				t.Fatal(err)
			}
			rowBytes := len(got) / g.rows
			bs := rec.typ.TypeSize()
			for row := 0; row < g.rows; row++ {
				a := got[row*rowBytes : (row+1)*rowBytes]
				b := rec.data[row*rowBytes : (row+1)*rowBytes]
				for off := 0; off < rowBytes; off += bs {
					if !bytes.Equal(a[off:off+bs], b[off:off+bs]) {
						t.Errorf("input row %d, block %d:\n ours      % x\n llama.cpp % x",
							row, off/bs, a[off:off+bs], b[off:off+bs])
						break
					}
				}
			}
		})
	}
	// 16 older types plus the 7 new ones llama.cpp quantizes without an
	// importance matrix; all 10 new ones with one.
	if seen[1] != 23 || seen[3] != 10 {
		t.Errorf("golden file has %d plain and %d importance-weighted quantize records, want 23 and 10", seen[1], seen[3])
	}
}

// TestGoldenDequantize requires bit-identical decodings of random blocks.
func TestGoldenDequantize(t *testing.T) {
	g := readGolden(t)
	seen := 0
	for _, rec := range g.records {
		if rec.kind != 2 {
			continue
		}
		seen++
		t.Run(rec.typ.String(), func(t *testing.T) {
			skipPending(t, "dequantize", rec.typ, quant.DequantizeSupported(rec.typ))
			got := make([]float32, rec.n)
			if err := quant.Dequantize(rec.typ, rec.data, got); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(rec.out[i]) {
					if bad < 5 {
						t.Errorf("element %d (block %d): ours %s, llama.cpp %s", i, i/rec.typ.BlockSize(),
							bitsString(got[i]), bitsString(rec.out[i]))
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d elements differ", bad, rec.n)
			}
		})
	}
	if seen != 26 {
		t.Errorf("golden file has %d dequantize records, want 26", seen)
	}
}

func bitsString(f float32) string { return fmt.Sprintf("%g [%#08x]", f, math.Float32bits(f)) }
