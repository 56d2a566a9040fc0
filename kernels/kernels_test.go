package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// weightTypes are the types MatMul must handle: every type quant decodes.
var weightTypes = []tensor.Type{
	tensor.F32, tensor.F16, tensor.BF16,
	tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0,
	tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K,
	tensor.IQ4_NL, tensor.IQ4_XS,
	tensor.MXFP4, tensor.TQ1_0, tensor.TQ2_0,
	tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S, tensor.IQ1_M,
}

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// randMatrix quantizes random weights to t (under a random importance
// matrix for the types llama.cpp quantizes only with one).
func randMatrix(tb testing.TB, r *rand.Rand, t tensor.Type, rows, cols int) *Matrix {
	tb.Helper()
	w := randVec(r, rows*cols, 1)
	size, err := t.RowSize(int64(rows * cols))
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, size)
	if quant.QuantizeSupported(t) {
		err = quant.Quantize(t, w, data)
	} else {
		im := make([]float32, cols)
		for i := range im {
			im[i] = 0.5 + r.Float32()
		}
		err = quant.QuantizeWeighted(t, w, im, data)
	}
	if err != nil {
		tb.Fatal(err)
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestMatMul compares MatMul with a naive float64 product of the whole
// dequantized matrix and the activations as the weight type's dot type
// sees them, for every type, on odd shapes and thread counts.
func TestMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range weightTypes {
		cols := 3 * typ.BlockSize()
		if typ.BlockSize() == 1 {
			cols = 67
		}
		for _, shape := range [][2]int{{1, 1}, {37, 3}, {129, 7}} {
			rows, n := shape[0], shape[1]
			t.Run(fmt.Sprintf("%v/%dx%d/n=%d", typ, rows, cols, n), func(t *testing.T) {
				w := randMatrix(t, r, typ, rows, cols)
				x := randVec(r, n*cols, 1)
				full := make([]float32, rows*cols)
				if err := quant.Dequantize(typ, w.Data, full); err != nil {
					t.Fatal(err)
				}
				xr := make([]float32, len(x))
				for j := 0; j < n; j++ {
					RoundActivations(xr[j*cols:(j+1)*cols], x[j*cols:(j+1)*cols], typ)
				}
				var first []float32
				for _, p := range []*Pool{nil, NewPool(1), NewPool(3), NewPool(16)} {
					dst := make([]float32, n*rows+1)
					dst[n*rows] = 42 // must stay untouched
					p.MatMul(dst, w, x, n)
					if dst[n*rows] != 42 {
						t.Fatal("MatMul wrote past n×Rows")
					}
					for j := 0; j < n; j++ {
						for i := 0; i < rows; i++ {
							var want, mag float64
							for c := 0; c < cols; c++ {
								a, b := float64(full[i*cols+c]), float64(xr[j*cols+c])
								want += a * b
								mag += math.Abs(a * b)
							}
							if DotType(typ) == tensor.Q8_1 {
								// ggml takes the offsets' part, m·Σx, as m·s with
								// the block's s = fp16(Σq·amax/127), not from the
								// rounded activations.
								for b := 0; b < cols/32; b++ {
									m := float64(quant.FP16ToFloat32(binary.LittleEndian.Uint16(w.Row(i)[b*typ.TypeSize()+2:])))
									sx, s := 0.0, q8_1Sum(x[j*cols+32*b:j*cols+32*b+32])
									for c := 32 * b; c < 32*b+32; c++ {
										sx += float64(xr[j*cols+c])
									}
									want += m * (s - sx)
									mag += math.Abs(m * s)
								}
							}
							if got := float64(dst[j*rows+i]); math.Abs(got-want) > 1e-6*mag+1e-30 {
								t.Fatalf("threads %d: dst[%d][%d] = %v, want %v", p.Threads(), j, i, got, want)
							}
						}
					}
					if first == nil {
						first = dst
					} else {
						for i := range first {
							if math.Float32bits(first[i]) != math.Float32bits(dst[i]) {
								t.Fatalf("threads %d: result differs bitwise from serial at %d", p.Threads(), i)
							}
						}
					}
				}
			})
		}
	}
}

// q8_1Sum is ggml's Q8_1 block sum of 32 activations: the sum of their
// Q8_0 quants times amax/127 (unrounded), rounded to fp16.
func q8_1Sum(x []float32) float64 {
	b := make([]byte, 34)
	quant.Quantize(tensor.Q8_0, x, b)
	var amax float32
	var sum int32
	for i, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
		sum += int32(int8(b[2+i]))
	}
	return float64(quant.FP16ToFloat32(quant.Float32ToFP16(float32(sum) * (amax / 127))))
}

