package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// hostileScales are fp16 block scales that stress the float side of the
// kernels: zero, signed zero, subnormals, the extremes, infinities and NaN.
var hostileScales = []uint16{0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3c00, 0x1400}

// randWeights returns rows×cols weights of type t as random bytes, with
// every fp16 scale field replaced by a plausible value most of the time
// and by a hostile one sometimes: any bit pattern of the quants must give
// the same result in every implementation.
func randWeights(r *rand.Rand, t tensor.Type, rows, cols int) *Matrix {
	return randWeightsHostile(r, t, rows, cols, true)
}

// randWeightsHostile is randWeights, with the hostile scales left out when
// hostile is false.
func randWeightsHostile(r *rand.Rand, t tensor.Type, rows, cols int, hostile bool) *Matrix {
	size, _ := t.RowSize(int64(rows * cols))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	bs := t.TypeSize()
	var fp16Offs []int
	switch t {
	case tensor.Q4_0, tensor.Q8_0, tensor.Q5_0, tensor.IQ4_NL:
		fp16Offs = []int{0}
	case tensor.Q4_1, tensor.Q5_1, tensor.Q4_K, tensor.Q5_K:
		fp16Offs = []int{0, 2}
	case tensor.Q6_K:
		fp16Offs = []int{208}
	case tensor.Q2_K:
		fp16Offs = []int{80, 82}
	case tensor.Q3_K:
		fp16Offs = []int{108}
	case tensor.IQ4_XS, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S:
		fp16Offs = []int{0}
	case tensor.TQ1_0:
		fp16Offs = []int{52}
	case tensor.TQ2_0:
		fp16Offs = []int{64}
	}
	scale := func() uint16 {
		if hostile && r.IntN(16) == 0 {
			return hostileScales[r.IntN(len(hostileScales))]
		}
		return quant.Float32ToFP16(float32(r.NormFloat64() * math.Ldexp(1, r.IntN(20)-14)))
	}
	for b := 0; b+bs <= len(data); b += bs {
		for _, o := range fp16Offs {
			binary.LittleEndian.PutUint16(data[b+o:], scale())
		}
		switch t {
		case tensor.IQ1_M:
			// The fp16 scale is split over the top nibbles of the four
			// scale words (@48), least significant first.
			h := scale()
			for w := range 4 {
				u := binary.LittleEndian.Uint16(data[b+48+2*w:])
				binary.LittleEndian.PutUint16(data[b+48+2*w:], u&0x0fff|(h>>(4*w))<<12)
			}
		case tensor.MXFP4:
			// The E8M0 scale byte: usually near 2^0, sometimes at the
			// ends of its range (the subnormal halves 0 and 1, 2^126 and
			// 2^127).
			if hostile && r.IntN(16) == 0 {
				data[b] = []byte{0, 1, 254, 255}[r.IntN(4)]
			} else {
				data[b] = byte(127 + r.IntN(41) - 20)
			}
		}
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		panic(err)
	}
	return m
}

