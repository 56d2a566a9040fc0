#include "textflag.h"
#include "qdot_amd64.h"

// Q5_0 × Q8_0 tile kernels, AVX2 + FMA + F16C. A Q5_0 block is
// d @0 | qh (32 bits) @2 | qs[16] @6, x = d·(q-16), q's fifth bit being bit j
// of qh for element j. Per block and pair, as dotQ5_0:
//
//	lanes = VPMADDWD(VPMADDUBSW(q, x), 1) + bias   // Σ(q-16)·x, 4 elements a lane
//	acc   = fma(float(lanes), dw·dx, acc)
//
// with the narrow record's bias = -16·(lane sums of x). The wide kernel
// stores x+128 in its panel and makes the weights signed, ws = q-16,
// correcting with 128·(lane sums of ws): |(x+128)·w + (x'+128)·w'| ≤
// 2·255·16, so VPMADDUBSW cannot saturate.

DATA q5bitshuf<>+0(SB)/8, $0x0000000000000000
DATA q5bitshuf<>+8(SB)/8, $0x0101010101010101
DATA q5bitshuf<>+16(SB)/8, $0x0202020202020202
DATA q5bitshuf<>+24(SB)/8, $0x0303030303030303
GLOBL q5bitshuf<>(SB), RODATA|NOPTR, $32

