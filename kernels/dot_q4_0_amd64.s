#include "textflag.h"
#include "qdot_amd64.h"

// Q4_0 × Q8_0 tile kernels, AVX2 + FMA + F16C. A Q4_0 block is an fp16
// scale and 16 bytes of nibbles q (x = d·(q-8)); activation records hold 32
// int8 quants and the block's bias -8·Σx. Q4_0 is a scalar kernel (see
// dotQ4_0): per block and pair,
//
//	isum = Σ q·x + bias                  // exact: Σ(q-8)·x
//	acc  = fma(float(isum), dw·dx, acc)
//
// The 32 products of a pair are summed by a tree that serves several dot
// products at once: VPMADDUBSW (pairs, at most 2·15·127), VPMADDWD against
// ones (sums of 4), then VPACKSSDW two vectors into one and VPMADDWD again
// (sums of 8, then 16: at most 16·15·127 = 30480, so the packs never
// saturate), and a last add of the two 128-bit halves. The result is the
// block sums of four (narrow) or eight (wide) dot products in one register,
// so the conversion and the fused multiply-add are done once for all.

// func tileQ4_0NarrowAVX2(t *tileArgs)
// Four weight rows against one activation row; the four accumulators are
// the lanes of X0.
TEXT ·tileQ4_0NarrowAVX2(SB), NOSPLIT, $0-8
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
	IMUL3Q $72, CX, R13
	ADDQ R8, R13
	VXORPS X0, X0, X0
	CMPQ CX, $2
	JLT  one

two:
	// Two blocks per step, their trees independent until the last level,
	// so that the out-of-order core has work to overlap; the two blocks
	// still meet the accumulators in order.
	PREFETCHT0 (R13)
	PREFETCHT0 64(R13)
	PREFETCHT0 128(R13)
	PREFETCHT0 143(R13)
	ADDQ $144, R13
	GATHER_FP16x4(R8, R9, R10, R11, 0, X12)
	VBROADCASTSS 0(DX), X2
	VMULPS X2, X12, X12 // scales of block b
	GATHER_FP16x4(R8, R9, R10, R11, 18, X1)
	VBROADCASTSS 4(DX), X2
	VMULPS X2, X1, X1 // scales of block b+1
	VMOVDQU 0(SI), Y4
	VMOVDQU 64(SI), Y2

	UNPACK_Q4(2(R8), Y5)
	VPMADDUBSW Y4, Y5, Y5
	VPMADDWD Y14, Y5, Y5
	UNPACK_Q4(20(R8), Y9)
	VPMADDUBSW Y2, Y9, Y9
	VPMADDWD Y14, Y9, Y9
	UNPACK_Q4(2(R9), Y6)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	UNPACK_Q4(20(R9), Y10)
	VPMADDUBSW Y2, Y10, Y10
	VPMADDWD Y14, Y10, Y10
	UNPACK_Q4(2(R10), Y7)
	VPMADDUBSW Y4, Y7, Y7
	VPMADDWD Y14, Y7, Y7
	UNPACK_Q4(20(R10), Y11)
	VPMADDUBSW Y2, Y11, Y11
	VPMADDWD Y14, Y11, Y11
	UNPACK_Q4(2(R11), Y8)
	VPMADDUBSW Y4, Y8, Y8
	VPMADDWD Y14, Y8, Y8
	UNPACK_Q4(20(R11), Y3)
	VPMADDUBSW Y2, Y3, Y3
	VPMADDWD Y14, Y3, Y3

	VPACKSSDW Y6, Y5, Y5
	VPACKSSDW Y10, Y9, Y9
	VPACKSSDW Y8, Y7, Y7
	VPACKSSDW Y3, Y11, Y11
	VPMADDWD Y14, Y5, Y5
	VPMADDWD Y14, Y9, Y9
	VPMADDWD Y14, Y7, Y7
	VPMADDWD Y14, Y11, Y11
	VPACKSSDW Y7, Y5, Y5
	VPACKSSDW Y11, Y9, Y9
	VPMADDWD Y14, Y5, Y5 // block b: rows 0-3 first halves | second halves
	VPMADDWD Y14, Y9, Y9 // block b+1
	VPERM2I128 $0x20, Y9, Y5, Y6
	VPERM2I128 $0x31, Y9, Y5, Y7
	VPADDD Y7, Y6, Y6 // block b's four sums | block b+1's
	VPBROADCASTD 32(SI), X7
	VPBROADCASTD 96(SI), X8
	VINSERTI128 $1, X8, Y7, Y7
	VPADDD Y7, Y6, Y6 // biases
	VCVTDQ2PS Y6, Y6
	VFMADD231PS X12, X6, X0
	VEXTRACTF128 $1, Y6, X6
	VFMADD231PS X1, X6, X0

	ADDQ $36, R8
	ADDQ $36, R9
	ADDQ $36, R10
	ADDQ $36, R11
	ADDQ $128, SI
	ADDQ $8, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  two

