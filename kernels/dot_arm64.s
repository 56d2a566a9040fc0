#include "textflag.h"

// NEON pair kernels for arm64 with the dot-product extension (SDOT,
// ARMv8.2): one weight row against one activation row, computing exactly
// what the portable twins dotQ8_0, dotQ4_0 and dotMXFP4 compute (see
// qdot.go and qdot_iq.go). The
// narrow and wide tiles are the twins' loops around these.
//
// Go's assembler has no SDOT, SCVTF (vector) or FCVT from half, so they
// are encoded by hand:
//
//	SDOT  Vd.4S, Vn.16B, Vm.16B   0x4e809400 | m<<16 | n<<5 | d
//	SCVTF Vd.4S, Vn.4S            0x4e21d800 | n<<5 | d
//	SCVTF Sd, Sn                  0x5e21d800 | n<<5 | d
//	FCVT  Sd, Hn                  0x1ee24000 | n<<5 | d
#define SDOT(m, n, d) WORD $(0x4e809400 | (m)<<16 | (n)<<5 | (d))
#define SCVTF4(n, d) WORD $(0x4e21d800 | (n)<<5 | (d))
#define SCVTF1(n, d) WORD $(0x5e21d800 | (n)<<5 | (d))
#define FCVTSH(n, d) WORD $(0x1ee24000 | (n)<<5 | (d))

// PAIR_ARGS loads the arguments shared by the pair kernels: R0 w, R1 x,
// R2 xstride, R3 d, R4 dstride, R5 nb, R6 acc.
#define PAIR_ARGS \
	MOVD w+0(FP), R0 \
	MOVD x+8(FP), R1 \
	MOVD xstride+16(FP), R2 \
	MOVD d+24(FP), R3 \
	MOVD dstride+32(FP), R4 \
	MOVD nb+40(FP), R5 \
	MOVD acc+48(FP), R6

// func dotQ8_0NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)
// Q8_0 blocks at w (34 bytes: fp16 scale, 32 int8), activation block b's
// quants at x + b·xstride and scale at d + b·dstride. Lanes k = 0…7 of acc
// are the sums over elements 4k…4k+3: acc[k] = fma(float(Σ w·x), dw·dx,
// acc[k]), one block after the other.
TEXT ·dotQ8_0NEON(SB), NOSPLIT, $0-56
	PAIR_ARGS
	VLD1 (R6), [V16.S4, V17.S4]
	CBZ  R5, q8done

q8loop:
	MOVHU (R0), R8
	FMOVS R8, F0
	FCVTSH(0, 0)
	FMOVS (R3), F1
	FMULS F1, F0, F2 // dw·dx
	VDUP V2.S[0], V2.S4
	ADD  $2, R0, R9
	VLD1 (R9), [V3.B16, V4.B16]
	VLD1 (R1), [V5.B16, V6.B16]
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V18.B16, V18.B16, V18.B16
	SDOT(5, 3, 7)
	SDOT(6, 4, 18)
	SCVTF4(7, 7)
	SCVTF4(18, 18)
	VFMLA V2.S4, V7.S4, V16.S4
	VFMLA V2.S4, V18.S4, V17.S4
	ADD  $34, R0
	ADD  R2, R1
	ADD  R4, R3
	SUBS $1, R5
	BNE  q8loop

q8done:
	VST1 [V16.S4, V17.S4], (R6)
	RET

// func dotQ4_0NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)
// Q4_0 blocks at w (18 bytes: fp16 scale, 16 bytes of nibbles, low
// nibbles elements 0-15); per block isum = Σ (q-8)·x exactly, then
// acc[0] = fma(float(isum), dw·dx, acc[0]).
TEXT ·dotQ4_0NEON(SB), NOSPLIT, $0-56
	PAIR_ARGS
	FMOVS (R6), F16
	VMOVI $15, V30.B16
	VMOVI $8, V29.B16
	CBZ  R5, q4done

