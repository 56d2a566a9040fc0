// Shared definitions of the AVX2 tile kernels (see qdot.go for the
// summation order they all follow and tileArgs for the argument layout).

// tileArgs field offsets.
#define T_W0 0
#define T_W1 8
#define T_W2 16
#define T_W3 24
#define T_X 32
#define T_D 40
#define T_NB 48
#define T_OUT 56
#define T_ACC 88
#define T_S 96
#define T_SUM 104
#define T_NR 128
#define T_WRS 136

// HSUM8(Y, X, TMP) folds the eight float32 lanes of Y (whose low half is
// X) into lane 0 of X in hsum8's order: high 128 bits onto the low, high
// 64 onto the low, then lane 1 onto lane 0.
#define HSUM8(Y, X, TMP) \
	VEXTRACTF128 $1, Y, TMP \
	VADDPS TMP, X, X \
	VMOVHLPS X, X, TMP \
	VADDPS TMP, X, X \
	VMOVSHDUP X, TMP \
	VADDSS TMP, X, X

// SETUP_CONSTS loads Y15 = 0x0f in every byte, Y14 = 1 in every int16 and
// Y13 = qword shift counts {0, 0, 4, 4} (so that VPSRLVQ on a 16-byte block
// broadcast to both halves leaves low nibbles in the low half and high
// nibbles in the high half, once masked). Clobbers AX.
#define SETUP_CONSTS \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X15 \
	VPBROADCASTD X15, Y15 \
	MOVL $0x00010001, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14 \
	MOVQ $4, AX \
	VMOVQ AX, X13 \
	VPBROADCASTQ X13, Y13 \
	VPXOR X12, X12, X12 \
	VPBLENDD $0xf0, Y13, Y12, Y13

// UNPACK_Q4(ADDR, Y) loads the 16 bytes at ADDR and leaves in Y the 32
// nibbles as bytes: low nibbles (elements 0-15) then high (16-31).
#define UNPACK_Q4(ADDR, Y) \
	VBROADCASTI128 ADDR, Y \
	VPSRLVQ Y13, Y, Y \
	VPAND Y15, Y, Y

// GATHER_FP16x4(R0, R1, R2, R3, OFF, X) converts the fp16 scales at
// OFF(R0) … OFF(R3) into the four float32 lanes of X. Clobbers AX, BX, R12.
#define GATHER_FP16x4(R0, R1, R2, R3, OFF, X) \
	MOVWQZX OFF(R0), AX \
	MOVWQZX OFF(R1), BX \
	SHLQ $16, BX \
	ORQ BX, AX \
	MOVWQZX OFF(R2), BX \
	SHLQ $32, BX \
	ORQ BX, AX \
	MOVWQZX OFF(R3), R12 \
	SHLQ $48, R12 \
	ORQ R12, AX \
	VMOVQ AX, X \
	VCVTPH2PS X, X

// Q4K_SCALES(R, X) unpacks the 6-bit scales and mins of the Q4_K/Q5_K block
// at R (12 bytes at 4(R)) into the bytes of X: sc0-3 | m0-3 | sc4-7 | m4-7,
// with ggml's mask-and-shift (sub-blocks 4-7 keep their low 4 bits in the
// nibbles of bytes 8-11 and their top 2 bits in the top bits of bytes 0-7).
// Clobbers AX, BX, R12, R13.
#define Q4K_SCALES(R, X) \
	MOVQ 4(R), AX \
	MOVL 12(R), BX \
	MOVQ $0x3f3f3f3f3f3f3f3f, R12 \
	MOVQ AX, R13 \
	ANDQ R12, R13 \
	SHRQ $6, AX \
	MOVQ $0x0303030303030303, R12 \
	ANDQ R12, AX \
	SHLQ $4, AX \
	MOVQ BX, R12 \
	SHRQ $4, R12 \
	SHLQ $32, R12 \
	ORQ R12, BX \
	MOVQ $0x0f0f0f0f0f0f0f0f, R12 \
	ANDQ R12, BX \
	ORQ AX, BX \
	VMOVQ R13, X \
	VPINSRQ $1, BX, X, X

// NIBBLE_MASK(Y, X) sets every byte of Y to 0x0f. Clobbers AX.
#define NIBBLE_MASK(Y, X) \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X \
	VPBROADCASTD X, Y

// SIGN_MASK(Y, X) sets every float32 lane of Y to -0 (the sign bit).
// Clobbers AX.
#define SIGN_MASK(Y, X) \
	MOVL $0x80000000, AX \
	VMOVD AX, X \
	VPBROADCASTD X, Y

// HSUM8X8 folds each of Y0 … Y7 in hsum8's order (IEEE addition is
// commutative, so only the pairing matters: t = lo + hi, u = (t0+t2,
// t1+t3), v = u0 + u1), all eight at once by shuffles, leaving the sums of
// Y0-Y3 in X6 and of Y4-Y7 in X7. Clobbers Y0-Y12.
#define HSUM8X8 \
	VPERM2F128 $0x20, Y1, Y0, Y8 \
	VPERM2F128 $0x31, Y1, Y0, Y9 \
	VADDPS Y9, Y8, Y8 \
	VPERM2F128 $0x20, Y3, Y2, Y9 \
	VPERM2F128 $0x31, Y3, Y2, Y10 \
	VADDPS Y10, Y9, Y9 \
	VPERM2F128 $0x20, Y5, Y4, Y10 \
	VPERM2F128 $0x31, Y5, Y4, Y11 \
	VADDPS Y11, Y10, Y10 \
	VPERM2F128 $0x20, Y7, Y6, Y11 \
	VPERM2F128 $0x31, Y7, Y6, Y12 \
	VADDPS Y12, Y11, Y11 \
	VSHUFPS $0x44, Y9, Y8, Y0 \
	VSHUFPS $0xee, Y9, Y8, Y1 \
	VADDPS Y1, Y0, Y0 \
	VSHUFPS $0x44, Y11, Y10, Y2 \
	VSHUFPS $0xee, Y11, Y10, Y3 \
	VADDPS Y3, Y2, Y2 \
	VSHUFPS $0x88, Y2, Y0, Y4 \
	VSHUFPS $0xdd, Y2, Y0, Y5 \
	VADDPS Y5, Y4, Y4 \
	VEXTRACTF128 $1, Y4, X5 \
	VUNPCKLPS X5, X4, X6 \
	VUNPCKHPS X5, X4, X7
