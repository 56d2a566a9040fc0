#include "textflag.h"

// Activation quantizers, AVX2 + F16C, bit-identical to quantQ8_0Block and
// quantQ8_KBlock (and so to quant.Quantize). Blocks the vector code cannot
// reproduce exactly (a NaN, an infinity, or a largest magnitude outside
// [2^-100, 2^100], where 1/d could overflow) are left to the Go code: their
// scale is written as the bit pattern 0xffffffff, which no real scale has.

DATA q8consts<>+0(SB)/4, $0x7fffffff  // |x| mask
DATA q8consts<>+4(SB)/4, $0x80000000  // sign
DATA q8consts<>+8(SB)/4, $0x3f800000  // 1.0
DATA q8consts<>+12(SB)/4, $0x3f000000 // 0.5
DATA q8consts<>+16(SB)/4, $0x42fe0000 // 127.0
DATA q8consts<>+20(SB)/4, $0x0d800000 // 2^-100
DATA q8consts<>+24(SB)/4, $0x71800000 // 2^100
DATA q8consts<>+28(SB)/4, $0x4b400000 // 1.5·2^23 (nearest_int)
DATA q8consts<>+32(SB)/4, $0x007fffff
DATA q8consts<>+36(SB)/4, $0x00400000
DATA q8consts<>+40(SB)/4, $127
DATA q8consts<>+44(SB)/4, $0xc2fe0000 // -127.0
GLOBL q8consts<>(SB), RODATA|NOPTR, $48

// Byte order fix after VPACKSSDW/VPACKSSWB of four dword vectors.
DATA packperm<>+0(SB)/4, $0
DATA packperm<>+4(SB)/4, $4
DATA packperm<>+8(SB)/4, $1
DATA packperm<>+12(SB)/4, $5
DATA packperm<>+16(SB)/4, $2
DATA packperm<>+20(SB)/4, $6
DATA packperm<>+24(SB)/4, $3
DATA packperm<>+28(SB)/4, $7
GLOBL packperm<>(SB), RODATA|NOPTR, $32

#define BCAST(off, Y, X) VBROADCASTSS q8consts<>+off(SB), Y

// ROUND_AWAY(Y) rounds the float32 lanes of Y half away from zero (roundf),
// exactly for |Y| < 2^22, and converts them to int32. Y12 = 0.5, Y13 = 1.0,
// Y14 = sign, Y15 = |x| mask. Clobbers Y8-Y10.
#define ROUND_AWAY(Y) \
	VROUNDPS $3, Y, Y8 \
	VSUBPS Y8, Y, Y9 \
	VANDPS Y15, Y9, Y9 \
	VCMPPS $0x1d, Y12, Y9, Y9 \
	VANDPS Y14, Y, Y10 \
	VORPS Y13, Y10, Y10 \
	VANDPS Y9, Y10, Y10 \
	VADDPS Y10, Y8, Y \
	VCVTTPS2DQ Y, Y

// func quantQ8_0AVX2(x *float32, nb int, q *byte, qStride int, d *float32, dStride int, bias *byte, biasMul int32, flip uint32)
// Quantizes nb blocks of 32 values to Q8_0: block b's quants to q + b·qStride,
// its fp16-rounded scale to d + b·dStride (floats); with bias non-nil,
// biasMul times the eight lane sums of the quants (int32) to bias + b·qStride;
// flip is XORed into every stored quant byte (0x80 for wide Q4_0 panels).
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ q+16(FP), DI
	MOVQ qStride+24(FP), R8
	MOVQ d+32(FP), DX
	MOVQ dStride+40(FP), R9
	SHLQ $2, R9
	MOVQ bias+48(FP), R10
	MOVL biasMul+56(FP), AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11
	MOVL flip+60(FP), AX
	VMOVD AX, X7
	VPBROADCASTB X7, Y7
	BCAST(12, Y12, X12)
	BCAST(8, Y13, X13)
	BCAST(4, Y14, X14)
	BCAST(0, Y15, X15)
	TESTQ CX, CX
	JZ    done

