// gen_golden writes llamacpp-golden.bin: what llama.cpp's own prebuilt
// library computes for the block formats that the synth-llama GGUF files do
// not cover (and, for good measure, for all the others too).
//
// It is not part of the Go build (Go ignores testdata directories). To
// regenerate, with node-llama-cpp installed in bench/peer:
//
//   LIB=bench/peer/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so
//   gcc -O2 -o /tmp/gen_golden quant/testdata/gen_golden.c -ldl -lm
//   /tmp/gen_golden "$LIB" quant/testdata/llamacpp-golden.bin
//
// The program only calls the library's exported functions, declared here
// by hand, so no llama.cpp headers are needed.
//
// File layout (little-endian):
//   "ONDOQG01"
//   u32 rows, u32 cols, f32 input[rows*cols]      shared quantizer input
//   u32 records, then per record:
//     u32 kind     1: quantize the shared input, 2: dequantize random blocks,
//                  3: quantize the shared input with an importance matrix
//     u32 type     ggml type id
//     u32 n        elements
//     u32 nbytes   encoded size
//     u8  data[nbytes]   kinds 1, 3: llama.cpp's encoding; kind 2: the input blocks
//     f32 out[n]         kind 2 only: llama.cpp's decoding
//     f32 imatrix[cols]  kind 3 only: the importance matrix the encoding used
//   per type in table order: kind 1, kind 3, kind 2. A type that llama.cpp
//   cannot quantize without a matrix has no kind 1 record; F32, F16, BF16
//   and Q8_K have no kind 3 record (ggml_quantize_chunk converts the float
//   types without looking at the matrix and has no Q8_K path at all).
//   Then a second input, for importance-matrix encodings only:
//   u32 rows2, u32 cols2, f32 input2[rows2*cols2]
//   u32 records2, then records2 records of kind 4 in kind 3's layout
//     (imatrix has cols2 weights): the encoding of input2 under that matrix.
//   Everything before the second input is written as before it existed, and
//   it draws its random numbers last, so adding it changed no earlier record.
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef size_t (*quantize_chunk_fn)(int type, const float *src, void *dst, int64_t start,
                                     int64_t nrows, int64_t n_per_row, const float *imatrix);
typedef void (*row_fn)(const void *x, float *y, int64_t k);
typedef void (*qrow_fn)(const float *x, void *y, int64_t k);
typedef float (*h2f_fn)(uint16_t);
typedef _Bool (*req_fn)(int type);

static void *lib;
static void *sym(const char *name) {
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "missing symbol %s\n", name);
		exit(1);
	}
	return p;
}

// splitmix64, then Box-Muller: a seeded normal source.
static uint64_t state = 0x0dd0c0ffee123457ull;
static uint64_t next64(void) {
	uint64_t z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}
