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
	var sum float64
	for i, v := range x {
		e := Exp(v - m)
		x[i] = e
		sum += float64(e)
	}
	Scale(x, float32(1/sum))
}

// Exp is expf: e^x rounded to float32.
func Exp(x float32) float32 { return float32(math.Exp(float64(x))) }

// SiLU returns x·sigmoid(x), computed as x/(1+e^-x) like ggml.
func SiLU(x float32) float32 { return x / (1 + Exp(-x)) }

// SwiGLU writes silu(gate)·up to dst (dst may alias either input).
func SwiGLU(dst, gate, up []float32) {
	up = up[:len(gate)]
	dst = dst[:len(gate)]
	for i, g := range gate {
		dst[i] = SiLU(g) * up[i]
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

// DotF16 returns the dot product of x and the fp16 values y[:len(x)],
// accumulated in float32: the key side of attention over an F16 cache.
func DotF16(x []float32, y []uint16) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := x[i : i+4 : i+4]
		b := y[i : i+4 : i+4]
		s0 += a[0] * quant.FP16ToFloat32(b[0])
		s1 += a[1] * quant.FP16ToFloat32(b[1])
		s2 += a[2] * quant.FP16ToFloat32(b[2])
		s3 += a[3] * quant.FP16ToFloat32(b[3])
	}
	for ; i < len(x); i++ {
		s0 += x[i] * quant.FP16ToFloat32(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// AxpyF16 adds a·x to dst where x holds fp16 values: the value side of
// attention over an F16 cache.
func AxpyF16(dst []float32, a float32, x []uint16) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * quant.FP16ToFloat32(x[i])
	}
}

// ToFP16 converts src to fp16 into dst[:len(src)], rounding to nearest even.
func ToFP16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = quant.Float32ToFP16(v)
	}
}

// RoundFP16 rounds every element of x to the nearest fp16 value, keeping it
// as float32. It reproduces the precision llama.cpp gives an activation it
// converts to fp16 before a dot product with fp16 data.
func RoundFP16(x []float32) {
	for i, v := range x {
		x[i] = quant.FP16ToFloat32(quant.Float32ToFP16(v))
	}
}