q4loop:
	MOVHU (R0), R8
	FMOVS R8, F0
	FCVTSH(0, 0)
	FMOVS (R3), F1
	FMULS F1, F0, F2 // dw·dx
	ADD  $2, R0, R9
	VLD1 (R9), [V1.B16]
	VAND V30.B16, V1.B16, V3.B16
	VUSHR $4, V1.B16, V4.B16
	VSUB V29.B16, V3.B16, V3.B16
	VSUB V29.B16, V4.B16, V4.B16
	VLD1 (R1), [V5.B16, V6.B16]
	VEOR V7.B16, V7.B16, V7.B16
	SDOT(5, 3, 7)
	SDOT(6, 4, 7)
	VADDV V7.S4, V7
	SCVTF1(7, 7)
	FMADDS F2, F16, F7, F16 // acc + isum·(dw·dx)
	ADD  $18, R0
	ADD  R2, R1
	ADD  R4, R3
	SUBS $1, R5
	BNE  q4loop

q4done:
	FMOVS F16, (R6)
	RET

// func dotMXFP4NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)
// MXFP4 blocks at w (17 bytes: the E8M0 scale byte e, then 16 bytes of
// nibbles laid out as Q4_0's) against Q8_0 activations, as dotMXFP4: the
// nibbles index the doubled codebook (TBL), lanes as dotQ8_0NEON's, and
// acc[k] = fma(float(lane k), e8m0Half[e]·dx, acc[k]).
TEXT ·dotMXFP4NEON(SB), NOSPLIT, $0-56
	PAIR_ARGS
	VLD1 (R6), [V16.S4, V17.S4]
	MOVD $·e8m0Half(SB), R10
	MOVD $·mxfp4Values(SB), R11
	VLD1 (R11), [V28.B16]
	VMOVI $15, V30.B16
	CBZ  R5, mxdone

mxloop:
	MOVBU (R0), R8
	ADD  R8<<2, R10, R12
	FMOVS (R12), F0
	FMOVS (R3), F1
	FMULS F1, F0, F2 // e8m0Half[e]·dx
	VDUP V2.S[0], V2.S4
	ADD  $1, R0, R9
	VLD1 (R9), [V1.B16]
	VAND V30.B16, V1.B16, V3.B16
	VUSHR $4, V1.B16, V4.B16
	VTBL V3.B16, [V28.B16], V3.B16
	VTBL V4.B16, [V28.B16], V4.B16
	VLD1 (R1), [V5.B16, V6.B16]
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V18.B16, V18.B16, V18.B16
	SDOT(5, 3, 7)
	SDOT(6, 4, 18)
	SCVTF4(7, 7)
	SCVTF4(18, 18)
	VFMLA V2.S4, V7.S4, V16.S4
	VFMLA V2.S4, V18.S4, V17.S4
	ADD  $17, R0
	ADD  R2, R1
	ADD  R4, R3
	SUBS $1, R5
	BNE  mxloop

mxdone:
	VST1 [V16.S4, V17.S4], (R6)
	RET

// MLA Vd.4S, Vn.4S, Vm.4S   0x4ea09400 | m<<16 | n<<5 | d
#define MLA4(m, n, d) WORD $(0x4ea09400 | (m)<<16 | (n)<<5 | (d))

// Q4K_SUB(Q, XA, XB, SC) adds sub-block lanes to L (V16 lanes 0-3, V17
// lanes 4-7): Q's two vectors hold the sub-block's 32 nibbles (elements
// 0-15, 16-31), XA/XB the activation quants, SC the register holding the
// scale broadcast.
#define Q4K_SUB(QA, QB, XA, XB, SC) \
	VEOR V11.B16, V11.B16, V11.B16 \
	VEOR V12.B16, V12.B16, V12.B16 \
	SDOT(XA, QA, 11) \
	SDOT(XB, QB, 12) \
	MLA4(SC, 11, 16) \
	MLA4(SC, 12, 17)

// func q4kLanesNEON(qs, x *byte, sc, L *[8]int32)
// q4kLanes: L[k] = Σ_j sc_j·(Σ of q·x over elements 4k…4k+3 of sub-block
// j), sub-blocks 2i and 2i+1 the low and high nibbles of qs[32i:32i+32].
TEXT ·q4kLanesNEON(SB), NOSPLIT, $0-32
	MOVD qs+0(FP), R0
	MOVD x+8(FP), R1
	MOVD sc+16(FP), R2
	MOVD L+24(FP), R3
	VMOVI $15, V30.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	MOVD $4, R5

