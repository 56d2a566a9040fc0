#include "textflag.h"
#include "qdot_amd64.h"

// Q8_0 × Q8_0 tile kernels, AVX2 + FMA + F16C. Both operands are signed,
// so the sign moves onto the activations (ggml's trick):
//
//	lanes = VPMADDWD(VPMADDUBSW(|w|, sign(x, w)), 1)   // Σ w·x, 4 elements a lane
//	acc   = fma(float(lanes), dw·dx, acc)
//
// |w| ≤ 128 read as unsigned and |sign(x, w)| ≤ 127 (activation quants never
// reach -128), so a pair sum is at most 2·128·127 and cannot saturate.

// func tileQ8_0NarrowAVX2(t *tileArgs)
TEXT ·tileQ8_0NarrowAVX2(SB), NOSPLIT, $0-8
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
	IMUL3Q $136, CX, R13
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
	PREFETCHT0 128(R13)
	PREFETCHT0 135(R13)
	ADDQ $136, R13
	// Scales dw_r·dx of the four rows, broadcast from X12 by shuffles.
	GATHER_FP16x4(R8, R9, R10, R11, 0, X12)
	VBROADCASTSS (DX), X9
	VMULPS X9, X12, X12
	VMOVDQU (SI), Y4 // x

	VMOVDQU 2(R8), Y6
	VPSIGNB Y6, Y4, Y7
	VPABSB Y6, Y6
	VPMADDUBSW Y7, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VBROADCASTSS X12, Y7
	VFMADD231PS Y7, Y6, Y0

	VMOVDQU 2(R9), Y8
	VPSIGNB Y8, Y4, Y9
	VPABSB Y8, Y8
	VPMADDUBSW Y9, Y8, Y8
	VPMADDWD Y14, Y8, Y8
	VCVTDQ2PS Y8, Y8
	VMOVSHDUP X12, X9
	VBROADCASTSS X9, Y9
	VFMADD231PS Y9, Y8, Y1

	VMOVDQU 2(R10), Y10
	VPSIGNB Y10, Y4, Y11
	VPABSB Y10, Y10
	VPMADDUBSW Y11, Y10, Y10
	VPMADDWD Y14, Y10, Y10
	VCVTDQ2PS Y10, Y10
	VMOVHLPS X12, X12, X11
	VBROADCASTSS X11, Y11
	VFMADD231PS Y11, Y10, Y2

	VMOVDQU 2(R11), Y6
	VPSIGNB Y6, Y4, Y7
	VPABSB Y6, Y6
	VPMADDUBSW Y7, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VSHUFPS $0xff, X12, X12, X7
	VBROADCASTSS X7, Y7
	VFMADD231PS Y7, Y6, Y3

	ADDQ $34, R8
	ADDQ $34, R9
	ADDQ $34, R10
	ADDQ $34, R11
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

// WIDE_PAIR8(C, ACC): Y8 = w, Y10 = |w|.
#define WIDE_PAIR8(C, ACC) \
	VMOVDQU C*32(SI), Y11 \
	VPSIGNB Y8, Y11, Y11 \
	VPMADDUBSW Y11, Y10, Y11 \
	VPMADDWD Y14, Y11, Y11 \
	VCVTDQ2PS Y11, Y11 \
	VBROADCASTSS C*4(SP), Y12 \
	VFMADD231PS Y12, Y11, ACC

// func tileQ8_0RowsAVX2(t *tileArgs)
// Wide tiles of t.nr consecutive weight rows, t.wrs bytes apart, against a
// panel of eight activation rows: row i continues the eight lane
// accumulators of each activation row at t.acc[i] (256 bytes).
TEXT ·tileQ8_0RowsAVX2(SB), NOSPLIT, $32-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R13
	MOVQ T_ACC(DI), R9
	MOVQ T_NR(DI), R12
	MOVQ T_WRS(DI), R10
	TESTQ R12, R12
	JZ    rdone

rrow:
	MOVQ R13, R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	VMOVUPS 0(R9), Y0
	VMOVUPS 32(R9), Y1
	VMOVUPS 64(R9), Y2
	VMOVUPS 96(R9), Y3
	VMOVUPS 128(R9), Y4
	VMOVUPS 160(R9), Y5
	VMOVUPS 192(R9), Y6
	VMOVUPS 224(R9), Y7
	TESTQ CX, CX
	JZ    rstore

rloop:
	VPBROADCASTW (R8), X9
	VCVTPH2PS X9, Y9
	VMULPS (DX), Y9, Y9
	VMOVUPS Y9, (SP)
	VMOVDQU 2(R8), Y8
	VPABSB Y8, Y10
	WIDE_PAIR8(0, Y0)
	WIDE_PAIR8(1, Y1)
	WIDE_PAIR8(2, Y2)
	WIDE_PAIR8(3, Y3)
	WIDE_PAIR8(4, Y4)
	WIDE_PAIR8(5, Y5)
	WIDE_PAIR8(6, Y6)
	WIDE_PAIR8(7, Y7)
	ADDQ $34, R8
	ADDQ $256, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  rloop

rstore:
	VMOVUPS Y0, 0(R9)
	VMOVUPS Y1, 32(R9)
	VMOVUPS Y2, 64(R9)
	VMOVUPS Y3, 96(R9)
	VMOVUPS Y4, 128(R9)
	VMOVUPS Y5, 160(R9)
	VMOVUPS Y6, 192(R9)
	VMOVUPS Y7, 224(R9)
	ADDQ $256, R9
	ADDQ R10, R13
	DECQ R12
	JNZ  rrow

rdone:
	VZEROUPPER
	RET
