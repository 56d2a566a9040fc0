#include "textflag.h"
#include "qdot_amd64.h"

// Attention over an fp16 cache, AVX2 + F16C. VCVTPH2PS widens eight fp16
// values exactly; products are rounded (VMULPS) and then added (VADDPS),
// the order of the Go twins in vec.go.

// DOT8(Y16, ACC, T) adds x[i:i+8]·float(Y16 at (R)(AX*2)) into ACC.
#define DOT8(R, ACC, T) \
	VCVTPH2PS (R)(AX*2), T \
	VMULPS (SI)(AX*4), T, T \
	VADDPS T, ACC, ACC

// func dotF16RowsAVX2(dst *float32, x *float32, y *uint16, n8, stride, rows int)
// dst[t] = hsum8 of the eight lane sums of x[:n8]·y[t·stride:], n8 > 0 a
// multiple of 8. Four rows at a time, for four independent add chains.
TEXT ·dotF16RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n8+24(FP), CX
	MOVQ stride+32(FP), R8
	SHLQ $1, R8 // bytes per row
	MOVQ rows+40(FP), R9

quad:
	CMPQ R9, $4
	JLT  single
	MOVQ DX, R10
	LEAQ (R10)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX

quadloop:
	DOT8(R10, Y0, Y4)
	DOT8(R11, Y1, Y5)
	DOT8(R12, Y2, Y6)
	DOT8(R13, Y3, Y7)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  quadloop

	HSUM8(Y0, X0, X8)
	HSUM8(Y1, X1, X8)
	HSUM8(Y2, X2, X8)
	HSUM8(Y3, X3, X8)
	VMOVSS X0, 0(DI)
	VMOVSS X1, 4(DI)
	VMOVSS X2, 8(DI)
	VMOVSS X3, 12(DI)
	ADDQ $16, DI
	LEAQ (R13)(R8*1), DX
	SUBQ $4, R9
	JMP  quad

single:
	TESTQ R9, R9
	JZ    done
	VXORPS Y0, Y0, Y0
	XORQ AX, AX

singleloop:
	DOT8(DX, Y0, Y4)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  singleloop
	HSUM8(Y0, X0, X8)
	VMOVSS X0, 0(DI)
	ADDQ $4, DI
	ADDQ R8, DX
	DECQ R9
	JMP  single

done:
	VZEROUPPER
	RET

// AXPY8(OFF, ACC, T) adds w·float(y[OFF/2:]) into ACC; Y8 = w, R10 = y row.
#define AXPY8(OFF, ACC, T) \
	VCVTPH2PS OFF(R10), T \
	VMULPS Y8, T, T \
	VADDPS T, ACC, ACC

// func axpyF16RowsAVX2(dst *float32, n8 int, a *float32, rows int, y *uint16, stride int)
// dst[:n8] += a[t]·y[t·stride:] for t < rows, in order of t; n8 > 0 a
// multiple of 8, rows > 0. dst is held in registers 32 columns at a time.
TEXT ·axpyF16RowsAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ n8+8(FP), CX
	MOVQ a+16(FP), SI
	MOVQ rows+24(FP), R9
	MOVQ y+32(FP), DX
	MOVQ stride+40(FP), R8
	SHLQ $1, R8

wide:
	CMPQ CX, $32
	JLT  narrow
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	MOVQ DX, R10
	MOVQ SI, R11
	MOVQ R9, R12

wideloop:
	VBROADCASTSS (R11), Y8
	AXPY8(0, Y0, Y4)
	AXPY8(16, Y1, Y5)
	AXPY8(32, Y2, Y6)
	AXPY8(48, Y3, Y7)
	ADDQ R8, R10
	ADDQ $4, R11
	DECQ R12
	JNZ  wideloop
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $64, DX
	SUBQ $32, CX
	JMP  wide

narrow:
	TESTQ CX, CX
	JZ    done
	VMOVUPS 0(DI), Y0
	MOVQ DX, R10
	MOVQ SI, R11
	MOVQ R9, R12

narrowloop:
	VBROADCASTSS (R11), Y8
	AXPY8(0, Y0, Y4)
	ADDQ R8, R10
	ADDQ $4, R11
	DECQ R12
	JNZ  narrowloop
	VMOVUPS Y0, 0(DI)
	ADDQ $32, DI
	ADDQ $16, DX
	SUBQ $8, CX
	JMP  narrow

done:
	VZEROUPPER
	RET

// DOTH(Q, ACC0, ACC1) adds x_h·K_t and x_h·K_t+1 (Y8, Y9) into ACC0, ACC1.
#define DOTH(Q, ACC0, ACC1) \
	VMULPS (Q)(AX*4), Y8, Y10 \
	VADDPS Y10, ACC0, ACC0 \
	VMULPS (Q)(AX*4), Y9, Y11 \
	VADDPS Y11, ACC1, ACC1