one:
	TESTQ CX, CX
	JZ    done
	// The last block of an odd count.
	GATHER_FP16x4(R8, R9, R10, R11, 0, X12)
	VBROADCASTSS (DX), X9
	VMULPS X9, X12, X12
	VMOVDQU (SI), Y4
	UNPACK_Q4(2(R8), Y5)
	VPMADDUBSW Y4, Y5, Y5
	VPMADDWD Y14, Y5, Y5
	UNPACK_Q4(2(R9), Y6)
	VPMADDUBSW Y4, Y6, Y6
	VPMADDWD Y14, Y6, Y6
	UNPACK_Q4(2(R10), Y7)
	VPMADDUBSW Y4, Y7, Y7
	VPMADDWD Y14, Y7, Y7
	UNPACK_Q4(2(R11), Y8)
	VPMADDUBSW Y4, Y8, Y8
	VPMADDWD Y14, Y8, Y8
	VPACKSSDW Y6, Y5, Y5
	VPACKSSDW Y8, Y7, Y7
	VPMADDWD Y14, Y5, Y5
	VPMADDWD Y14, Y7, Y7
	VPACKSSDW Y7, Y5, Y5
	VPMADDWD Y14, Y5, Y5
	VEXTRACTI128 $1, Y5, X6
	VPADDD X6, X5, X5
	VPBROADCASTD 32(SI), X6
	VPADDD X6, X5, X5
	VCVTDQ2PS X5, X5
	VFMADD231PS X12, X5, X0

done:
	VMOVUPS X0, T_OUT(DI)
	VZEROUPPER
	RET

// func tileQ4_0WideAVX2(t *tileArgs)
// One weight row against a panel of eight activation rows, whose eight
// accumulators are the lanes of Y0, continued from and left in t.acc[0].
// Wide records: the eight rows' quants (256 bytes), then their biases.
TEXT ·tileQ4_0WideAVX2(SB), NOSPLIT, $0-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	MOVQ T_ACC(DI), R9
	VMOVUPS (R9), Y0
	TESTQ CX, CX
	JZ    wdone

wloop:
	// Scales dw·dx_c of the eight rows.
	VPBROADCASTW (R8), X9
	VCVTPH2PS X9, Y9
	VMULPS (DX), Y9, Y9
	UNPACK_Q4(2(R8), Y8)
	VPMADDUBSW 0(SI), Y8, Y1
	VPMADDUBSW 32(SI), Y8, Y2
	VPMADDUBSW 64(SI), Y8, Y3
	VPMADDUBSW 96(SI), Y8, Y4
	VPMADDUBSW 128(SI), Y8, Y5
	VPMADDUBSW 160(SI), Y8, Y6
	VPMADDUBSW 192(SI), Y8, Y7
	VPMADDUBSW 224(SI), Y8, Y10
	VPMADDWD Y14, Y1, Y1
	VPMADDWD Y14, Y2, Y2
	VPMADDWD Y14, Y3, Y3
	VPMADDWD Y14, Y4, Y4
	VPMADDWD Y14, Y5, Y5
	VPMADDWD Y14, Y6, Y6
	VPMADDWD Y14, Y7, Y7
	VPMADDWD Y14, Y10, Y10
	VPACKSSDW Y2, Y1, Y1
	VPACKSSDW Y4, Y3, Y3
	VPACKSSDW Y6, Y5, Y5
	VPACKSSDW Y10, Y7, Y7
	VPMADDWD Y14, Y1, Y1
	VPMADDWD Y14, Y3, Y3
	VPMADDWD Y14, Y5, Y5
	VPMADDWD Y14, Y7, Y7
	VPACKSSDW Y3, Y1, Y1 // rows 0-3: first halves | second halves
	VPACKSSDW Y7, Y5, Y5 // rows 4-7
	VPMADDWD Y14, Y1, Y1
	VPMADDWD Y14, Y5, Y5
	VPERM2I128 $0x20, Y5, Y1, Y3
	VPERM2I128 $0x31, Y5, Y1, Y7
	VPADDD Y7, Y3, Y3        // the eight block sums, in order
	VPADDD 256(SI), Y3, Y3   // biases
	VCVTDQ2PS Y3, Y3
	VFMADD231PS Y9, Y3, Y0
	ADDQ $18, R8
	ADDQ $288, SI
	ADDQ $32, DX
	DECQ CX
	JNZ  wloop

