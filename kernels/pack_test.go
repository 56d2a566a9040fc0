package kernels

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/ondo-ai/ondo/tensor"
)

// TestPackLayout packs random groups and reads every row back through the
// layout's strides, as the wide tiles do: the stored bytes must return.
func TestPackLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for typ, pk := range packings {
		if pk == nil {
			continue
		}
		typ := tensor.Type(typ)
		if err := pk.check(typ); err != nil {
			t.Fatal(err)
		}
		k := portableQKernels[typ]
		for _, nb := range []int{1, 2, 7} {
			w := randWeights(r, typ, pk.rows, nb*typ.BlockSize())
			packed := make([]byte, len(w.Data))
			pk.pack(packed, w.Data, nb)
			var ta tileArgs
			ta.nb = nb
			for i := range pk.rows {
				sc, qo := pk.row(i)
				ta.w[0], ta.ws, ta.wn = unsafe.Pointer(&packed[sc]), pk.blockB, qo
				if got := k.gather(&ta, pk.scaleB); !bytes.Equal(got, w.Row(i)) {
					t.Fatalf("%v, %d blocks: row %d reads back as %x, stored %x", typ, nb, i, got, w.Row(i))
				}
			}
		}
	}
}

// TestPackedMatchesStored checks that a packed matrix computes bit for bit
// what the stored one computes through the portable twins, with every
// table of packed tiles (the twins and the assembly), narrow and wide
// panels, random bytes with hostile scales and activations of extreme
// magnitude; that packing happens once, on first use, and releases the
// original data; and that matrices which cannot be packed are left alone.
func TestPackedMatchesStored(t *testing.T) {
	tables := map[string][64]tileFunc{"go": portablePackedKernels()}
	for name, tab := range asmPackedTables() {
		tables[name] = tab
	}
	for name, tab := range packedVariants {
		tables[name] = tab
	}
	saved := packedKernels
	defer func() { packedKernels = saved }()
	r := rand.New(rand.NewPCG(23, 24))
	for name, tab := range tables {
		packedKernels = tab
		for typ, pt := range tab {
			if pt == nil {
				continue
			}
			typ := tensor.Type(typ)
			bn := typ.BlockSize()
			for _, shape := range [][3]int{{8, 1, 1}, {16, 3, 2}, {24, 9, 5}, {64, 17, 128}, {8, 8, 3}, {40, 1, 64}, {12, 2, 3}} {
				rows, n, cols := shape[0], shape[1], shape[2]*bn
				t.Run(fmt.Sprintf("%s/%v/%dx%d/n=%d", name, typ, rows, cols, n), func(t *testing.T) {
					w := randWeights(r, typ, rows, cols)
					x := randActs(r, n, cols)
					want := make([]float32, n*rows)
					(*Pool)(nil).matmulQ(want, w, x, n, portableQKernels[typ])
					var released [][]byte
					w.SetRelease(func(b []byte) { released = append(released, b) })
					for pass := range 2 {
						got := make([]float32, n*rows)
						NewPool(2).MatMul(got, w, x, n)
						for i := range want {
							if !sameBits(got[i], want[i]) {
								t.Fatalf("pass %d: dst[%d][%d] = %v (%#x), stored %v (%#x)", pass, i/rows, i%rows, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
							}
						}
					}
					if rows%packings[typ].rows != 0 {
						if w.packed != nil || len(released) != 0 {
							t.Fatalf("%d rows: packed anyway (released %d times)", rows, len(released))
						}
						return
					}
					if w.packed == nil || len(released) != 1 || unsafe.SliceData(released[0]) != unsafe.SliceData(w.Data) || len(released[0]) != len(w.Data) {
						t.Fatalf("packed %v, released %d times", w.packed != nil, len(released))
					}
					// GetRow still reads the stored encoding.
					row := make([]float32, cols)
					if err := GetRow(row, w, rows-1); err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
	// Without SetRelease nothing is packed.
	w := randWeights(r, tensor.Q4_0, 8, 64)
	NewPool(1).MatMul(make([]float32, 8), w, randActs(r, 1, 64), 1)
	if w.packed != nil {
		t.Fatal("a matrix without SetRelease was packed")
	}
}

// TestPackedMXFP4Scales checks the packed MXFP4 tiles, whose factors
// e8m0Half[e]·dx are computed rather than looked up, at every scale byte:
// row e of a 256-row matrix has the byte e in all its blocks, so that its
// result depends on that factor alone, against activation rows of every
// magnitude (factors that overflow, and subnormal ones); bit for bit
// against the stored matrix through the portable twin.
func TestPackedMXFP4Scales(t *testing.T) {
	tables := map[string][64]tileFunc{"go": portablePackedKernels()}
	for name, tab := range asmPackedTables() {
		tables[name] = tab
	}
	for name, tab := range packedVariants {
		tables[name] = tab
	}
	saved := packedKernels
	defer func() { packedKernels = saved }()
	r := rand.New(rand.NewPCG(27, 28))
	const rows, nb, n = 256, 3, 14
	cols := nb * 32
	for name, tab := range tables {
		if tab[tensor.MXFP4] == nil {
			continue
		}
		packedKernels = tab
		w := randWeights(r, tensor.MXFP4, rows, cols)
		for i := range rows * nb {
			w.Data[i*17] = byte(i / nb)
		}
		x := randActs(r, n, cols)
		want := make([]float32, n*rows)
		(*Pool)(nil).matmulQ(want, w, x, n, portableQKernels[tensor.MXFP4])
		w.SetRelease(func([]byte) {})
		got := make([]float32, n*rows)
		NewPool(2).MatMul(got, w, x, n)
		if w.packed == nil {
			t.Fatalf("%s: the matrix was not packed", name)
		}
		for i := range want {
			if !sameBits(got[i], want[i]) {
				t.Fatalf("%s: scale byte %d, activation row %d: %v (%#x), stored %v (%#x)", name, i%rows, i/rows, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}

// TestMatrixSlice checks row views and their errors.
func TestMatrixSlice(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	w := randWeights(r, tensor.Q4_0, 24, 64)
	s, err := w.Slice(8, 16)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows != 16 || !bytes.Equal(s.Row(0), w.Row(8)) || !bytes.Equal(s.Row(15), w.Row(23)) {
		t.Fatal("slice rows differ from the matrix's")
	}
	for _, bad := range [][2]int{{-1, 2}, {0, 0}, {20, 5}} {
		if _, err := w.Slice(bad[0], bad[1]); err == nil {
			t.Errorf("Slice(%d, %d) of 24 rows: no error", bad[0], bad[1])
		}
	}
}

// check is a sanity check of a layout: its group record holds rows
// blocks of type t.
func (pk *packing) check(t tensor.Type) error {
	if pk.blockB != pk.rows*t.TypeSize() {
		return fmt.Errorf("kernels: packed %v groups of %d rows need %d bytes per block, layout says %d", t, pk.rows, pk.rows*t.TypeSize(), pk.blockB)
	}
	return nil
}
