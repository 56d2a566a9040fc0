#include "textflag.h"
#include "qdot_amd64.h"

// Q4_1 × Q8_1 tile kernels, AVX2 + FMA + F16C. A Q4_1 block is d @0 | m @2 |
// qs[16] @4, x = d·q + m. As dotQ4_1 (and ggml): the lanes carry d·dx·Σq·x,
//
//	lanes = VPMADDWD(VPMADDUBSW(q, x), 1)   // unsigned q, signed x: no correction
//	acc   = fma(float(lanes), dw·dx, acc)
//
// and the m·s terms are summed apart, one block at a time, and added to the
// folded lanes at the end. Narrow tiles interleave four rows; wide tiles
// take the eight activation rows' quants straight from the panel.

// func tileQ4_1NarrowAVX2(t *tileArgs)
// Four weight rows against one activation row, interleaved block by block:
// four independent accumulation chains hide the FMA latency.
TEXT ·tileQ4_1NarrowAVX2(SB), NOSPLIT, $0-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R8
	MOVQ T_W1(DI), R9
	MOVQ T_W2(DI), R10
	MOVQ T_W3(DI), R11
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	MOVQ T_S(DI), R14
	VXORPS X5, X5, X5 // Σ m·s of the four rows
	// The next narrow tile's rows follow these four in memory: prefetch
	// that tile linearly as we go, a share of it per step, so that memory
	// is read in order however short the rows (the four interleaved
	// streams of a tile are too short for the hardware prefetcher).
	IMUL3Q $80, CX, R13
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
	PREFETCHT0 79(R13)
	ADDQ $80, R13
	// Scales dw_r·dx of the four rows, broadcast from X12 by shuffles
	// (a store and reloads would stall on store forwarding).
	GATHER_FP16x4(R8, R9, R10, R11, 0, X12)
	VBROADCASTSS (DX), X9
	VMULPS X9, X12, X12
	// m_r·s, one block at a time, into the four rows' sums.
	GATHER_FP16x4(R8, R9, R10, R11, 2, X11)
	VBROADCASTSS (R14), X9
	VMULPS X9, X11, X11
	VADDPS X11, X5, X5
	VMOVDQU (SI), Y4   // x
	UNPACK_Q4(4(R8), Y6)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VBROADCASTSS X12, Y7
	VFMADD231PS Y7, Y6, Y0
	UNPACK_Q4(4(R9), Y8)
	VPMADDUBSW Y4, Y8, Y8
	VPMADDWD Y14, Y8, Y8
	VCVTDQ2PS Y8, Y8
	VMOVSHDUP X12, X9
	VBROADCASTSS X9, Y9
	VFMADD231PS Y9, Y8, Y1
	UNPACK_Q4(4(R10), Y10)
	VPMADDUBSW Y4, Y10, Y10
	VPMADDWD Y14, Y10, Y10
	VCVTDQ2PS Y10, Y10
	VMOVHLPS X12, X12, X11
	VBROADCASTSS X11, Y11
	VFMADD231PS Y11, Y10, Y2
	UNPACK_Q4(4(R11), Y6)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	VCVTDQ2PS Y6, Y6
	VSHUFPS $0xff, X12, X12, X7
	VBROADCASTSS X7, Y7
	VFMADD231PS Y7, Y6, Y3
	ADDQ $20, R8
	ADDQ $20, R9
	ADDQ $20, R10
	ADDQ $20, R11
	ADDQ $64, SI
	ADDQ $4, DX
	ADDQ $4, R14
	DECQ CX
	JNZ  loop

done:
	HSUM8(Y0, X0, X8)
	HSUM8(Y1, X1, X8)
	HSUM8(Y2, X2, X8)
	HSUM8(Y3, X3, X8)
	// out_r = hsum8 + Σ m·s
	VMOVUPS X5, T_OUT(DI)
	VADDSS T_OUT+0(DI), X0, X0
	VADDSS T_OUT+4(DI), X1, X1
	VADDSS T_OUT+8(DI), X2, X2
	VADDSS T_OUT+12(DI), X3, X3
	VMOVSS X0, T_OUT+0(DI)
	VMOVSS X1, T_OUT+4(DI)
	VMOVSS X2, T_OUT+8(DI)
	VMOVSS X3, T_OUT+12(DI)
	VZEROUPPER
	RET


// The wide kernel needs no correction: the quants q are unsigned and the
// activations signed, as VPMADDUBSW wants them, and the panel stores x as
// is. Σ m·s goes to t.sum, a vector of the eight rows' sums.

#define WIDE_PAIR1(C, ACC) \
	VPMADDUBSW C*32(SI), Y8, Y11 \
	VPMADDWD Y14, Y11, Y11 \
	VCVTDQ2PS Y11, Y11 \
	VBROADCASTSS C*4(SP), Y12 \
	VFMADD231PS Y12, Y11, ACC

// func tileQ4_1WideAVX2(t *tileArgs)
// One weight row against a panel of eight activation rows, continuing the
// lane accumulators at t.acc.
TEXT ·tileQ4_1WideAVX2(SB), NOSPLIT, $32-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	MOVQ T_ACC(DI), R9
	MOVQ T_S(DI), R14
	MOVQ T_SUM(DI), R10
	VMOVUPS (R10), Y10 // Σ m·s of the eight rows
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
	UNPACK_Q4(4(R8), Y8)
	// m·s_c into the eight sums
	VPBROADCASTW 2(R8), X9
	VCVTPH2PS X9, Y9
	VMULPS (R14), Y9, Y9
	VADDPS Y9, Y10, Y10
	WIDE_PAIR1(0, Y0)
	WIDE_PAIR1(1, Y1)
	WIDE_PAIR1(2, Y2)
	WIDE_PAIR1(3, Y3)
	WIDE_PAIR1(4, Y4)
	WIDE_PAIR1(5, Y5)
	WIDE_PAIR1(6, Y6)
	WIDE_PAIR1(7, Y7)
	ADDQ $20, R8
	ADDQ $256, SI
	ADDQ $32, DX
	ADDQ $32, R14
	DECQ CX
	JNZ  wloop

wdone:
	VMOVUPS Y10, (R10)
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
