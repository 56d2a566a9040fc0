package kernels

import (
	"math"

	"github.com/ondo-ai/ondo/quant"
)

// RMSNorm writes x / sqrt(mean(x²) + eps) · w to dst (dst may alias x).
// A nil w skips the weight. The float32 operations follow ggml's
// rms_norm_f32: squares rounded to float32 and summed in float64, the mean
// rounded to float32, eps inside the square root, and the scale applied
// before the weight.
func RMSNorm(dst, x, w []float32, eps float32) {
	var sum float64
	for _, v := range x {
		sum += float64(v * v)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+eps)))
	dst = dst[:len(x)]
	if w == nil {
		for i, v := range x {
			dst[i] = v * scale
		}
		return
	}
	w = w[:len(x)]
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// Softmax replaces x by its softmax. As in ggml the exponentials are float32
// and their sum is accumulated in float64; the normaliser is rounded to
// float32 before scaling.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	for i, v := range x {
		x[i] = v - m
	}
	expSlice(x, x, false)
	var sum float64
	for _, e := range x {
		sum += float64(e)
	}
	Scale(x, float32(1/sum))
}

// Exp is expf: e^x rounded to float32.
func Exp(x float32) float32 { return float32(math.Exp(float64(x))) }

// expSlice sets dst[i] = Exp(src[i]), or Exp(-src[i]) when neg, exactly as
// Exp does (dst may alias src).
func expSlice(dst, src []float32, neg bool) {
	dst = dst[:len(src)]
	i := 0
	for i < len(src) {
		if expAsm != nil {
			i += expAsm(dst[i:], src[i:], neg)
		}
		// A group the assembly left (or the tail, or no assembly): scalar.
		for e := min(i+4, len(src)); i < e; i++ {
			if neg {
				dst[i] = Exp(-src[i])
			} else {
				dst[i] = Exp(src[i])
			}
		}
	}
}

// expAsm, where the CPU has it, does expSlice's work four at a time and
// returns how many elements it did (it stops at a group it cannot do).
var expAsm func(dst, src []float32, neg bool) int

// SiLU returns x·sigmoid(x), computed as x/(1+e^-x) like ggml.
func SiLU(x float32) float32 { return x / (1 + Exp(-x)) }

// SwiGLU writes silu(gate)·up to dst (dst may alias either input).
func SwiGLU(dst, gate, up []float32) {
	up = up[:len(gate)]
	dst = dst[:len(gate)]
	var buf [256]float32
	for i := 0; i < len(gate); i += len(buf) {
		g := gate[i:min(i+len(buf), len(gate))]
		e := buf[:len(g)]
		expSlice(e, g, true)
		for j, x := range g {
			dst[i+j] = x / (1 + e[j]) * up[i+j]
		}
	}
}

// Add adds x to dst element-wise.
func Add(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += x[i]
	}
}

// Mul multiplies dst by x element-wise.
func Mul(dst, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] *= x[i]
	}
}

// Scale multiplies every element of x by s.
func Scale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// Axpy adds a·x to dst (the BLAS saxpy).
func Axpy(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}

// Argmax returns the index of the largest element, the lowest index on
// ties, or -1 for an empty slice. NaNs are never chosen.
func Argmax(x []float32) int {
	best := -1
	for i, v := range x {
		if best < 0 && v == v || best >= 0 && v > x[best] {
			best = i
		}
	}
	return best
}

// DotF16 returns the dot product of x and the fp16 values y[:len(x)]: the
// key side of attention over an F16 cache. See DotF16Rows for the order of
// the float32 operations.
func DotF16(x []float32, y []uint16) float32 {
	var d [1]float32
	DotF16Rows(d[:], x, y, len(x))
	return d[0]
}

// DotF16Rows sets dst[t] to the dot product of x with the fp16 values
// y[t·stride : t·stride+len(x)], for every t < len(dst): one query against
// len(dst) cached keys.
//
// Each product is rounded to float32 and added, the first len(x)&^7
// elements into eight lanes (element i into lane i%8, in order), which are
// then folded as hsum8 does, and the rest one by one after that: the order
// of an 8-wide SIMD loop, which the assembly follows exactly.
func DotF16Rows(dst, x []float32, y []uint16, stride int) {
	if len(dst) == 0 {
		return
	}
	n := len(x)
	if n > 0 {
		_ = y[(len(dst)-1)*stride+n-1] // the assembly relies on this check
	}
	n8 := n &^ 7
	if n8 > 0 && dotF16RowsAsm != nil {
		dotF16RowsAsm(dst, x, y, n8, stride)
	} else {
		dotF16RowsGo(dst, x, y, n8, stride)
	}
	if n8 < n {
		for t := range dst {
			yt := y[t*stride : t*stride+n]
			s := dst[t]
			for i := n8; i < n; i++ {
				s += float32(x[i] * quant.FP16ToFloat32(yt[i]))
			}
			dst[t] = s
		}
	}
}

// dotF16RowsGo is the portable twin of the assembly: the lane sums of the
// first n8 elements.
func dotF16RowsGo(dst, x []float32, y []uint16, n8, stride int) {
	for t := range dst {
		yt := y[t*stride : t*stride+n8]
		var acc [8]float32
		for i := 0; i < n8; i += 8 {
			a, b := x[i:i+8:i+8], yt[i:i+8:i+8]
			for l := range acc {
				acc[l] += float32(a[l] * quant.FP16ToFloat32(b[l]))
			}
		}
		dst[t] = hsum8(&acc)
	}
}

// AxpyF16 adds a·x to dst where x holds fp16 values: the value side of
// attention over an F16 cache.
func AxpyF16(dst []float32, a float32, x []uint16) {
	AxpyF16Rows(dst, []float32{a}, x, len(dst))
}

