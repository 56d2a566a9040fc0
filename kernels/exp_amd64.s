#include "textflag.h"

// Vectorised float32(math.Exp(float64(x))), bit for bit: four lanes of the
// FMA path of Go's math.Exp on amd64 (math/exp_amd64.s, after Shibata's
// SLEEF method), the same float64 operations in the same order. Lanes the
// main path does not cover (non-finite, above the overflow bound, or a
// result below the normal range) make the routine stop and leave the group
// to the Go code, which calls math.Exp.

DATA expc<>+0(SB)/8, $0.5
DATA expc<>+8(SB)/8, $1.0
DATA expc<>+16(SB)/8, $2.0
DATA expc<>+24(SB)/8, $1.6666666666666666667e-1
DATA expc<>+32(SB)/8, $4.1666666666666666667e-2
DATA expc<>+40(SB)/8, $8.3333333333333333333e-3
DATA expc<>+48(SB)/8, $1.3888888888888888889e-3
DATA expc<>+56(SB)/8, $1.9841269841269841270e-4
DATA expc<>+64(SB)/8, $2.4801587301587301587e-5
DATA expc<>+72(SB)/8, $1.4426950408889634073599246810018920   // log2(e)
DATA expc<>+80(SB)/8, $0.69314718055966295651160180568695068359375 // ln 2, upper
DATA expc<>+88(SB)/8, $0.28235290563031577122588448175013436025525412068e-12 // ln 2, lower
DATA expc<>+96(SB)/8, $0.0625
DATA expc<>+104(SB)/8, $700.0 // above this (up to overflow): scalar
DATA expc<>+112(SB)/8, $-7.08e+02 // below this, results may be subnormal: scalar
DATA expc<>+120(SB)/8, $1023
GLOBL expc<>(SB), RODATA|NOPTR, $128

// EXP4(Y) replaces the four float64 lanes of Y with their exponentials.
// Clobbers Y1-Y4, X5.
#define EXP4(Y) \
	VBROADCASTSD expc<>+72(SB), Y1 \
	VMULPD Y1, Y, Y1 \
	VCVTPD2DQY Y1, X5 \
	VCVTDQ2PD X5, Y1 \
	VBROADCASTSD expc<>+80(SB), Y2 \
	VFNMADD231PD Y2, Y1, Y \
	VBROADCASTSD expc<>+88(SB), Y2 \
	VFNMADD231PD Y2, Y1, Y \
	VBROADCASTSD expc<>+96(SB), Y2 \
	VMULPD Y2, Y, Y \
	VBROADCASTSD expc<>+64(SB), Y1 \
	VBROADCASTSD expc<>+56(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+48(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+40(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+32(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+24(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+0(SB), Y2 \
	VFMADD213PD Y2, Y, Y1 \
	VBROADCASTSD expc<>+8(SB), Y3 \
	VFMADD213PD Y3, Y, Y1 \
	VMULPD Y1, Y, Y \
	VBROADCASTSD expc<>+16(SB), Y2 \
	VADDPD Y2, Y, Y1 \
	VMULPD Y1, Y, Y \
	VADDPD Y2, Y, Y1 \
	VMULPD Y1, Y, Y \
	VADDPD Y2, Y, Y1 \
	VMULPD Y1, Y, Y \
	VADDPD Y2, Y, Y1 \
	VFMADD213PD Y3, Y1, Y \
	VPMOVSXDQ X5, Y4 \
	VPBROADCASTQ expc<>+120(SB), Y1 \
	VPADDQ Y1, Y4, Y4 \
	VPSLLQ $52, Y4, Y4 \
	VMULPD Y4, Y, Y

// CHECK4(Y, FAIL) jumps to FAIL unless every lane of Y is well inside the
// main path: within [-708, 700] (math.Exp's main path reaches to about
// ±708.4, beyond which it scales subnormals or overflows). Clobbers Y1,
// Y2, AX.
#define CHECK4(Y, FAIL) \
	VBROADCASTSD expc<>+104(SB), Y1 \
	VCMPPD $0x1e, Y1, Y, Y2 \
	VBROADCASTSD expc<>+112(SB), Y1 \
	VCMPPD $0x11, Y1, Y, Y1 \
	VORPD Y1, Y2, Y2 \
	VMOVMSKPD Y2, AX \
	TESTL AX, AX \
	JNZ FAIL

// func expF32AVX2(dst, src *float32, n int, neg bool) int
// dst[i] = float32(math.Exp(float64(±src[i]))) (−src when neg) for i < the
// returned count, which is n rounded down to a multiple of 4 unless a
// group of four needs the scalar routine, where it stops.
TEXT ·expF32AVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBLZX neg+24(FP), DX
	SHLL $31, DX
	VMOVD DX, X6
	VPBROADCASTD X6, X6
	XORQ BX, BX

eloop:
	LEAQ 4(BX), R8
	CMPQ R8, CX
	JGT  edone
	VMOVUPS (SI)(BX*4), X0
	VXORPS X6, X0, X0
	VCVTPS2PD X0, Y0
	VCMPPD $3, Y0, Y0, Y1 // NaN
	VMOVMSKPD Y1, AX
	TESTL AX, AX
	JNZ  edone
	CHECK4(Y0, edone)
	EXP4(Y0)
	VCVTPD2PSY Y0, X0
	VMOVUPS X0, (DI)(BX*4)
	MOVQ R8, BX
	JMP  eloop

edone:
	MOVQ BX, ret+32(FP)
	VZEROUPPER
	RET
