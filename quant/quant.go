// Package quant converts between float32 and the tensor encodings that GGUF
// files store: plain F32/F16/BF16 and ggml's block quantization formats
// (Q4_0 … Q8_0, the K-quants Q2_K … Q8_K, IQ4_NL and IQ4_XS).
//
// Both directions are bit-exact with llama.cpp:
//
//   - Dequantize produces the same float32 values as ggml's dequantize_row_*
//     functions. That needs the same float32 operations in the same order: a
//     block value is computed as, e.g., float32(d*sc) times the quant and then
//     minus float32(dmin*m), each product rounded to float32 on its own.
//   - Quantize writes the same bytes as ggml_quantize_chunk without an
//     importance matrix (the "reference" quantizers, including their scale
//     searches). A model quantized here is byte-identical to one quantized
//     by llama.cpp from the same float32 weights.
//
// Go allows the compiler to fuse x*y+z into one fused multiply-add, which
// rounds once instead of twice and so would change results on arm64 and
// other FMA targets. Throughout the package every product that feeds an
// addition or subtraction is wrapped in an explicit float32(...) conversion;
// the language guarantees such a conversion rounds and so forbids the fusion.
// Those conversions look redundant but are load-bearing.
package quant

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/tensor"
)

// codec holds the row converters of one type. Each function handles a whole
// number of blocks; lengths are checked by the exported entry points.
type codec struct {
	dequant func(src []byte, dst []float32)
	quant   func(src []float32, dst []byte)
	// weighted quantizes one row under an importance matrix (one weight
	// per column, len(imatrix) == len(src)); nil when the type has no
	// weighted quantizer. ignoresImatrix marks types whose llama.cpp
	// quantizer takes an importance matrix and does not use it.
	weighted       func(src, imatrix []float32, dst []byte)
	ignoresImatrix bool
	// needsImatrix is llama.cpp's reason for refusing to quantize the
	// type without an importance matrix; empty when it does not.
	needsImatrix string
}

// codecs is indexed by type id (all ids ggml defines are small).
var codecs [64]codec

func init() {
	codecs[tensor.F32] = codec{dequant: dequantF32, quant: quantF32, ignoresImatrix: true}
	codecs[tensor.F16] = codec{dequant: dequantF16, quant: quantF16, ignoresImatrix: true}
	codecs[tensor.BF16] = codec{dequant: dequantBF16, quant: quantBF16, ignoresImatrix: true}
	codecs[tensor.Q4_0] = codec{dequant: dequantQ4_0, quant: quantQ4_0, weighted: quantQ4_0Weighted}
	codecs[tensor.Q4_1] = codec{dequant: dequantQ4_1, quant: quantQ4_1, weighted: quantQ4_1Weighted}
	codecs[tensor.Q5_0] = codec{dequant: dequantQ5_0, quant: quantQ5_0, weighted: quantQ5_0Weighted}
	codecs[tensor.Q5_1] = codec{dequant: dequantQ5_1, quant: quantQ5_1, weighted: quantQ5_1Weighted}
	codecs[tensor.Q8_0] = codec{dequant: dequantQ8_0, quant: quantQ8_0, ignoresImatrix: true}
	codecs[tensor.Q2_K] = codec{dequant: dequantQ2_K, quant: quantQ2_K, weighted: quantQ2_KWeighted}
	codecs[tensor.Q3_K] = codec{dequant: dequantQ3_K, quant: quantQ3_K, weighted: quantQ3_KWeighted}
	codecs[tensor.Q4_K] = codec{dequant: dequantQ4_K, quant: quantQ4_K, weighted: quantQ4_KWeighted}
	codecs[tensor.Q5_K] = codec{dequant: dequantQ5_K, quant: quantQ5_K, weighted: quantQ5_KWeighted}
	codecs[tensor.Q6_K] = codec{dequant: dequantQ6_K, quant: quantQ6_K, weighted: quantQ6_KWeighted}
	codecs[tensor.Q8_K] = codec{dequant: dequantQ8_K, quant: quantQ8_K}
	codecs[tensor.IQ4_NL] = codec{dequant: dequantIQ4_NL, quant: quantIQ4_NL, weighted: quantIQ4_NLWeighted}
	codecs[tensor.IQ4_XS] = codec{dequant: dequantIQ4_XS, quant: quantIQ4_XS, weighted: quantIQ4_XSWeighted}
}

func lookup(t tensor.Type) codec {
	if uint64(t) < uint64(len(codecs)) {
		return codecs[t]
	}
	return codec{}
}

// DequantizeSupported reports whether Dequantize can decode type t.
func DequantizeSupported(t tensor.Type) bool { return lookup(t).dequant != nil }

