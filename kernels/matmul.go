package kernels

import (
	"fmt"
	"sync"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// DotType returns the encoding ggml converts activations to before taking
// their dot product with weight rows of type t (ggml's vec_dot_type): F16
// and BF16 weights meet fp16 and bf16 activations, the legacy block types
// meet Q8_0 (Q8_1 for Q4_1 and Q5_1), the K-quants and IQ4_XS meet Q8_K, and
// F32 meets F32.
//
// MatMul rounds activations to this precision, which is what makes its
// results match llama.cpp's to float32 rounding rather than to the
// quantization noise of the activations, and what lets integer SIMD kernels
// (int8 × int4/int8 dot products) compute exactly the same function as the
// portable code.
func DotType(t tensor.Type) tensor.Type {
	switch t {
	case tensor.F16, tensor.BF16:
		return t
	case tensor.Q4_0, tensor.Q5_0, tensor.Q8_0, tensor.IQ4_NL:
		return tensor.Q8_0
	case tensor.Q4_1, tensor.Q5_1:
		return tensor.Q8_1
	case tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.IQ4_XS:
		return tensor.Q8_K
	}
	return tensor.F32
}

// RoundActivations writes to dst the values of x as a dot product with
// weights of type t sees them: x converted to DotType(t) and back to
// float32. len(x) must be a multiple of t's block size, as a weight row is.
func RoundActivations(dst, x []float32, t tensor.Type) {
	dst = dst[:len(x)]
	dt := DotType(t)
	switch dt {
	case tensor.F32:
		copy(dst, x)
		return
	case tensor.F16:
		for i, v := range x {
			dst[i] = quant.FP16ToFloat32(quant.Float32ToFP16(v))
		}
		return
	case tensor.BF16:
		for i, v := range x {
			dst[i] = quant.BF16ToFloat32(quant.Float32ToBF16(v))
		}
		return
	case tensor.Q8_1:
		// Q8_1 holds the same quants and scale as Q8_0 plus a block sum
		// the portable kernels do not need.
		dt = tensor.Q8_0
	}
	size, err := dt.RowSize(int64(len(x)))
	if err != nil {
		panic("kernels: " + err.Error())
	}
	bp := byteBuf.Get().(*[]byte)
	if int64(cap(*bp)) < size {
		*bp = make([]byte, size)
	}
	b := (*bp)[:size]
	if err := quant.Quantize(dt, x, b); err != nil {
		panic("kernels: " + err.Error())
	}
	if err := quant.Dequantize(dt, b, dst); err != nil {
		panic("kernels: " + err.Error())
	}
	byteBuf.Put(bp)
}

var byteBuf = sync.Pool{New: func() any { return new([]byte) }}

// MatMul computes dst = x · wᵀ for n activation rows: x is n×w.Cols and dst
// n×w.Rows, both row-major (dst must not overlap x).
//
// It is the one operation that touches the weights, so it is shaped around
// them: each weight row is decoded once into a small per-worker buffer and
// dotted with every activation row, so a batch of n tokens streams the
// weights once, not n times. Workers take contiguous ranges of weight rows.
// Activations are first rounded to the weight type's [DotType], as ggml
// does.
//
// Shapes are the caller's contract; a mismatch panics.
func (p *Pool) MatMul(dst []float32, w *Matrix, x []float32, n int) {
	rows, cols := w.Rows, w.Cols
	if n < 0 || len(x) < n*cols || len(dst) < n*rows {
		panic(fmt.Sprintf("kernels: MatMul of %d rows through %d×%d: x has %d, dst %d", n, rows, cols, len(x), len(dst)))
	}
	if n == 0 {
		return
	}
	xb := getBuf(n * cols)
	xr := *xb
	for j := 0; j < n; j++ {
		RoundActivations(xr[j*cols:(j+1)*cols], x[j*cols:(j+1)*cols], w.Type)
	}
	p.Parallel(rows, n*cols, func(lo, hi int) {
		buf := getBuf(cols)
		matmulRows(dst, w, xr, n, lo, hi, *buf)
		putBuf(buf)
	})
	putBuf(xb)
}

// matmulRows computes output columns [lo, hi) of dst.
func matmulRows(dst []float32, w *Matrix, x []float32, n, lo, hi int, buf []float32) {
	rows, cols := w.Rows, w.Cols
	direct := w.Type == tensor.F32 && nativeF32(w.Data)
	for r := lo; r < hi; r++ {
		row := buf
		if direct {
			row = f32View(w.Row(r)) // already float32: no copy
		} else if err := quant.Dequantize(w.Type, w.Row(r), buf); err != nil {
			panic("kernels: " + err.Error()) // NewMatrix checked type and size
		}
		for j := 0; j < n; j++ {
			dst[j*rows+r] = Dot(row, x[j*cols:(j+1)*cols])
		}
	}
}

// Dot returns the float32 dot product of x and y[:len(x)], accumulated in
// four lanes as a SIMD kernel would.
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := x[i : i+4 : i+4]
		b := y[i : i+4 : i+4]
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
