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
//
// The packed tiles (MXFP4x8, pack.go) do the narrow kernel's work for the
// eight rows of a group: tileMXFP4x8NarrowAVX2, and tileMXFP4x8NarrowVNNI,
// which sums each lane's four products onto the bias lanes with one
// VPDPBUSD instead of VPMADDUBSW, VPMADDWD and VPADDD: the same integers.

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

// mx8Bias63 is 63 in every int32: the float32 exponent bias less 64.
DATA mx8Bias63<>+0(SB)/8, $0x0000003f0000003f
DATA mx8Bias63<>+8(SB)/8, $0x0000003f0000003f
DATA mx8Bias63<>+16(SB)/8, $0x0000003f0000003f
DATA mx8Bias63<>+24(SB)/8, $0x0000003f0000003f
GLOBL mx8Bias63<>(SB), RODATA|NOPTR, $32

// MX8_SCALES(Q, D, DST) writes the eight float32 factors e8m0Half[e]·dx
// of the group block whose scale bytes are at Q(R8), dx at D(DX), to
// (DST): e8m0Half[e] = 2^(e-128) is computed, not looked up. With
// h = e>>1, the factors 2^(h-64) and 2^(e-h-64) are normal float32
// numbers for every byte (exponent fields h+63 and e-h+63, both in
// [63, 191]), and their product is 2^(e-128) exactly, the subnormals
// 2^-128 and 2^-127 of e = 0 and 1 included; the product with dx is then
// rounded once, as e8m0Half[e]·dx is. Clobbers Y9, Y14.
#define MX8_SCALES(Q, D, DST) \
	VPMOVZXBD Q(R8), Y14 \
	VPSRLD $1, Y14, Y9 \
	VPSUBD Y9, Y14, Y14 \
	VPADDD mx8Bias63<>(SB), Y9, Y9 \
	VPADDD mx8Bias63<>(SB), Y14, Y14 \
	VPSLLD $23, Y9, Y9 \
	VPSLLD $23, Y14, Y14 \
	VMULPS Y9, Y14, Y14 \
	VBROADCASTSS D(DX), Y9 \
	VMULPS Y9, Y14, Y14 \
	VMOVUPS Y14, (DST)

// MX8_ROW(R, ACC) adds row R of the group block at R8 (its quants at
// 8+16R(R8), its factor at 4R(R9)) to ACC, as MX_ROW does for a row
// stored apart: Y8 = the codebook plus 12, Y10 = the record's x, Y11 its
// bias lanes, Y12 = 1 in every int16, Y13 and Y15 as SETUP_CONSTS leaves
// them. Clobbers Y9, Y14.
#define MX8_ROW(R, ACC) \
	VBROADCASTI128 (8+16*R)(R8), Y14 \
	VPSRLVQ Y13, Y14, Y14 \
	VPAND Y15, Y14, Y14 \
	VPSHUFB Y14, Y8, Y14 \
	VPMADDUBSW Y10, Y14, Y14 \
	VPMADDWD Y12, Y14, Y14 \
	VPADDD Y11, Y14, Y14 \
	VCVTDQ2PS Y14, Y14 \
	VBROADCASTSS (4*R)(R9), Y9 \
	VFMADD231PS Y9, Y14, ACC

// MX8_BLOCK adds the group block at R8 against the record at SI to Y0-Y7,
// its factors at (R9).
#define MX8_BLOCK \
	VMOVDQU 0(SI), Y10 \
	VMOVDQU 32(SI), Y11 \
	MX8_ROW(0, Y0) \
	MX8_ROW(1, Y1) \
	MX8_ROW(2, Y2) \
	MX8_ROW(3, Y3) \
	MX8_ROW(4, Y4) \
	MX8_ROW(5, Y5) \
	MX8_ROW(6, Y6) \
	MX8_ROW(7, Y7)