q4kloop:
	VLD1.P 32(R0), [V1.B16, V2.B16]
	VAND V30.B16, V1.B16, V3.B16
	VAND V30.B16, V2.B16, V4.B16
	VUSHR $4, V1.B16, V5.B16
	VUSHR $4, V2.B16, V6.B16
	VLD1.P 64(R1), [V7.B16, V8.B16, V9.B16, V10.B16]
	MOVW.P 4(R2), R6
	VDUP R6, V13.S4
	MOVW.P 4(R2), R7
	VDUP R7, V14.S4
	Q4K_SUB(3, 4, 7, 8, 13)
	Q4K_SUB(5, 6, 9, 10, 14)
	SUBS $1, R5
	BNE  q4kloop

	VST1 [V16.S4, V17.S4], (R3)
	RET

// Q6_K lanes. V1, V2: 32 bytes of ql; V3, V4: 32 bytes of qh; the 6-bit
// quants of a run are built in V5, V6 (elements 0-15, 16-31) from a
// nibble of ql (low or high) and two bits of qh (shifted by 0, 2, 4, 6).
#define Q6_NIB_LO \
	VAND V30.B16, V1.B16, V5.B16 \
	VAND V30.B16, V2.B16, V6.B16
#define Q6_NIB_HI \
	VUSHR $4, V1.B16, V5.B16 \
	VUSHR $4, V2.B16, V6.B16
#define Q6_HB0 \
	VAND V29.B16, V3.B16, V7.B16 \
	VAND V29.B16, V4.B16, V8.B16
#define Q6_HB(S) \
	VUSHR $S, V3.B16, V7.B16 \
	VUSHR $S, V4.B16, V8.B16 \
	VAND V29.B16, V7.B16, V7.B16 \
	VAND V29.B16, V8.B16, V8.B16
// Q6_DOT(XO, SO): quants | high bits << 4, dotted with the run's
// activation quants at XO(R1), lanes 0-3 scaled by the int8 at SO(R2) and
// lanes 4-7 by the next, added to V16 and V17.
#define Q6_DOT(XO, SO) \
	VSHL $4, V7.B16, V7.B16 \
	VSHL $4, V8.B16, V8.B16 \
	VORR V7.B16, V5.B16, V5.B16 \
	VORR V8.B16, V6.B16, V6.B16 \
	ADD $XO, R1, R8 \
	VLD1 (R8), [V9.B16, V10.B16] \
	VEOR V11.B16, V11.B16, V11.B16 \
	VEOR V12.B16, V12.B16, V12.B16 \
	SDOT(9, 5, 11) \
	SDOT(10, 6, 12) \
	MOVB SO(R2), R6 \
	VDUP R6, V13.S4 \
	MOVB SO+1(R2), R7 \
	VDUP R7, V14.S4 \
	MLA4(13, 11, 16) \
	MLA4(14, 12, 17)

// Q6_HALF(H): the four runs of half H of the super-block at R0.
#define Q6_HALF(QL, QH, X0, S0) \
	ADD $QL, R0, R8 \
	VLD1 (R8), [V1.B16, V2.B16] \
	ADD $QH, R0, R8 \
	VLD1 (R8), [V3.B16, V4.B16] \
	Q6_NIB_LO \
	Q6_HB0 \
	Q6_DOT(X0, S0) \
	Q6_NIB_HI \
	Q6_HB(4) \
	Q6_DOT(X0+64, S0+4) \
	ADD $(QL+32), R0, R8 \
	VLD1 (R8), [V1.B16, V2.B16] \
	Q6_NIB_LO \
	Q6_HB(2) \
	Q6_DOT(X0+32, S0+2) \
	Q6_NIB_HI \
	Q6_HB(6) \
	Q6_DOT(X0+96, S0+6)

// func q6kLanesNEON(blk, x *byte, L *[8]int32)
// q6kLanes: run r = 4h + t of 32 quants takes nibbles of ql[64h+32(t&1):]
// (low for t < 2) and bits 2t of qh[32h:]; L[k] += sc[2r + k/4]·(Σ of q·x
// over elements 4k…4k+3 of the run).
TEXT ·q6kLanesNEON(SB), NOSPLIT, $0-24
	MOVD blk+0(FP), R0
	MOVD x+8(FP), R1
	MOVD L+16(FP), R3
	ADD  $192, R0, R2 // scales
	VMOVI $15, V30.B16
	VMOVI $3, V29.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	Q6_HALF(0, 128, 0, 0)
	Q6_HALF(64, 160, 128, 8)
	VST1 [V16.S4, V17.S4], (R3)
	RET