// TestRoundActivations checks the dot types: identity for F32, fp16 and
// bf16 rounding, and a Q8 quantization round trip with the matching error.
func TestRoundActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randVec(r, 512, 3)
	x[5], x[6] = 0, float32(math.Copysign(0, -1))
	dst := make([]float32, len(x))
	for _, typ := range weightTypes {
		RoundActivations(dst, x, typ)
		var maxRel float64
		for i := range x {
			maxRel = max(maxRel, math.Abs(float64(dst[i]-x[i]))/3)
		}
		var limit float64
		switch DotType(typ) {
		case tensor.F32:
			limit = 0
		case tensor.F16:
			limit = 3 * math.Ldexp(1, -11) * 4
		case tensor.BF16:
			limit = 3 * math.Ldexp(1, -8) * 4
		default:
			limit = 4 * 4.0 / 127 // half a step of a block's range over 127
		}
		if maxRel > limit {
			t.Errorf("%v (dot type %v): relative error %.3g > %.3g", typ, DotType(typ), maxRel, limit)
		}
		if DotType(typ) == tensor.F32 && maxRel != 0 {
			t.Errorf("%v: F32 activations changed", typ)
		}
	}
	if DotType(tensor.Q4_K) != tensor.Q8_K || DotType(tensor.Q4_0) != tensor.Q8_0 || DotType(tensor.Q5_1) != tensor.Q8_1 ||
		DotType(tensor.F16) != tensor.F16 || DotType(tensor.IQ4_XS) != tensor.Q8_K ||
		DotType(tensor.MXFP4) != tensor.Q8_0 || DotType(tensor.TQ1_0) != tensor.Q8_K || DotType(tensor.IQ1_M) != tensor.Q8_K {
		t.Error("DotType disagrees with ggml's vec_dot_type")
	}
}

func TestMatrixErrors(t *testing.T) {
	if _, err := NewMatrix(tensor.Q4_0, 2, 33, make([]byte, 100)); err == nil {
		t.Error("row not a multiple of the block accepted")
	}
	if _, err := NewMatrix(tensor.Q4_0, 2, 32, make([]byte, 35)); err == nil {
		t.Error("short data accepted")
	}
	if _, err := NewMatrix(tensor.Q8_1, 1, 32, make([]byte, 36)); err == nil {
		t.Error("unsupported type accepted")
	}
	if _, err := NewMatrix(tensor.F32, 0, 4, nil); err == nil {
		t.Error("empty matrix accepted")
	}
}

func TestGetRow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range weightTypes {
		cols := 2 * typ.BlockSize()
		m := randMatrix(t, r, typ, 5, cols)
		full := make([]float32, 5*cols)
		quant.Dequantize(typ, m.Data, full)
		row := make([]float32, cols)
		for i := 0; i < 5; i++ {
			if err := GetRow(row, m, i); err != nil {
				t.Fatal(err)
			}
			for c := range row {
				if row[c] != full[i*cols+c] {
					t.Fatalf("%v row %d col %d: %v, want %v", typ, i, c, row[c], full[i*cols+c])
				}
			}
		}
		if GetRow(row, m, 5) == nil || GetRow(row, m, -1) == nil || GetRow(row[:cols-1], m, 0) == nil {
			t.Errorf("%v: bad GetRow accepted", typ)
		}
	}
}

func TestParallel(t *testing.T) {
	for _, threads := range []int{1, 2, 5, 64} {
		p := NewPool(threads)
		for _, n := range []int{0, 1, 3, 100, 1000} {
			for _, cost := range []int{0, 1, 1 << 20} {
				seen := make([]int32, n)
				var inFlight, most atomic.Int32
				p.Parallel(n, cost, func(lo, hi int) {
					k := inFlight.Add(1)
					for m := most.Load(); k > m && !most.CompareAndSwap(m, k); m = most.Load() {
					}
					for i := lo; i < hi; i++ {
						seen[i]++ // ranges are disjoint, so no race
					}
					inFlight.Add(-1)
				})
				for i, s := range seen {
					if s != 1 {
						t.Fatalf("threads %d n %d cost %d: index %d visited %d times", threads, n, cost, i, s)
					}
				}
				if int(most.Load()) > threads {
					t.Fatalf("threads %d n %d cost %d: %d calls at once", threads, n, cost, most.Load())
				}
			}
		}
		p.Close()
		// After Close, work still gets done, on the caller.
		var sum atomic.Int64
		p.Parallel(1000, 1<<20, func(lo, hi int) { sum.Add(int64(hi - lo)) })
		if sum.Load() != 1000 {
			t.Fatalf("threads %d: closed pool covered %d of 1000", threads, sum.Load())
		}
	}
}