// func tileMXFP4x8NarrowAVX2(t *tileArgs)
// The eight rows of an MXFP4x8 group (pack.go) at t.w[0] against one
// activation row, out[i] receiving row i: per row the lanes, scale and
// fold of dotMXFP4 and hsum8, as tileMXFP4NarrowAVX2 computes them, with
// the record's x and bias lanes loaded once for the eight rows. The
// factors of block b+1 are made while block b is summed, so that their
// chain of dependent steps overlaps the sums, in two 32-byte slots that
// R9 and R10 take turns at; the last block's are made by the one before
// it (or before the loop), so nothing past the group is read.
TEXT ·tileMXFP4x8NarrowAVX2(SB), NOSPLIT, $64-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS                     // Y13 shifts, Y14 ones, Y15 0x0f
	VMOVDQA Y14, Y12
	VMOVDQU mxfp4Plus12<>(SB), Y8
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	LEAQ 0(SP), R9
	LEAQ 32(SP), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JZ    mdone
	MX8_SCALES(0, 0, R9)
	DECQ CX
	JZ   mlast

mloop:
	PREFETCHT0 3264(R8)
	PREFETCHT0 3328(R8)
	PREFETCHT0 3392(R8)
	MX8_SCALES(136, 4, R10)
	MX8_BLOCK
	XCHGQ R9, R10
	ADDQ $136, R8
	ADDQ $64, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  mloop

mlast:
	MX8_BLOCK

mdone:
	HSUM8X8
	VMOVUPS X6, T_OUT+0(DI)
	VMOVUPS X7, T_OUT+16(DI)
	VZEROUPPER
	RET

// MX8V_ROW(R, ACC) is MX8_ROW with VPDPBUSD (AVX512-VNNI on 256 bits),
// which adds the four products of each lane to a copy of the bias lanes
// in one instruction, exactly (it does not saturate). Clobbers Y9, Y12,
// Y14.
#define MX8V_ROW(R, ACC) \
	VBROADCASTI128 (8+16*R)(R8), Y14 \
	VPSRLVQ Y13, Y14, Y14 \
	VPAND Y15, Y14, Y14 \
	VPSHUFB Y14, Y8, Y14 \
	VMOVDQA Y11, Y12 \
	VPDPBUSD Y10, Y14, Y12 \
	VCVTDQ2PS Y12, Y12 \
	VBROADCASTSS (4*R)(R9), Y9 \
	VFMADD231PS Y9, Y12, ACC

// MX8V_BLOCK is MX8_BLOCK with MX8V_ROW.
#define MX8V_BLOCK \
	VMOVDQU 0(SI), Y10 \
	VMOVDQU 32(SI), Y11 \
	MX8V_ROW(0, Y0) \
	MX8V_ROW(1, Y1) \
	MX8V_ROW(2, Y2) \
	MX8V_ROW(3, Y3) \
	MX8V_ROW(4, Y4) \
	MX8V_ROW(5, Y5) \
	MX8V_ROW(6, Y6) \
	MX8V_ROW(7, Y7)

// func tileMXFP4x8NarrowVNNI(t *tileArgs)
// tileMXFP4x8NarrowAVX2 with VPDPBUSD (EVEX-encoded on Y registers: it
// needs AVX512-VNNI and AVX512-VL, see hasVNNI).
TEXT ·tileMXFP4x8NarrowVNNI(SB), NOSPLIT, $64-8
	MOVQ t+0(FP), DI
	SETUP_CONSTS                     // Y13 shifts, Y15 0x0f
	VMOVDQU mxfp4Plus12<>(SB), Y8
	MOVQ T_W0(DI), R8
	MOVQ T_X(DI), SI
	MOVQ T_D(DI), DX
	MOVQ T_NB(DI), CX
	LEAQ 0(SP), R9
	LEAQ 32(SP), R10
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	TESTQ CX, CX
	JZ    vdone
	MX8_SCALES(0, 0, R9)
	DECQ CX
	JZ   vlast

vloop:
	PREFETCHT0 3264(R8)
	PREFETCHT0 3328(R8)
	PREFETCHT0 3392(R8)
	MX8_SCALES(136, 4, R10)
	MX8V_BLOCK
	XCHGQ R9, R10
	ADDQ $136, R8
	ADDQ $64, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  vloop

vlast:
	MX8V_BLOCK

vdone:
	HSUM8X8
	VMOVUPS X6, T_OUT+0(DI)
	VMOVUPS X7, T_OUT+16(DI)
	VZEROUPPER
	RET