// AxpyF16Rows adds a[t]·y[t·stride : t·stride+len(dst)] to dst for every
// t < len(a), in order of t: attention weights applied to cached values.
// Each product is rounded to float32 before it is added.
func AxpyF16Rows(dst, a []float32, y []uint16, stride int) {
	if len(a) == 0 {
		return
	}
	n := len(dst)
	if n > 0 {
		_ = y[(len(a)-1)*stride+n-1] // the assembly relies on this check
	}
	n8 := n &^ 7
	if n8 > 0 && axpyF16RowsAsm != nil {
		axpyF16RowsAsm(dst[:n8], a, y, stride)
	} else {
		axpyF16RowsGo(dst[:n8], a, y, stride)
	}
	if n8 < n {
		axpyF16RowsGo(dst[n8:], a, y[n8:], stride)
	}
}

func axpyF16RowsGo(dst, a []float32, y []uint16, stride int) {
	n := len(dst)
	for t, w := range a {
		yt := y[t*stride : t*stride+n]
		for i := range dst {
			dst[i] += float32(w * quant.FP16ToFloat32(yt[i]))
		}
	}
}

// DotF16Heads is DotF16Rows for several queries that read the same keys,
// as the query heads of one key/value group do: for heads queries of
// hd = len(q)/heads elements and T = len(dst)/heads keys,
// dst[h·T + t] = DotF16(q[h·hd:(h+1)·hd], y[t·stride:]), each exactly as
// DotF16 computes it. Each key is read once for all the queries.
func DotF16Heads(dst, q []float32, heads int, y []uint16, stride int) {
	if heads <= 0 || len(dst) == 0 {
		return
	}
	hd, T := len(q)/heads, len(dst)/heads
	h := 0
	if n8 := hd &^ 7; n8 > 0 && dotF16Heads4Asm != nil && heads >= 4 {
		if hd > 0 {
			_ = y[(T-1)*stride+hd-1] // the assembly relies on this check
		}
		for ; h+4 <= heads; h += 4 {
			dotF16Heads4Asm(dst[h*T:(h+4)*T], T, q[h*hd:(h+4)*hd], hd, y, stride, n8)
			for k := h; k < h+4 && n8 < hd; k++ {
				qk := q[k*hd : (k+1)*hd]
				for t := range T {
					s := dst[k*T+t]
					for i := n8; i < hd; i++ {
						s += float32(qk[i] * quant.FP16ToFloat32(y[t*stride+i]))
					}
					dst[k*T+t] = s
				}
			}
		}
	}
	for ; h < heads; h++ {
		DotF16Rows(dst[h*T:(h+1)*T], q[h*hd:(h+1)*hd], y, stride)
	}
}

// AxpyF16Heads is AxpyF16Rows for several heads that read the same values:
// for heads outputs of hd = len(out)/heads elements and T = len(a)/heads
// weights each, out[h·hd:(h+1)·hd] += Σ_t a[h·T + t]·y[t·stride:], exactly
// as AxpyF16Rows computes it. Each value row is read once for all heads.
func AxpyF16Heads(out, a []float32, heads int, y []uint16, stride int) {
	if heads <= 0 || len(a) == 0 {
		return
	}
	hd, T := len(out)/heads, len(a)/heads
	h := 0
	if n8 := hd &^ 7; n8 > 0 && axpyF16Heads4Asm != nil && heads >= 4 && T > 0 {
		_ = y[(T-1)*stride+hd-1] // the assembly relies on this check
		for ; h+4 <= heads; h += 4 {
			axpyF16Heads4Asm(out[h*hd:(h+4)*hd], hd, a[h*T:(h+4)*T], T, y, stride, n8)
			if n8 < hd {
				for k := h; k < h+4; k++ {
					axpyF16RowsGo(out[k*hd+n8:(k+1)*hd], a[k*T:(k+1)*T], y[n8:], stride)
				}
			}
		}
	}
	for ; h < heads; h++ {
		AxpyF16Rows(out[h*hd:(h+1)*hd], a[h*T:(h+1)*T], y, stride)
	}
}

// The assembly versions, installed at start-up where the CPU has them.
var (
	dotF16RowsAsm    func(dst, x []float32, y []uint16, n8, stride int)
	axpyF16RowsAsm   func(dst, a []float32, y []uint16, stride int)
	dotF16Heads4Asm  func(dst []float32, dstStride int, q []float32, qStride int, y []uint16, stride, n8 int)
	axpyF16Heads4Asm func(out []float32, outStride int, a []float32, aStride int, y []uint16, stride, n8 int)
)

// ToFP16 converts src to fp16 into dst[:len(src)], rounding to nearest even.
func ToFP16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	i := 0
	if toFP16Asm != nil {
		i = toFP16Asm(dst, src)
	}
	for ; i < len(src); i++ {
		dst[i] = quant.Float32ToFP16(src[i])
	}
}

// toFP16Asm and roundFP16Asm convert a prefix of their input (a multiple
// of 8 elements) exactly as the loops after them would, and return its
// length; nil where the CPU has no conversion instructions.
var (
	toFP16Asm    func(dst []uint16, src []float32) int
	roundFP16Asm func(x []float32) int
)

// RoundFP16 rounds every element of x to the nearest fp16 value, keeping it
// as float32. It reproduces the precision llama.cpp gives an activation it
// converts to fp16 before a dot product with fp16 data.
func RoundFP16(x []float32) {
	i := 0
	if roundFP16Asm != nil {
		i = roundFP16Asm(x)
	}
	for ; i < len(x); i++ {
		x[i] = quant.FP16ToFloat32(quant.Float32ToFP16(x[i]))
	}
}