// TestParallelConcurrent runs parallel operations from several goroutines
// on one pool at once.
func TestParallelConcurrent(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 200; it++ {
				n := 1 + (g*131+it*17)%500
				var sum atomic.Int64
				p.Parallel(n, 1<<16, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						sum.Add(int64(i))
					}
				})
				if want := int64(n) * int64(n-1) / 2; sum.Load() != want {
					t.Errorf("sum %d, want %d", sum.Load(), want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestVectorOps(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randVec(r, 173, 2)
	w := randVec(r, 173, 1)

	// RMSNorm against float64.
	dst := make([]float32, len(x))
	RMSNorm(dst, x, w, 1e-5)
	ss := 0.0
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
	for i := range x {
		if want := float64(x[i]) * s * float64(w[i]); math.Abs(float64(dst[i])-want) > 1e-6*math.Abs(want)+1e-7 {
			t.Fatalf("RMSNorm[%d] = %v, want %v", i, dst[i], want)
		}
	}
	RMSNorm(dst, make([]float32, len(x)), nil, 1e-5)
	for _, v := range dst {
		if v != 0 {
			t.Fatal("RMSNorm of zeros is not zero")
		}
	}

	// Softmax against float64, including -Inf (a masked position).
	sm := append([]float32{float32(math.Inf(-1))}, x...)
	Softmax(sm)
	mx := math.Inf(-1)
	for _, v := range x {
		mx = math.Max(mx, float64(v))
	}
	sum := 0.0
	for _, v := range x {
		sum += math.Exp(float64(v) - mx)
	}
	if sm[0] != 0 {
		t.Errorf("softmax of -Inf = %v", sm[0])
	}
	for i, v := range x {
		if want := math.Exp(float64(v)-mx) / sum; math.Abs(float64(sm[i+1])-want) > 1e-6*want+1e-9 {
			t.Fatalf("Softmax[%d] = %v, want %v", i, sm[i+1], want)
		}
	}
	Softmax(nil)

	// SwiGLU, Add, Mul, Scale, Axpy.
	g := make([]float32, len(x))
	SwiGLU(g, x, w)
	for i := range x {
		want := float64(x[i]) / (1 + math.Exp(-float64(x[i]))) * float64(w[i])
		if math.Abs(float64(g[i])-want) > 1e-6*math.Abs(want)+1e-7 {
			t.Fatalf("SwiGLU[%d] = %v, want %v", i, g[i], want)
		}
	}
	a := []float32{1, 2, 3}
	Add(a, []float32{1, 1, 1})
	Mul(a, []float32{2, 2, 2})
	Scale(a, 0.5)
	Axpy(a, 2, []float32{1, 0, -1})
	if a[0] != 4 || a[1] != 3 || a[2] != 2 {
		t.Errorf("element-wise ops: %v", a)
	}

	// Dot and its fp16 forms.
	h := make([]uint16, len(x))
	ToFP16(h, x)
	hx := append([]float32(nil), x...)
	RoundFP16(hx)
	want := 0.0
	for i := range w {
		want += float64(w[i]) * float64(hx[i])
	}
	if got := DotF16(w, h); math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("DotF16 = %v, want %v", got, want)
	}
	if got := Dot(w, hx); math.Abs(float64(got)-want) > 1e-5 {
		t.Errorf("Dot = %v, want %v", got, want)
	}
	acc := make([]float32, len(x))
	AxpyF16(acc, 0.5, h)
	for i := range acc {
		if acc[i] != 0.5*hx[i] {
			t.Fatalf("AxpyF16[%d] = %v", i, acc[i])
		}
	}
}

func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		x    []float32
		want int
	}{
		{nil, -1},
		{[]float32{1}, 0},
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{nan, 2, nan, 5}, 3},
		{[]float32{nan}, -1},
		{[]float32{float32(math.Inf(-1)), -1}, 1},
	}
	for _, c := range cases {
		if got := Argmax(c.x); got != c.want {
			t.Errorf("Argmax(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}