// func dotF16Heads4AVX2(dst *float32, dstStride int, q *float32, qStride int, y *uint16, stride, n8, rows int)
// For four queries h (at q + h·qStride) and rows t < rows:
// dst[h·dstStride + t] = the lane sums of q_h[:n8]·y[t·stride:], folded. The
// keys are taken two at a time, each widened once for all four queries.
TEXT ·dotF16Heads4AVX2(SB), NOSPLIT, $0-64
	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), BX
	SHLQ $2, BX
	LEAQ (BX)(BX*2), R14 // 3·dstStride bytes
	MOVQ q+16(FP), SI
	MOVQ qStride+24(FP), R11
	SHLQ $2, R11
	LEAQ (SI)(R11*1), R12
	LEAQ (R12)(R11*1), R13
	ADDQ R13, R11
	XCHGQ R11, R13
	MOVQ y+32(FP), R10
	MOVQ stride+40(FP), R8
	SHLQ $1, R8
	MOVQ n8+48(FP), CX
	MOVQ rows+56(FP), R9
	// Queries: SI, R12 (1), R11 (2), R13 (3).

pair:
	CMPQ R9, $2
	JLT  last
	LEAQ (R10)(R8*1), DX
	// Keys are scattered rows (one head of each cached position), too far
	// apart for the hardware prefetcher: prefetch the pair 8 rows on.
	MOVQ R8, AX
	SHLQ $3, AX
	PREFETCHT0 (R10)(AX*1)
	PREFETCHT0 64(R10)(AX*1)
	PREFETCHT0 (DX)(AX*1)
	PREFETCHT0 64(DX)(AX*1)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX

pairloop:
	VCVTPH2PS (R10)(AX*2), Y8
	VCVTPH2PS (DX)(AX*2), Y9
	DOTH(SI, Y0, Y4)
	DOTH(R12, Y1, Y5)
	DOTH(R11, Y2, Y6)
	DOTH(R13, Y3, Y7)
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  pairloop

	HSUM8(Y0, X0, X8)
	HSUM8(Y1, X1, X8)
	HSUM8(Y2, X2, X8)
	HSUM8(Y3, X3, X8)
	HSUM8(Y4, X4, X8)
	HSUM8(Y5, X5, X8)
	HSUM8(Y6, X6, X8)
	HSUM8(Y7, X7, X8)
	VMOVSS X0, 0(DI)
	VMOVSS X4, 4(DI)
	VMOVSS X1, (DI)(BX*1)
	VMOVSS X5, 4(DI)(BX*1)
	VMOVSS X2, (DI)(BX*2)
	VMOVSS X6, 4(DI)(BX*2)
	VMOVSS X3, (DI)(R14*1)
	VMOVSS X7, 4(DI)(R14*1)
	ADDQ $8, DI
	LEAQ (DX)(R8*1), R10
	SUBQ $2, R9
	JMP  pair

last:
	TESTQ R9, R9
	JZ    done
	MOVQ R10, DX // the second key is a duplicate, its sums unused
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ AX, AX

lastloop:
	VCVTPH2PS (R10)(AX*2), Y8
	VMULPS (SI)(AX*4), Y8, Y10
	VADDPS Y10, Y0, Y0
	VMULPS (R12)(AX*4), Y8, Y10
	VADDPS Y10, Y1, Y1
	VMULPS (R11)(AX*4), Y8, Y10
	VADDPS Y10, Y2, Y2
	VMULPS (R13)(AX*4), Y8, Y10
	VADDPS Y10, Y3, Y3
	ADDQ $8, AX
	CMPQ AX, CX
	JLT  lastloop
	HSUM8(Y0, X0, X8)
	HSUM8(Y1, X1, X8)
	HSUM8(Y2, X2, X8)
	HSUM8(Y3, X3, X8)
	VMOVSS X0, 0(DI)
	VMOVSS X1, (DI)(BX*1)
	VMOVSS X2, (DI)(BX*2)
	VMOVSS X3, (DI)(R14*1)

done:
	VZEROUPPER
	RET

// AXPYH(A, ACC0, ACC1) adds a_h[t]·V_t (Y8, Y9: 16 columns) into ACC0, ACC1.
#define AXPYH(A, ACC0, ACC1) \
	VBROADCASTSS (A)(AX*4), Y12 \
	VMULPS Y12, Y8, Y10 \
	VADDPS Y10, ACC0, ACC0 \
	VMULPS Y12, Y9, Y11 \
	VADDPS Y11, ACC1, ACC1

// AXPYH1(A, ACC) is AXPYH for 8 columns (Y8).
#define AXPYH1(A, ACC) \
	VBROADCASTSS (A)(AX*4), Y12 \
	VMULPS Y12, Y8, Y10 \
	VADDPS Y10, ACC, ACC

