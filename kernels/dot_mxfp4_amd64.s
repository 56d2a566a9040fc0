#include "textflag.h"
#include "qdot_amd64.h"

// MXFP4 × Q8_0 tile kernels, AVX2 + FMA + F16C. An MXFP4 block is the E8M0
// scale byte e @0 | qs[16] @1, nibbles laid out as Q4_0's, indexing the
// doubled E2M1 codebook; the block's float factor is ·e8m0Half[e] (a
// table in qdot_iq.go). Per block and pair, as dotMXFP4:
//
//	lanes = VPMADDWD(VPMADDUBSW(v, x), 1)   // 4 elements a lane
//	acc   = fma(float(lanes), e8m0Half[e]·dx, acc)
//
// The narrow kernel looks the nibbles up in the codebook plus 12, which is
// unsigned (0..24), and adds the record's bias, -12·(lane sums of x); the
// wide one moves the codebook's signs onto x as the IQ4_NL kernel does.
// |v| ≤ 24, so no pair sum saturates.

// mxfp4Plus12 is the codebook plus 12, in both 128-bit halves.
DATA mxfp4Plus12<>+0(SB)/8, $0x181412100f0e0d0c
DATA mxfp4Plus12<>+8(SB)/8, $0x00040608090a0b0c
DATA mxfp4Plus12<>+16(SB)/8, $0x181412100f0e0d0c
DATA mxfp4Plus12<>+24(SB)/8, $0x00040608090a0b0c
GLOBL mxfp4Plus12<>(SB), RODATA|NOPTR, $32

// mxfp4Signed is the codebook itself.
DATA mxfp4Signed<>+0(SB)/8, $0x0c08060403020100
DATA mxfp4Signed<>+8(SB)/8, $0xf4f8fafcfdfeff00
DATA mxfp4Signed<>+16(SB)/8, $0x0c08060403020100
DATA mxfp4Signed<>+24(SB)/8, $0xf4f8fafcfdfeff00
GLOBL mxfp4Signed<>(SB), RODATA|NOPTR, $32

// MX_ROW(R, ACC) adds the block at R of one weight row to ACC: Y4 = dx,
// Y5 = the codebook plus 12, R12 = e8m0Half, SI = the narrow record.
#define MX_ROW(R, ACC) \
	MOVBLZX (R), AX \
	VBROADCASTSS (R12)(AX*4), Y7 \
	VMULPS Y4, Y7, Y7 \
	UNPACK_Q4(1(R), Y6) \
	VPSHUFB Y6, Y5, Y6 \
	VPMADDUBSW (SI), Y6, Y6 \
	VPMADDWD Y14, Y6, Y6 \
	VPADDD 32(SI), Y6, Y6 \
	VCVTDQ2PS Y6, Y6 \
	VFMADD231PS Y7, Y6, ACC

// func tileMXFP4NarrowAVX2(t *tileArgs)
// Four weight rows against one activation row, interleaved block by block.
TEXT ·tileMXFP4NarrowAVX2(SB), NOSPLIT, $0-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	VMOVDQU mxfp4Plus12<>(SB), Y5
	LEAQ ·e8m0Half(SB), R12
	MOVQ T_W0(DI), R8
	MOVQ T_W1(DI), R9
	MOVQ T_W2(DI), R10
	MOVQ T_W3(DI), R11
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	// Prefetch the next tile (the four rows after these) linearly, a
	// share of it per step, as the Q4_0 kernels do.
	IMUL3Q $68, CX, R13
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
	PREFETCHT0 67(R13)
	ADDQ $68, R13
	VBROADCASTSS (DX), Y4
	MX_ROW(R8, Y0)
	MX_ROW(R9, Y1)
	MX_ROW(R10, Y2)
	MX_ROW(R11, Y3)
	ADDQ $17, R8
	ADDQ $17, R9
	ADDQ $17, R10
	ADDQ $17, R11
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

// MX_WIDE(C, ACC): activation row C of the panel, Y8 = v, Y10 = |v|, the
// eight block scales at (SP).
#define MX_WIDE(C, ACC) \
	VMOVDQU C*32(SI), Y11 \
	VPSIGNB Y8, Y11, Y11 \
	VPMADDUBSW Y11, Y10, Y11 \
	VPMADDWD Y14, Y11, Y11 \
	VCVTDQ2PS Y11, Y11 \
	VBROADCASTSS C*4(SP), Y12 \
	VFMADD231PS Y12, Y11, ACC

// func tileMXFP4WideAVX2(t *tileArgs)
// One weight row against a panel of eight activation rows, continuing the
// lane accumulators at t.acc.
TEXT ·tileMXFP4WideAVX2(SB), NOSPLIT, $32-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS
	VMOVDQU mxfp4Signed<>(SB), Y9
	LEAQ ·e8m0Half(SB), R12
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
	MOVBLZX (R8), AX
	VBROADCASTSS (R12)(AX*4), Y11
	VMULPS (DX), Y11, Y11
	VMOVUPS Y11, (SP)
	UNPACK_Q4(1(R8), Y8)
	VPSHUFB Y8, Y9, Y8
	VPABSB Y8, Y10
	MX_WIDE(0, Y0)
	MX_WIDE(1, Y1)
	MX_WIDE(2, Y2)
	MX_WIDE(3, Y3)
	MX_WIDE(4, Y4)
	MX_WIDE(5, Y5)
	MX_WIDE(6, Y6)
	MX_WIDE(7, Y7)
	ADDQ $17, R8
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