wdone:
	VMOVUPS Y0, (R9)
	VZEROUPPER
	RET

// Q4_0x8 (see pack.go): a group of eight weight rows, interleaved, against
// one activation row (narrow Q8_0B records: x[32], bias -8·Σx). Per block,
// the 32-byte loads at q[0:2], q[2:4], q[4:6] and q[6:8] hold the nibbles
// of rows (0|4), (1|5), (2|6) and (3|7); with the activation's first and
// last 16 quants broadcast to both halves, low nibbles meet x[0:16] and
// high nibbles x[16:32], VPMADDUBSW and VPADDW give sums of 4 products
// (at most 4·15·127) and VPMADDWD of 8, one register per pair of rows.
// Two VPACKSSDW levels (sums of 16 and then 32 products, at most 30480
// before the last pack) leave the eight block sums in row order:
//
//	(0|4) (1|5) → 0 0 1 1 | 4 4 5 5,  (2|6) (3|7) → 2 2 3 3 | 6 6 7 7
//	→ 0 1 2 3 | 4 5 6 7
//
// and then, per row as in dotQ4_0, acc = fma(float(isum + bias), dw·dx, acc).

// func tileQ4_0x8NarrowAVX2(t *tileArgs)
TEXT ·tileQ4_0x8NarrowAVX2(SB), NOSPLIT, $0-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JZ    pdone

ploop:
	PREFETCHT0 3456(R8)
	PREFETCHT0 3520(R8)
	PREFETCHT0 3584(R8)
	VBROADCASTI128 0(SI), Y1  // x[0:16] | x[0:16]
	VBROADCASTI128 16(SI), Y2 // x[16:32] | x[16:32]

	VMOVDQU 16(R8), Y3
	VPSRLW $4, Y3, Y4
	VPAND Y15, Y3, Y3
	VPAND Y15, Y4, Y4
	VPMADDUBSW Y1, Y3, Y3
	VPMADDUBSW Y2, Y4, Y4
	VPADDW Y4, Y3, Y3
	VPMADDWD Y14, Y3, Y3 // rows 0 | 4

	VMOVDQU 48(R8), Y5
	VPSRLW $4, Y5, Y6
	VPAND Y15, Y5, Y5
	VPAND Y15, Y6, Y6
	VPMADDUBSW Y1, Y5, Y5
	VPMADDUBSW Y2, Y6, Y6
	VPADDW Y6, Y5, Y5
	VPMADDWD Y14, Y5, Y5 // rows 1 | 5

	VMOVDQU 80(R8), Y7
	VPSRLW $4, Y7, Y8
	VPAND Y15, Y7, Y7
	VPAND Y15, Y8, Y8
	VPMADDUBSW Y1, Y7, Y7
	VPMADDUBSW Y2, Y8, Y8
	VPADDW Y8, Y7, Y7
	VPMADDWD Y14, Y7, Y7 // rows 2 | 6

	VMOVDQU 112(R8), Y9
	VPSRLW $4, Y9, Y10
	VPAND Y15, Y9, Y9
	VPAND Y15, Y10, Y10
	VPMADDUBSW Y1, Y9, Y9
	VPMADDUBSW Y2, Y10, Y10
	VPADDW Y10, Y9, Y9
	VPMADDWD Y14, Y9, Y9 // rows 3 | 7

	VPACKSSDW Y5, Y3, Y3
	VPACKSSDW Y9, Y7, Y7
	VPMADDWD Y14, Y3, Y3
	VPMADDWD Y14, Y7, Y7
	VPACKSSDW Y7, Y3, Y3
	VPMADDWD Y14, Y3, Y3 // the eight block sums, rows in order
	VPBROADCASTD 32(SI), Y4
	VPADDD Y4, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VCVTPH2PS (R8), Y4
	VBROADCASTSS (DX), Y5
	VMULPS Y5, Y4, Y4 // dw·dx
	VFMADD231PS Y4, Y3, Y0

	ADDQ $144, R8
	ADDQ $64, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  ploop

pdone:
	VMOVUPS Y0, T_OUT(DI)
	VZEROUPPER
	RET