// QuantizeSupported reports whether Quantize can encode type t.
func QuantizeSupported(t tensor.Type) bool { return lookup(t).quant != nil }

// Dequantize decodes len(dst) elements of type t from src into dst.
//
// len(dst) must be a multiple of t's block size and len(src) must be exactly
// the encoded size of that many elements (t.RowSize(len(dst))). Several rows
// can be decoded in one call: blocks never straddle rows.
func Dequantize(t tensor.Type, src []byte, dst []float32) error {
	c := lookup(t)
	if c.dequant == nil {
		return fmt.Errorf("quant: dequantize: type %v not supported", t)
	}
	want, err := encodedSize(t, len(dst))
	if err != nil {
		return fmt.Errorf("quant: dequantize %v: %d elements is not a multiple of the block size %d", t, len(dst), t.BlockSize())
	}
	if len(src) != want {
		return fmt.Errorf("quant: dequantize %v: src has %d bytes, want %d for %d elements", t, len(src), want, len(dst))
	}
	c.dequant(src, dst)
	return nil
}

// Quantize encodes src as type t into dst, writing exactly the bytes that
// llama.cpp's ggml_quantize_chunk writes when no importance matrix is given
// (for Q8_K, which that function does not handle, the bytes of
// quantize_row_q8_K_ref, with the sums of an all-zero block zeroed).
//
// len(src) must be a multiple of t's block size (256 for the K-quants and
// IQ4_XS); pass one row or several whole rows, since no block straddles a
// row and none of these quantizers looks beyond its block. dst must be
// exactly t.RowSize(len(src)) bytes long. Quantize and Dequantize keep no
// state and are safe for concurrent use.
func Quantize(t tensor.Type, src []float32, dst []byte) error {
	c := lookup(t)
	if c.needsImatrix != "" {
		return fmt.Errorf("quant: quantize: type %v needs an importance matrix: %s", t, c.needsImatrix)
	}
	if c.quant == nil {
		return fmt.Errorf("quant: quantize: type %v not supported", t)
	}
	want, err := encodedSize(t, len(src))
	if err != nil {
		return fmt.Errorf("quant: %v rows must be a multiple of %d elements, got %d", t, t.BlockSize(), len(src))
	}
	if len(dst) != want {
		return fmt.Errorf("quant: quantize %v: dst has %d bytes, want %d for %d elements", t, len(dst), want, len(src))
	}
	c.quant(src, dst)
	return nil
}

// encodedSize is the byte size of n elements of t, or an error when n is not
// a whole number of blocks.
func encodedSize(t tensor.Type, n int) (int, error) {
	size, err := t.RowSize(int64(n))
	if err != nil {
		return 0, err
	}
	return int(size), nil
}

// QuantizeWeighted is Quantize under an importance matrix: imatrix holds one
// positive weight per column (llama.cpp's imatrix entry for the tensor), src
// one or more whole rows of len(imatrix) elements, and the bytes written are
// those of ggml_quantize_chunk given that matrix. Types whose llama.cpp
// quantizer ignores the matrix (F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, MXFP4)
// encode as Quantize does; Q8_K, which ggml_quantize_chunk does not take,
// is an error.
func QuantizeWeighted(t tensor.Type, src, imatrix []float32, dst []byte) error {
	c := lookup(t)
	if c.weighted == nil && !c.ignoresImatrix {
		return fmt.Errorf("quant: quantize: type %v with an importance matrix not supported", t)
	}
	cols := len(imatrix)
	if cols == 0 || cols%t.BlockSize() != 0 || len(src)%cols != 0 {
		return fmt.Errorf("quant: quantize %v: %d values are not whole rows of the importance matrix's %d columns (a multiple of %d)",
			t, len(src), cols, t.BlockSize())
	}
	want, err := encodedSize(t, len(src))
	if err != nil {
		return err
	}
	if len(dst) != want {
		return fmt.Errorf("quant: quantize %v: dst has %d bytes, want %d for %d elements", t, len(dst), want, len(src))
	}
	for i, w := range imatrix {
		if !(w >= 0) || math.IsInf(float64(w), 0) {
			return fmt.Errorf("quant: quantize %v: importance matrix column %d is %v, want a finite weight ≥ 0", t, i, w)
		}
	}
	if c.weighted == nil {
		c.quant(src, dst)
		return nil
	}
	rowBytes := want / (len(src) / cols)
	for r := 0; r < len(src)/cols; r++ {
		c.weighted(src[r*cols:(r+1)*cols], imatrix, dst[r*rowBytes:(r+1)*rowBytes])
	}
	return nil
}