// randActs returns n activation rows with a different magnitude per row,
// including all-zero rows and rows with zero blocks.
func randActs(r *rand.Rand, n, cols int) []float32 {
	scales := []float64{1, 1e-30, 1e-5, 3e4, 1e30, 0, 1}
	x := make([]float32, n*cols)
	for j := 0; j < n; j++ {
		s := scales[j%len(scales)]
		for i := 0; i < cols; i++ {
			x[j*cols+i] = float32(r.NormFloat64() * s)
		}
		if j%3 == 2 { // a zero block
			clear(x[j*cols : j*cols+min(cols, 32)])
		}
	}
	return x
}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestQKernelsMatchTwins runs every assembly tile kernel against its Go twin
// on random bytes, hostile scales and activations of extreme magnitude, in
// both tile shapes, and requires bit-identical results.
func TestQKernelsMatchTwins(t *testing.T) {
	tables := asmQKernelTables()
	if len(tables) == 0 {
		t.Skip("no assembly kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for name, table := range tables {
		for typ, k := range table {
			if k == nil {
				continue
			}
			typ := tensor.Type(typ)
			twin := portableQKernels[typ]
			bn := typ.BlockSize()
			shapes := [][3]int{{1, 1, 1}, {5, 2, 1}, {7, 3, 3}, {13, 9, 2}, {4, 17, 5}, {9, 24, 1}, {3, 9, 100}}
			if typ == tensor.Q4_K {
				shapes = append(shapes, [3]int{300, 9, 10}) // several runs of rows per panel slice
			}
			for _, shape := range shapes {
				rows, cols, n := shape[0], shape[2]*bn, shape[1]
				if bn == 1 { // float rows: whole blocks of 8 and a tail, or only a tail
					cols = 8*shape[2]*shape[0] + shape[0]%8
					if shape[0] == 5 {
						cols = 5
					}
				}
				t.Run(fmt.Sprintf("%s/%v/%dx%d/n=%d", name, typ, rows, cols, n), func(t *testing.T) {
					w := randWeights(r, typ, rows, cols)
					x := randActs(r, n, cols)
					want := make([]float32, n*rows)
					got := make([]float32, n*rows)
					(*Pool)(nil).matmulQ(want, w, x, n, twin)
					NewPool(2).matmulQ(got, w, x, n, k)
					for i := range want {
						if !sameBits(got[i], want[i]) {
							t.Fatalf("dst[%d][%d] = %v (%#x), twin %v (%#x)", i/rows, i%rows, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				})
			}
		}
	}
}

// TestQKernelsRandomBytes checks the kernels of the Q8_0 and Q8_K types on
// random bytes (plausible scales, every other field random: grid indices,
// signs, offsets and trits that no quantizer writes) against a float64
// product of the dequantized weights and the rounded activations, in the
// portable twins and in the kernels this CPU runs.
func TestQKernelsRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for typ, twin := range portableQKernels {
		typ := tensor.Type(typ)
		if twin == nil || (twin.act != actQ8_0 && twin.act != actQ8_K && twin.act != actQ8_0B) {
			continue
		}
		for _, k := range []*qkernel{twin, qkernels[typ]} {
			rows, n, cols := 9, 11, 3*typ.BlockSize()
			w := randWeightsHostile(r, typ, rows, cols, false)
			x := randVec(r, n*cols, 1)
			full := make([]float32, rows*cols)
			if err := quant.Dequantize(typ, w.Data, full); err != nil {
				t.Fatal(err)
			}
			xr := make([]float32, len(x))
			for j := range n {
				RoundActivations(xr[j*cols:(j+1)*cols], x[j*cols:(j+1)*cols], typ)
			}
			got := make([]float32, n*rows)
			NewPool(2).matmulQ(got, w, x, n, k)
			for j := range n {
				for i := range rows {
					var want, mag float64
					for c := range cols {
						p := float64(full[i*cols+c]) * float64(xr[j*cols+c])
						want += p
						mag += math.Abs(p)
					}
					if g := float64(got[j*rows+i]); math.Abs(g-want) > 1e-6*mag+1e-30 {
						t.Fatalf("%v: dst[%d][%d] = %v, want %v", typ, j, i, g, want)
					}
				}
			}
		}
	}
}

// TestFMA32 checks the portable fused multiply-add against exact
// arithmetic, including near-cancellations where a plain double rounding
// would differ.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 1<<20; i++ {
		a := math.Float32frombits(r.Uint32())
		b := math.Float32frombits(r.Uint32())
		c := math.Float32frombits(r.Uint32())
		if i%4 == 0 { // near-cancelling cases, where double rounding bites
			c = -float32(float64(a) * float64(b))
			c = math.Float32frombits(math.Float32bits(c) + uint32(r.IntN(5)) - 2)
		}
		got := fma32(a, b, c)
		want := fmaRef(a, b, c)
		if !sameBits(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// fmaRef is a·b + c rounded once, computed exactly with math/big.
func fmaRef(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	if math.IsNaN(p) || math.IsInf(p, 0) || math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) || p+float64(c) == 0 {
		return float32(p + float64(c)) // no rounding question arises
	}
	x := new(big.Float).SetPrec(400).SetFloat64(p)
	x.Add(x, new(big.Float).SetPrec(400).SetFloat64(float64(c)))
	f, _ := x.Float32()
	return f
}

// TestActivationQuantizers checks that the panel quantizers write exactly
// the quants and scales quant.Quantize does, on ordinary, extreme and
// non-finite inputs.
func TestActivationQuantizers(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-40, 0.5, -0.5, 1.5, 2.5}
	for iter := 0; iter < 2000; iter++ {
		x := make([]float32, 256)
		scale := math.Ldexp(1, r.IntN(300)-150)
		for i := range x {
			x[i] = float32(r.NormFloat64() * scale)
			if iter%4 == 1 && r.IntN(32) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
			if iter%4 == 2 {
				x[i] = float32(r.IntN(255)-127) * float32(scale) / 127 // exact halves and ties
			}
		}
		if iter%50 == 3 {
			clear(x)
		}
		// Q8_0
		ref := make([]byte, 8*34)
		quant.Quantize(tensor.Q8_0, x, ref)
		for b := 0; b < 8; b++ {
			q := make([]byte, 32)
			d := quantQ8_0Block(x[32*b:32*b+32], q)
			want := quant.FP16ToFloat32(binary.LittleEndian.Uint16(ref[34*b:]))
			if !sameBits(d, want) || string(q) != string(ref[34*b+2:34*b+34]) {
				t.Fatalf("Q8_0 block %d of %v: d %v q %v, want %v %v", b, x[32*b:32*b+32], d, q, want, ref[34*b+2:34*b+34])
			}
		}
		// Q8_K
		ref = make([]byte, 292)
		quant.Quantize(tensor.Q8_K, x, ref)
		q, bs := make([]byte, 256), make([]byte, 32)
		d := quantQ8_KBlock(x, q, bs)
		want := math.Float32frombits(binary.LittleEndian.Uint32(ref))
		if !sameBits(d, want) || string(q) != string(ref[4:260]) || string(bs) != string(ref[260:]) {
			t.Fatalf("Q8_K of %v: differs from quant.Quantize", x)
		}
	}
}

// TestMatMulMany checks that products sharing their activations give, bit
// for bit, what separate MatMul calls give, for mixed weight types.
func TestMatMulMany(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	const cols = 512
	types := []tensor.Type{tensor.Q4_K, tensor.Q6_K, tensor.Q4_0, tensor.Q8_0, tensor.Q4_K, tensor.F16, tensor.IQ4_XS, tensor.MXFP4, tensor.IQ2_XXS, tensor.TQ1_0}
	for _, n := range []int{1, 3, 8, 11} {
		var ws []*Matrix
		var want, got [][]float32
		for i, typ := range types {
			w := randMatrix(t, r, typ, 5+3*i, cols)
			ws = append(ws, w)
			want = append(want, make([]float32, n*w.Rows))
			got = append(got, make([]float32, n*w.Rows))
		}
		x := randVec(r, n*cols, 1)
		p := NewPool(2)
		for i, w := range ws {
			p.MatMul(want[i], w, x, n)
		}
		p.MatMulMany(got, ws, x, n)
		for i := range ws {
			for e := range want[i] {
				if !sameBits(got[i][e], want[i][e]) {
					t.Fatalf("n=%d matrix %d (%v) [%d]: %v, MatMul %v", n, i, types[i], e, got[i][e], want[i][e])
				}
			}
		}
		p.Close()
	}
}

// TestActsAsmMatchGo checks the assembly activation quantizers against the
// Go ones on whole panels: ordinary rows, extreme magnitudes, zero blocks,
// NaN and infinities, narrow and wide panels, every activation layout.
func TestActsAsmMatchGo(t *testing.T) {
	if quantQ8_0Asm == nil && quantQ8_KAsm == nil {
		t.Skip("no assembly quantizers on this CPU")
	}
	r := rand.New(rand.NewPCG(19, 20))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-38, 3e38, 0}
	for _, typ := range []tensor.Type{tensor.Q4_0, tensor.Q8_0, tensor.Q4_K, tensor.Q6_K, tensor.MXFP4, tensor.IQ2_XXS} {
		k := portableQKernels[typ]
		for _, n := range []int{1, 3, 8, 9, 17} {
			cols := 2 * k.act.blockN()
			x := randActs(r, n, cols)
			for i := range x {
				if r.IntN(300) == 0 {
					x[i] = specials[r.IntN(len(specials))]
				}
			}
			got, want := &acts{}, &acts{}
			got.quantize(nil, k, x, n, cols, false)
			s0, sK := quantQ8_0Asm, quantQ8_KAsm
			quantQ8_0Asm, quantQ8_KAsm = nil, nil
			want.quantize(nil, k, x, n, cols, false)
			quantQ8_0Asm, quantQ8_KAsm = s0, sK
			if string(got.rec) != string(want.rec) {
				t.Fatalf("%v n=%d: panel bytes differ", typ, n)
			}
			for i := range want.d {
				if math.Float32bits(got.d[i]) != math.Float32bits(want.d[i]) {
					t.Fatalf("%v n=%d: scale %d is %v, want %v", typ, n, i, got.d[i], want.d[i])
				}
			}
		}
	}
}