// func axpyF16Heads4AVX2(out *float32, outStride int, a *float32, aStride int, y *uint16, stride, n8, rows int)
// For four heads h: out[h·outStride : +n8] += a[h·aStride + t]·y[t·stride:]
// for t < rows, in order of t. Sixteen columns of all four heads are held
// in registers per pass over the rows, each value row widened once.
TEXT ·axpyF16Heads4AVX2(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ outStride+8(FP), BX
	SHLQ $2, BX
	LEAQ (BX)(BX*2), R14
	MOVQ a+16(FP), SI
	MOVQ aStride+24(FP), R11
	SHLQ $2, R11
	LEAQ (SI)(R11*1), R12
	LEAQ (R12)(R11*1), R13
	ADDQ R13, R11
	XCHGQ R11, R13
	// Weights: SI, R12 (1), R11 (2), R13 (3).
	MOVQ y+32(FP), DX
	MOVQ stride+40(FP), R8
	SHLQ $1, R8
	MOVQ n8+48(FP), CX
	MOVQ rows+56(FP), R9

cols16:
	CMPQ CX, $16
	JLT  cols8
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS (DI)(BX*1), Y2
	VMOVUPS 32(DI)(BX*1), Y3
	VMOVUPS (DI)(BX*2), Y4
	VMOVUPS 32(DI)(BX*2), Y5
	VMOVUPS (DI)(R14*1), Y6
	VMOVUPS 32(DI)(R14*1), Y7
	MOVQ DX, R10
	XORQ AX, AX

loop16:
	// Value rows lie a cache row apart: prefetch 8 rows on.
	PREFETCHT0 (R10)(R8*8)
	VCVTPH2PS 0(R10), Y8
	VCVTPH2PS 16(R10), Y9
	AXPYH(SI, Y0, Y1)
	AXPYH(R12, Y2, Y3)
	AXPYH(R11, Y4, Y5)
	AXPYH(R13, Y6, Y7)
	ADDQ R8, R10
	INCQ AX
	CMPQ AX, R9
	JLT  loop16

	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, (DI)(BX*1)
	VMOVUPS Y3, 32(DI)(BX*1)
	VMOVUPS Y4, (DI)(BX*2)
	VMOVUPS Y5, 32(DI)(BX*2)
	VMOVUPS Y6, (DI)(R14*1)
	VMOVUPS Y7, 32(DI)(R14*1)
	ADDQ $64, DI
	ADDQ $32, DX
	SUBQ $16, CX
	JMP  cols16

cols8:
	TESTQ CX, CX
	JZ    done
	VMOVUPS 0(DI), Y0
	VMOVUPS (DI)(BX*1), Y2
	VMOVUPS (DI)(BX*2), Y4
	VMOVUPS (DI)(R14*1), Y6
	MOVQ DX, R10
	XORQ AX, AX

loop8:
	PREFETCHT0 (R10)(R8*8)
	VCVTPH2PS 0(R10), Y8
	AXPYH1(SI, Y0)
	AXPYH1(R12, Y2)
	AXPYH1(R11, Y4)
	AXPYH1(R13, Y6)
	ADDQ R8, R10
	INCQ AX
	CMPQ AX, R9
	JLT  loop8
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y2, (DI)(BX*1)
	VMOVUPS Y4, (DI)(BX*2)
	VMOVUPS Y6, (DI)(R14*1)

done:
	VZEROUPPER
	RET

// func toFP16AVX2(dst *uint16, src *float32, n8 int, round bool)
// Converts 8·n8 float32s to fp16 with VCVTPS2PH (round to nearest even,
// IEEE overflow and subnormals, like quant.Float32ToFP16), storing the
// fp16 bits at dst, or with round set the values converted back to
// float32 over src (dst unused). NaNs are first made sign | quiet NaN with
// no payload, which converts to sign | 0x7e00 as the portable code gives.
TEXT ·toFP16AVX2(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n8+16(FP), CX
	MOVBQZX round+24(FP), BX
	MOVL $0x80000000, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15 // sign bit
	MOVL $0x7fc00000, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14 // quiet NaN
	TESTQ CX, CX
	JZ    fdone

floop:
	VMOVUPS (SI), Y0
	VCMPPS $3, Y0, Y0, Y1 // unordered: NaN lanes
	VANDPS Y15, Y0, Y2
	VORPS Y14, Y2, Y2
	VBLENDVPS Y1, Y2, Y0, Y0
	VCVTPS2PH $0, Y0, X3
	TESTQ BX, BX
	JNZ   fround
	VMOVDQU X3, (DI)
	ADDQ $16, DI
	JMP  fnext

fround:
	VCVTPH2PS X3, Y3
	VMOVUPS Y3, (SI)

fnext:
	ADDQ $32, SI
	DECQ CX
	JNZ  floop

fdone:
	VZEROUPPER
	RET

// func hsum8x8AVX2(a *[8][8]float32)
// Folds each of the eight rows of a with hsum8's additions, in the same
// order (IEEE addition is commutative, so only the pairing matters):
// t = lo + hi, u = (t0+t2, t1+t3), v = u0 + u1, all eight at once by
// shuffles, and writes the eight sums to a[0].
TEXT ·hsum8x8AVX2(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), DI
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	HSUM8X8
	VMOVUPS X6, 0(DI)
	VMOVUPS X7, 16(DI)
	VZEROUPPER
	RET