DATA q5bitmask<>+0(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bitmask<>+8(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bitmask<>+16(SB)/8, $0x7fbfdfeff7fbfdfe
DATA q5bitmask<>+24(SB)/8, $0x7fbfdfeff7fbfdfe
GLOBL q5bitmask<>(SB), RODATA|NOPTR, $32

DATA q5ones<>+0(SB)/8, $-1
DATA q5ones<>+8(SB)/8, $-1
DATA q5ones<>+16(SB)/8, $-1
DATA q5ones<>+24(SB)/8, $-1
GLOBL q5ones<>(SB), RODATA|NOPTR, $32

DATA q5sixteen<>+0(SB)/8, $0x1010101010101010
DATA q5sixteen<>+8(SB)/8, $0x1010101010101010
DATA q5sixteen<>+16(SB)/8, $0x1010101010101010
DATA q5sixteen<>+24(SB)/8, $0x1010101010101010
GLOBL q5sixteen<>(SB), RODATA|NOPTR, $32

// FIFTH_BIT(R, Y, T) ORs bit j of the 32-bit qh at 2(R) into bit 4 of byte
// j of Y (ggml's bytes_from_bits_32: spread the four qh bytes over eight
// bytes each, keep one bit per byte, compare). Clobbers T.
#define FIFTH_BIT(R, Y, T) \
	VPBROADCASTD 2(R), T \
	VPSHUFB q5bitshuf<>(SB), T, T \
	VPOR q5bitmask<>(SB), T, T \
	VPCMPEQB q5ones<>(SB), T, T \
	VPAND q5sixteen<>(SB), T, T \
	VPOR T, Y, Y

// func tileQ5_0NarrowAVX2(t *tileArgs)
// Four weight rows against one activation row, interleaved block by block:
// four independent accumulation chains hide the FMA latency.
TEXT ·tileQ5_0NarrowAVX2(SB), NOSPLIT, $0-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R8
	MOVQ T_W1(DI), R9
	MOVQ T_W2(DI), R10
	MOVQ T_W3(DI), R11
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	// The next narrow tile's rows follow these four in memory: prefetch
	// that tile linearly as we go, a share of it per step, so that memory
	// is read in order however short the rows (the four interleaved
	// streams of a tile are too short for the hardware prefetcher).
	IMUL3Q $88, CX, R13
	ADDQ R8, R13
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ CX, CX
	JZ    done

loop:
	PREFETCHT0 (R13)
	PREFETCHT0 64(R13)
	PREFETCHT0 87(R13)
	ADDQ $88, R13
	// Scales dw_r·dx of the four rows, broadcast from X12 by shuffles
	// (a store and reloads would stall on store forwarding).
	GATHER_FP16x4(R8, R9, R10, R11, 0, X12)
	VBROADCASTSS (DX), X9
	VMULPS X9, X12, X12
	VMOVDQU (SI), Y4   // x
	VMOVDQU 32(SI), Y5 // bias
	UNPACK_Q4(6(R8), Y6)
	FIFTH_BIT(R8, Y6, Y7)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VPADDD Y5, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VBROADCASTSS X12, Y7
	VFMADD231PS Y7, Y6, Y0
	UNPACK_Q4(6(R9), Y8)
	FIFTH_BIT(R9, Y8, Y9)
	VPMADDUBSW Y4, Y8, Y8
	VPMADDWD Y14, Y8, Y8
	VPADDD Y5, Y8, Y8
	VCVTDQ2PS Y8, Y8
	VMOVSHDUP X12, X9
	VBROADCASTSS X9, Y9
	VFMADD231PS Y9, Y8, Y1
	UNPACK_Q4(6(R10), Y10)
	FIFTH_BIT(R10, Y10, Y11)
	VPMADDUBSW Y4, Y10, Y10
	VPMADDWD Y14, Y10, Y10
	VPADDD Y5, Y10, Y10
	VCVTDQ2PS Y10, Y10
	VMOVHLPS X12, X12, X11
	VBROADCASTSS X11, Y11
	VFMADD231PS Y11, Y10, Y2
	UNPACK_Q4(6(R11), Y6)
	FIFTH_BIT(R11, Y6, Y7)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VPADDD Y5, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VSHUFPS $0xff, X12, X12, X7
	VBROADCASTSS X7, Y7
	VFMADD231PS Y7, Y6, Y3
	ADDQ $22, R8
	ADDQ $22, R9
	ADDQ $22, R10
	ADDQ $22, R11
	ADDQ $64, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  loop

done:
	HSUM8(Y0, X0, X8)
	HSUM8(Y1, X1, X8)
	HSUM8(Y2, X2, X8)
	HSUM8(Y3, X3, X8)
	VMOVSS X0, T_OUT+0(DI)
	VMOVSS X1, T_OUT+4(DI)
	VMOVSS X2, T_OUT+8(DI)
	VMOVSS X3, T_OUT+12(DI)
	VZEROUPPER
	RET


// WIDE_PAIR5(C, ACC) adds the block's contribution to activation row C of
// the panel into ACC: Y8 = ws, Y9 = 128·(lane sums of ws).
#define WIDE_PAIR5(C, ACC) \
	VMOVDQU C*32(SI), Y11 \
	VPMADDUBSW Y8, Y11, Y11 \
	VPMADDWD Y14, Y11, Y11 \
	VPSUBD Y9, Y11, Y11 \
	VCVTDQ2PS Y11, Y11 \
	VBROADCASTSS C*4(SP), Y12 \
	VFMADD231PS Y12, Y11, ACC

// func tileQ5_0WideAVX2(t *tileArgs)
// One weight row against a panel of eight activation rows, continuing the
// lane accumulators at t.acc.
TEXT ·tileQ5_0WideAVX2(SB), NOSPLIT, $32-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVL $0x80808080, AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	MOVQ T_ACC(DI), R9
	VMOVUPS 0(R9), Y0
	VMOVUPS 32(R9), Y1
	VMOVUPS 64(R9), Y2
	VMOVUPS 96(R9), Y3
	VMOVUPS 128(R9), Y4
	VMOVUPS 160(R9), Y5
	VMOVUPS 192(R9), Y6
	VMOVUPS 224(R9), Y7
	TESTQ CX, CX
	JZ    wdone

wloop:
	// Scales dw·dx_c for the eight rows of the panel.
	VPBROADCASTW (R8), X9
	VCVTPH2PS X9, Y9
	VMULPS (DX), Y9, Y9
	VMOVUPS Y9, (SP)
	UNPACK_Q4(6(R8), Y8)
	FIFTH_BIT(R8, Y8, Y11)
	VPSUBB q5sixteen<>(SB), Y8, Y8
	VPMADDUBSW Y8, Y10, Y9
	VPMADDWD Y14, Y9, Y9
	WIDE_PAIR5(0, Y0)
	WIDE_PAIR5(1, Y1)
	WIDE_PAIR5(2, Y2)
	WIDE_PAIR5(3, Y3)
	WIDE_PAIR5(4, Y4)
	WIDE_PAIR5(5, Y5)
	WIDE_PAIR5(6, Y6)
	WIDE_PAIR5(7, Y7)
	ADDQ $22, R8
	ADDQ $256, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  wloop

wdone:
	VMOVUPS Y0, 0(R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	VMOVUPS Y4, 128(R9)
	VMOVUPS Y5, 160(R9)
	VMOVUPS Y6, 192(R9)
	VMOVUPS Y7, 224(R9)
	VZEROUPPER
	RET