static double uniform(void) { return ((next64() >> 11) + 0.5) / 9007199254740992.0; }
static double normal(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

struct type { int id; const char *name; int block, size; const char *deq; int fp16[2]; int nfp16; };
static const struct type types[] = {
	{0, "f32", 1, 4, NULL, {0}, 0},
	{1, "f16", 1, 2, NULL, {0}, 0},
	{30, "bf16", 1, 2, NULL, {0}, 0},
	{2, "q4_0", 32, 18, "dequantize_row_q4_0", {0}, 1},
	{3, "q4_1", 32, 20, "dequantize_row_q4_1", {0, 2}, 2},
	{6, "q5_0", 32, 22, "dequantize_row_q5_0", {0}, 1},
	{7, "q5_1", 32, 24, "dequantize_row_q5_1", {0, 2}, 2},
	{8, "q8_0", 32, 34, "dequantize_row_q8_0", {0}, 1},
	{10, "q2_K", 256, 84, "dequantize_row_q2_K", {80, 82}, 2},
	{11, "q3_K", 256, 110, "dequantize_row_q3_K", {108}, 1},
	{12, "q4_K", 256, 144, "dequantize_row_q4_K", {0, 2}, 2},
	{13, "q5_K", 256, 176, "dequantize_row_q5_K", {0, 2}, 2},
	{14, "q6_K", 256, 210, "dequantize_row_q6_K", {208}, 1},
	{15, "q8_K", 256, 292, "dequantize_row_q8_K", {0}, 0},
	{20, "iq4_nl", 32, 18, "dequantize_row_iq4_nl", {0}, 1},
	{23, "iq4_xs", 256, 136, "dequantize_row_iq4_xs", {0}, 1},
	{16, "iq2_xxs", 256, 66, "dequantize_row_iq2_xxs", {0}, 1},
	{17, "iq2_xs", 256, 74, "dequantize_row_iq2_xs", {0}, 1},
	{22, "iq2_s", 256, 82, "dequantize_row_iq2_s", {0}, 1},
	{18, "iq3_xxs", 256, 98, "dequantize_row_iq3_xxs", {0}, 1},
	{21, "iq3_s", 256, 110, "dequantize_row_iq3_s", {0}, 1},
	{19, "iq1_s", 256, 50, "dequantize_row_iq1_s", {0}, 1},
	{29, "iq1_m", 256, 56, "dequantize_row_iq1_m", {0}, 0},
	{34, "tq1_0", 256, 54, "dequantize_row_tq1_0", {52}, 1},
	{35, "tq2_0", 256, 66, "dequantize_row_tq2_0", {64}, 1},
	{39, "mxfp4", 32, 17, "dequantize_row_mxfp4", {0}, 0},
};
// The first NLEGACY types are the older codecs; those added later (IQ1-IQ3,
// TQ, MXFP4) decode more random blocks. Every type has an importance-matrix
// record except those ggml_quantize_chunk quantizes without one (F32, F16,
// BF16) or not at all (Q8_K).
#define NLEGACY 16
static int has_weighted(int id) { return id != 0 && id != 1 && id != 30 && id != 15; }
#define NTYPES (int)(sizeof types / sizeof types[0])

static FILE *out;
static void u32(uint32_t v) { fwrite(&v, 4, 1, out); }

// A random finite fp16 of magnitude below 2, so that no product in a
// decoder overflows (NaN payloads are not portable across CPUs).
static uint16_t small_fp16(void) { return (uint16_t)next64() & 0xbfff; }

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: gen_golden libggml-base.so out.bin\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	quantize_chunk_fn quantize_chunk = (quantize_chunk_fn)sym("ggml_quantize_chunk");
	qrow_fn q8k = (qrow_fn)sym("quantize_row_q8_K_ref");
	h2f_fn f16 = (h2f_fn)sym("ggml_fp16_to_fp32");
	h2f_fn bf16 = (h2f_fn)sym("ggml_bf16_to_fp32");

	// Shared input: rows that exercise the quantizers' corner cases.
	enum { ROWS = 20, COLS = 256 };
	static float x[ROWS][COLS];
	for (int r = 0; r < ROWS; r++) {
		for (int c = 0; c < COLS; c++) {
			double g = normal();
			double v;
			switch (r) {
			case 8: v = 0.3 + 0.05 * g; break;          // all positive
			case 9: v = -0.3 + 0.05 * g; break;         // all negative
			case 10: v = c / 16 == 5 ? g : 0; break;    // one live sub-block of 16
			case 11: v = 0; break;                      // zeros
			case 12: v = 0.5; break;                    // constant
			case 13: v = 0.05 * g * g * g; break;       // heavy tails
			case 14: v = 1e-7 * g; break;               // scales below fp16 normal range
			case 15: v = 500 * g; break;                // large
			case 16: v = (c / 32) % 2 ? 0.05 * g : 0; break; // zero sub-blocks of 32
			case 17: v = ((c % 17) - 8) * 0.5; break;   // exact ties
			case 18: v = g * pow(10, (c / 16) % 7 - 4); break; // scales over 7 decades
			case 19: v = uniform() < 0.1 ? g : 0; break; // sparse
			default: v = 0.05 * g;
			}
			x[r][c] = (float)v;
		}
	}

	out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	fwrite("ONDOQG01", 8, 1, out);
	u32(ROWS);
	u32(COLS);
	fwrite(x, sizeof x, 1, out);
	req_fn requires_imatrix = (req_fn)sym("ggml_quantize_requires_imatrix");
	// An importance matrix: positive per-column weights spread over two
	// decades, as activations' mean squares are.
	static float imatrix[COLS];
	for (int c = 0; c < COLS; c++) imatrix[c] = (float)exp(1.2 * normal());
	int nrec = 0;
	for (int t = 0; t < NTYPES; t++) {
		nrec += 1 + !requires_imatrix(types[t].id) + has_weighted(types[t].id);
	}
	u32(nrec);

	for (int t = 0; t < NTYPES; t++) {
		const struct type *ty = &types[t];
		// Quantize the shared input, all rows at once (rows are independent).
		int n = ROWS * COLS;
		int nbytes = n / ty->block * ty->size;
		for (int weighted = 0; weighted < 2; weighted++) {
			if (weighted ? !has_weighted(ty->id) : requires_imatrix(ty->id)) continue;
			uint8_t *q = calloc(nbytes, 1);
			if (ty->id == 15) {
				q8k(&x[0][0], q, n); // Q8_K has no ggml_quantize_chunk path
			} else if (quantize_chunk(ty->id, &x[0][0], q, 0, ROWS, COLS, weighted ? imatrix : NULL) !=
				   (size_t)nbytes) {
				fprintf(stderr, "%s: unexpected size\n", ty->name);
				return 1;
			}
			u32(weighted ? 3 : 1);
			u32(ty->id);
			u32(n);
			u32(nbytes);
			fwrite(q, nbytes, 1, out);
			if (weighted) fwrite(imatrix, sizeof imatrix, 1, out);
			free(q);
		}

		// Decode random blocks.
		n = t < NLEGACY ? 1024 : 8192; // the new codecs: more blocks, to reach more grid entries
		nbytes = n / ty->block * ty->size;
		uint8_t *b = malloc(nbytes);
		for (int i = 0; i < nbytes; i++) b[i] = (uint8_t)next64();
		float *y = malloc(n * sizeof(float));
		switch (ty->id) {
		case 0:
			for (int i = 0; i < n; i++) {
				float v = (float)(normal() * pow(2, (int)(next64() % 60) - 30));
				memcpy(b + 4 * i, &v, 4);
				y[i] = v;
			}
			break;
		case 1:
		case 30: {
			// Every kind of value, NaNs and infinities included.
			static const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00,
				0xfc00, 0x7c01, 0x7e00, 0xfe00, 0x7fff, 0xff81, 0x3c00, 0x3555, 0x8001};
			for (int i = 0; i < n; i++) {
				uint16_t h = i < 16 ? special[i] : (uint16_t)next64();
				memcpy(b + 2 * i, &h, 2);
				y[i] = ty->id == 1 ? f16(h) : bf16(h);
			}
			break;
		}
		default:
			for (int blk = 0; blk < n / ty->block; blk++) {
				uint8_t *p = b + blk * ty->size;
				for (int k = 0; k < ty->nfp16; k++) {
					uint16_t h = small_fp16();
					memcpy(p + ty->fp16[k], &h, 2);
				}
				if (ty->id == 15) { // float32 scale
					float d = f16(small_fp16());
					memcpy(p, &d, 4);
				}
				if (ty->id == 29) {
					// IQ1_M keeps its fp16 scale in the top nibbles of
					// the four uint16 words at 48..55.
					uint16_t h = small_fp16();
					for (int k = 0; k < 4; k++) {
						uint16_t w;
						memcpy(&w, p + 48 + 2 * k, 2);
						w = (uint16_t)((w & 0x0fff) | ((h >> (4 * k)) & 15) << 12);
						memcpy(p + 48 + 2 * k, &w, 2);
					}
				}
				if (ty->id == 39) {
					// MXFP4's E8M0 scale: the subnormal-half edge values
					// (0, 1, 2) and 2^0 first, then exponents that cannot
					// overflow with codebook values up to 12.
					static const uint8_t edge[] = {0, 1, 2, 3, 126, 127, 128, 129, 200};
					p[0] = blk < (int)sizeof edge ? edge[blk] : (uint8_t)(80 + next64() % 100);
				}

			}
			((row_fn)sym(ty->deq))(b, y, n);
		}
		u32(2);
		u32(ty->id);
		u32(n);
		u32(nbytes);
		fwrite(b, nbytes, 1, out);
		fwrite(y, n * sizeof(float), 1, out);
		free(b);
		free(y);
	}

	// A second input for the importance-matrix encodings: plain normal
	// weights (each row with its own spread) in rows of four super-blocks,
	// so that the matrix is indexed past the first block and the legacy
	// types' row-wide statistics span several blocks, and many more blocks
	// than the shared input has, to reach more branches of the searches.
	// Its matrix has exact zeros (a whole 32-column block and about 3% of
	// the rest), which llama.cpp accepts. It draws its random numbers after
	// everything above, which so stays as it was.
	enum { ROWS2 = 32, COLS2 = 1024 };
	static float x2[ROWS2][COLS2];
	for (int r = 0; r < ROWS2; r++) {
		double spread = 0.02 * exp(0.5 * normal());
		for (int c = 0; c < COLS2; c++) x2[r][c] = (float)(spread * normal());
	}
	static float imatrix2[COLS2];
	for (int c = 0; c < COLS2; c++) {
		double w = exp(1.5 * normal());
		imatrix2[c] = (c / 32 == 17 || uniform() < 0.03) ? 0 : (float)w;
	}
	u32(ROWS2);
	u32(COLS2);
	fwrite(x2, sizeof x2, 1, out);
	int nrec2 = 0;
	for (int t = 0; t < NTYPES; t++) nrec2 += has_weighted(types[t].id);
	u32(nrec2);
	for (int t = 0; t < NTYPES; t++) {
		const struct type *ty = &types[t];
		if (!has_weighted(ty->id)) continue;
		int n = ROWS2 * COLS2;
		int nbytes = n / ty->block * ty->size;
		uint8_t *q = calloc(nbytes, 1);
		if (quantize_chunk(ty->id, &x2[0][0], q, 0, ROWS2, COLS2, imatrix2) != (size_t)nbytes) {
			fprintf(stderr, "%s: unexpected size\n", ty->name);
			return 1;
		}
		u32(4);
		u32(ty->id);
		u32(n);
		u32(nbytes);
		fwrite(q, nbytes, 1, out);
		fwrite(imatrix2, sizeof imatrix2, 1, out);
		free(q);
	}

	if (fclose(out)) {
		perror(argv[2]);
		return 1;
	}
	return 0;
}