block:
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	// amax, and whether any value is NaN.
	VANDPS Y15, Y0, Y4
	VANDPS Y15, Y1, Y5
	VMAXPS Y5, Y4, Y4
	VANDPS Y15, Y2, Y5
	VMAXPS Y5, Y4, Y4
	VANDPS Y15, Y3, Y5
	VMAXPS Y5, Y4, Y4
	VCMPPS $3, Y0, Y0, Y5 // unordered: NaN
	VCMPPS $3, Y1, Y1, Y6
	VORPS Y6, Y5, Y5
	VCMPPS $3, Y2, Y2, Y6
	VORPS Y6, Y5, Y5
	VCMPPS $3, Y3, Y3, Y6
	VORPS Y6, Y5, Y5
	VMOVMSKPS Y5, AX
	TESTL AX, AX
	JNZ   fallback
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4 // amax in every lane
	VUCOMISS q8consts<>+20(SB), X4
	JB    fallback
	VUCOMISS q8consts<>+24(SB), X4
	JA    fallback
	// d = amax/127, id = 1/d, scale stored as fp16-rounded d.
	VDIVSS q8consts<>+16(SB), X4, X5
	VMOVSS q8consts<>+8(SB), X6
	VDIVSS X5, X6, X6
	VCVTPS2PH $0, X5, X5
	VCVTPH2PS X5, X5
	VMOVSS X5, (DX)
	VBROADCASTSS X6, Y6
	VMULPS Y6, Y0, Y0
	VMULPS Y6, Y1, Y1
	VMULPS Y6, Y2, Y2
	VMULPS Y6, Y3, Y3
	ROUND_AWAY(Y0)
	ROUND_AWAY(Y1)
	ROUND_AWAY(Y2)
	ROUND_AWAY(Y3)
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VMOVDQU packperm<>(SB), Y1
	VPERMD Y0, Y1, Y0 // the 32 quants in order
	TESTQ R10, R10
	JZ    store
	// bias = biasMul · (sums of four consecutive quants)
	MOVL $0x01010101, AX
	VMOVD AX, X1
	VPBROADCASTD X1, Y1
	VPMADDUBSW Y0, Y1, Y2
	MOVL $0x00010001, AX
	VMOVD AX, X1
	VPBROADCASTD X1, Y1
	VPMADDWD Y1, Y2, Y2
	VPMULLD Y11, Y2, Y2
	VMOVDQU Y2, (R10)

store:
	VPXOR Y7, Y0, Y0
	VMOVDQU Y0, (DI)
	JMP next

fallback:
	MOVL $0xffffffff, AX
	MOVL AX, (DX)

next:
	ADDQ $128, SI
	ADDQ R8, DI
	TESTQ R10, R10
	JZ    nobias
	ADDQ R8, R10

nobias:
	ADDQ R9, DX
	DECQ CX
	JNZ  block

done:
	VZEROUPPER
	RET

