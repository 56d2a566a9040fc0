// gen_iq3tables writes quant/iq3_tables.go: the codebooks ("grids") of
// IQ3_XXS (256 points) and IQ3_S (512 points), recovered from what
// llama.cpp's own prebuilt library decodes, not copied from its sources.
//
// It is not part of the Go build (Go ignores testdata directories). To
// regenerate, from the repository root with node-llama-cpp installed in
// bench/peer:
//
//   LIB=bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so
//   gcc -O2 -o /tmp/gen_iq3tables quant/testdata/gen_iq3tables.c -ldl
//   /tmp/gen_iq3tables "$LIB" > quant/iq3_tables.go && gofmt -l quant
//
// Method. A grid point is four small positive integers (one per element of
// a group of four). The program builds blocks whose scale decodes to
// exactly 1 and whose sign bits are all clear, then stores every grid index
// once in the blocks' index fields: dequantize_row_iq3_* then returns the
// grid's integers themselves, in index order.
//
//   IQ3_XXS  d = 4.0 (fp16 0x4400) and scale nibble 0: the sub-block factor
//            is d * (0.5 + 0) * 0.5 = 1. 64 indices (one byte each) per
//            block, so 4 blocks.
//   IQ3_S    d = 1.0 (fp16 0x3c00) and scale nibbles 0: the factor is
//            d * (1 + 2*0) = 1. 64 nine-bit indices per block (low byte in
//            qs, ninth bit in qh, bit k of qh[g] for qs[8g+k]), so 8 blocks.
//
// Each grid uses exactly eight distinct integers (3 bits per element), so
// the Go file holds a grid compactly as its eight levels in increasing
// order plus, per point, a 12-bit code: element i's level number in bits
// 3i..3i+2. The program checks that the decoded values really take only
// eight values and are exact small integers, and fails otherwise.
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*row_fn)(const void *x, float *y, int64_t k);

enum { QK = 256, XXS_SIZE = 98, S_SIZE = 110 };

// recover decodes n grid points from values (4 per point) into levels and
// codes, or exits when the values do not fit the compact form.
static void recover(const char *name, const float *values, int n, int levels[8], uint16_t *codes) {
	int seen[256] = {0};
	for (int i = 0; i < 4 * n; i++) {
		float v = values[i];
		if (!(v >= 1 && v <= 255) || v != (float)(int)v) {
			fprintf(stderr, "%s: decoded value %d is %g, not a small positive integer\n", name, i, v);
			exit(1);
		}
		seen[(int)v] = 1;
	}
	int nlev = 0;
	for (int v = 0; v < 256; v++) {
		if (!seen[v]) continue;
		if (nlev == 8) {
			fprintf(stderr, "%s: more than 8 distinct grid values\n", name);
			exit(1);
		}
		levels[nlev++] = v;
	}
	if (nlev != 8) {
		fprintf(stderr, "%s: %d distinct grid values, want 8\n", name, nlev);
		exit(1);
	}
	for (int p = 0; p < n; p++) {
		uint16_t code = 0;
		for (int i = 0; i < 4; i++) {
			int l = 0;
			while (levels[l] != (int)values[4 * p + i]) l++;
			code |= (uint16_t)(l << (3 * i));
		}
		codes[p] = code;
	}
}

static void emit(const char *prefix, const char *what, const int levels[8], const uint16_t *codes, int n) {
	printf("\n// %sLevels are the eight grid values of %s, increasing.\n", prefix, what);
	printf("var %sLevels = [8]uint8{", prefix);
	for (int l = 0; l < 8; l++) printf(l ? ", %d" : "%d", levels[l]);
	printf("}\n");
	printf("\n// %sCodes holds the %d points of the %s grid in index order: element i\n", prefix, n, what);
	printf("// of a point is %sLevels[code>>(3*i)&7].\n", prefix);
	printf("var %sCodes = [%d]uint16{\n", prefix, n);
	for (int p = 0; p < n; p++) {
		printf(p % 16 == 0 ? "\t%d," : " %d,", codes[p]);
		if (p % 16 == 15) printf("\n");
	}
	printf("}\n");
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: gen_iq3tables libggml-base.so > iq3_tables.go\n");
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	row_fn deq_xxs = (row_fn)dlsym(lib, "dequantize_row_iq3_xxs");
	row_fn deq_s = (row_fn)dlsym(lib, "dequantize_row_iq3_s");
	if (!deq_xxs || !deq_s) {
		fprintf(stderr, "missing dequantize_row_iq3_xxs or dequantize_row_iq3_s\n");
		return 1;
	}

	// IQ3_XXS: d @0, 64 index bytes @2, then 8 words of signs and scale.
	static uint8_t bx[4][XXS_SIZE];
	static float yx[4 * QK];
	memset(bx, 0, sizeof bx);
	for (int b = 0; b < 4; b++) {
		bx[b][0] = 0x00, bx[b][1] = 0x44;
		for (int k = 0; k < 64; k++) bx[b][2 + k] = (uint8_t)(64 * b + k);
	}
	deq_xxs(bx, yx, 4 * QK);

	// IQ3_S: d @0, qs[64] @2, qh[8] @66, signs[32] @74, scales[4] @106.
	static uint8_t bs[8][S_SIZE];
	static float ys[8 * QK];
	memset(bs, 0, sizeof bs);
	for (int b = 0; b < 8; b++) {
		bs[b][0] = 0x00, bs[b][1] = 0x3c;
		for (int k = 0; k < 64; k++) {
			int idx = 64 * b + k;
			bs[b][2 + k] = (uint8_t)(idx & 255);
			bs[b][66 + k / 8] |= (uint8_t)((idx >> 8) << (k % 8));
		}
	}
	deq_s(bs, ys, 8 * QK);

	int lx[8], ls[8];
	static uint16_t cx[256], cs[512];
	recover("iq3_xxs", yx, 256, lx, cx);
	recover("iq3_s", ys, 512, ls, cs);

	printf("// Code generated by quant/testdata/gen_iq3tables.c; DO NOT EDIT.\n\n");
	printf("package quant\n");
	emit("iq3xxs", "IQ3_XXS", lx, cx, 256);
	emit("iq3s", "IQ3_S", ls, cs, 512);
	return 0;
}