// func quantQ8_KAVX2(x *float32, nb int, q *byte, qStride int, d *float32, dStride int, bsums *byte)
// Quantizes nb super-blocks of 256 values to Q8_K: quants to q + b·qStride,
// the float32 scale to d + b·dStride (floats), the sixteen int16 sums of 16
// quants to bsums + b·qStride.
TEXT ·quantQ8_KAVX2(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ q+16(FP), DI
	MOVQ qStride+24(FP), R8
	MOVQ d+32(FP), DX
	MOVQ dStride+40(FP), R9
	SHLQ $2, R9
	MOVQ bsums+48(FP), R10
	BCAST(0, Y15, X15)  // |x| mask
	BCAST(28, Y14, X14) // 1.5·2^23
	BCAST(32, Y13, X13) // 0x007fffff
	BCAST(36, Y12, X12) // 0x00400000
	BCAST(40, Y11, X11) // 127
	TESTQ CX, CX
	JZ    kdone

kblock:
	// amax over the 32 vectors, NaN check.
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ AX, AX

kmax:
	VMOVUPS (SI)(AX*1), Y2
	VANDPS Y15, Y2, Y3
	VMAXPS Y3, Y0, Y0
	VCMPPS $3, Y2, Y2, Y3
	VORPS Y3, Y1, Y1
	ADDQ $32, AX
	CMPQ AX, $1024
	JLT  kmax
	VMOVMSKPS Y1, AX
	TESTL AX, AX
	JNZ   kfallback
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0 // amax in every lane
	VUCOMISS q8consts<>+20(SB), X0
	JB    kfallback
	VUCOMISS q8consts<>+24(SB), X0
	JA    kfallback
	// The first element whose magnitude is amax: its signed value.
	VINSERTF128 $1, X0, Y0, Y0
	XORQ AX, AX

kfind:
	VMOVUPS (SI)(AX*1), Y2
	VANDPS Y15, Y2, Y3
	VCMPPS $0, Y0, Y3, Y3
	VMOVMSKPS Y3, BX
	TESTL BX, BX
	JNZ   kfound
	ADDQ $32, AX
	JMP  kfind

kfound:
	BSFL BX, BX
	LEAQ (AX)(BX*4), AX
	VMOVSS (SI)(AX*1), X1 // max
	// iscale = -127/max, d = 1/iscale.
	VMOVSS q8consts<>+44(SB), X2
	VDIVSS X1, X2, X2
	VMOVSS q8consts<>+8(SB), X3
	VDIVSS X2, X3, X3
	VMOVSS X3, (DX)
	VBROADCASTSS X2, Y10
	XORQ AX, AX // float offset
	XORQ BX, BX // group of 32

kquant:
	VMULPS (SI)(AX*1), Y10, Y0
	VMULPS 32(SI)(AX*1), Y10, Y1
	VMULPS 64(SI)(AX*1), Y10, Y2
	VMULPS 96(SI)(AX*1), Y10, Y3
	VADDPS Y14, Y0, Y0
	VADDPS Y14, Y1, Y1
	VADDPS Y14, Y2, Y2
	VADDPS Y14, Y3, Y3
	VPAND Y13, Y0, Y0
	VPAND Y13, Y1, Y1
	VPAND Y13, Y2, Y2
	VPAND Y13, Y3, Y3
	VPSUBD Y12, Y0, Y0
	VPSUBD Y12, Y1, Y1
	VPSUBD Y12, Y2, Y2
	VPSUBD Y12, Y3, Y3
	VPMINSD Y11, Y0, Y0
	VPMINSD Y11, Y1, Y1
	VPMINSD Y11, Y2, Y2
	VPMINSD Y11, Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VMOVDQU packperm<>(SB), Y1
	VPERMD Y0, Y1, Y0
	VMOVDQU Y0, (DI)(BX*1)
	// Sums of 16: VPSADBW of q^0x80 against zero sums 8 bytes + 1024.
	MOVL $0x80808080, R11
	VMOVD R11, X1
	VPBROADCASTD X1, Y1
	VPXOR Y1, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPSADBW Y1, Y0, Y0
	VPSHUFD $0x4e, Y0, Y1
	VPADDQ Y1, Y0, Y0 // qword 0: first 16, qword 2: second 16
	VMOVQ X0, R11
	SUBL $2048, R11
	MOVQ BX, R13
	SHRQ $3, R13 // byte offset of the group's two bsums
	MOVW R11, (R10)(R13*1)
	VEXTRACTI128 $1, Y0, X0
	VMOVQ X0, R11
	SUBL $2048, R11
	MOVW R11, 2(R10)(R13*1)
	ADDQ $128, AX
	ADDQ $32, BX
	CMPQ BX, $256
	JLT  kquant
	JMP  knext

kfallback:
	MOVL $0xffffffff, AX
	MOVL AX, (DX)

knext:
	ADDQ $1024, SI
	ADDQ R8, DI
	ADDQ R8, R10
	ADDQ R9, DX
	DECQ CX
	JNZ  kblock

kdone:
	VZEROUPPER
	RET
