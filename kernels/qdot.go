package kernels

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// Integer dot products against quantized weights.
//
// For the block types, MatMul quantizes the activations once per call to
// the weight type's DotType (Q8_0 for the 32-element types and MXFP4, Q8_1
// for Q4_1 and Q5_1, Q8_K for the K-quants, IQ4_XS, TQ1_0, TQ2_0 and the
// IQ1-IQ3 types), exactly as RoundActivations rounds them, and then takes
// integer dot products of weight quants with activation quants, as ggml
// does. (The twins of MXFP4, the ternary and the IQ1-IQ3 types, and what
// their lanes hold, are in qdot_iq.go.)
//
// The float32 result of such a dot product depends on the order in which
// the per-block integer sums are scaled and added, so that order is fixed
// here, once, for every implementation (portable Go, AVX2), and the
// assembly follows it exactly. For most types it is the order of ggml's
// AVX2 kernels:
//
//   - Each block (32 elements) or super-block (256) yields eight exact
//     int32 lane sums; lane k sums the products of elements 4k..4k+3 of each
//     32-element run of the block (what VPMADDUBSW and VPMADDWD produce).
//   - The lanes are converted to float32 and added into eight float32
//     accumulators with one fused multiply-add each, by the block's scale
//     dw·dx (rounded to float32 first): acc[k] = fma(float32(L[k]), s, acc[k]).
//     Types with a per-block minimum add a second lane vector with a second
//     scale the same way.
//   - At the end the eight accumulators are folded by hsum8; Q4_1 and Q5_1
//     then add ggml's separate sum of the blocks' m·s terms.
//
// Q4_0, the format of the benchmark models, is "scalar" instead: each
// block's exact integer dot product is scaled once, acc = fma(float32(isum),
// dw·dx, acc), which lets the assembly do the float work of four or eight
// dot products in one instruction (see dotQ4_0). The float types (F32, F16,
// BF16) sum products into eight lanes, elements 8b+k into lane k, and add
// the rows' last cols%8 products after the fold.
//
// The integer sums are exact, so any SIMD decomposition that does not
// overflow gives the same ones; the float operations are the same in the
// same order; hence the assembly and the Go twins are bit-identical, and a
// MatMul result does not depend on the thread count, on how activation
// rows are grouped into panels, or on the instruction set.

// Activation layouts. A panel holds P activation rows (P = 1, "narrow",
// for decoding; P = 8, "wide", for prompts) quantized for one weight type,
// block-interleaved so that a kernel streams it linearly: for each block b
// a record of P quant runs (32 or 256 int8 each), then P "extra" fields;
// the P float32 scales of block b are kept apart, at d[b·P:] (and Q8_1's
// block sums at s[b·P:]).
//
//	Q8_0, Q8_1, narrow: x[32]int8 | bias[8]int32        (64 bytes)
//	Q8_0, Q8_1, wide:   x[8][32]int8                    (256 bytes)
//	Q8_0B, narrow:      x[32]int8 | bias int32 | 28 zeros (64 bytes)
//	Q8_0B, wide:        x[8][32]int8 | bias[8]int32     (288 bytes)
//	Q8_K:               x[P][256]int8 | bsums[P][16]int16 (288·P bytes)
//	float:              x[P][8]float32                  (32·P bytes)
//
// A narrow Q8_0 record carries the weight type's constant offset folded
// into lanes: for Q5_0, whose quants are stored as q+16, bias = -16 times
// the lane sums of x, which the kernel adds to each weight row's lanes
// (MXFP4's kernel looks its codebook up plus 12, with bias -12; Q8_0B, for
// the scalar Q4_0, holds -8·Σx for the whole block). Wide
// kernels have more weight work to amortise and keep the activations lean
// instead: a kernel may ask for its wide quants stored as x+128 (unsigned),
// and then corrects with a per-weight-block term. bsums are Q8_K's sums of
// 16 consecutive quants.

// actKind names an activation layout.
type actKind uint8

const (
	actQ8_0  actKind = iota // 32-element blocks, Q8_0 quants and scale
	actQ8_K                 // 256-element super-blocks, Q8_K quants, scale and bsums
	actF32                  // float32 values in blocks of 8
	actF16                  // values rounded to fp16, kept as float32, blocks of 8
	actBF16                 // values rounded to bf16, kept as float32, blocks of 8
	actQ8_1                 // Q8_0's quants and scale, plus s = fp16(d·Σq) per block
	actQ8_0B                // Q8_0's quants and scale, plus the block's bias·Σq
)

// isFloat reports whether k is one of the float layouts, whose rows may end
// in a partial block (a tail of fewer than 8 elements, added separately).
func (k actKind) isFloat() bool { return k >= actF32 && k <= actBF16 }

// q8 reports whether k stores Q8_0 quants (Q8_0 and Q8_1).
func (k actKind) q8() bool { return k == actQ8_0 || k == actQ8_1 || k == actQ8_0B }

// wide is the number of activation rows in a wide panel.
const wide = 8

func (k actKind) blockN() int {
	switch {
	case k == actQ8_K:
		return 256
	case k.isFloat():
		return 8
	}
	return 32
}

// recBytes is the size of one activation row's part of a block record in a
// panel of width p.
func (k actKind) recBytes(p int) int {
	switch {
	case k == actQ8_K:
		return 256 + 32
	case k.q8() && p == 1:
		return 32 + 32
	case k == actQ8_0B:
		return 32 + 4
	}
	return 32
}

// tileArgs is what a tile kernel reads and writes; assembly reads it by
// offset, so its layout is part of the kernels' ABI (qdot_amd64.h).
type tileArgs struct {
	w   [4]unsafe.Pointer // weight rows: 4 for a narrow tile, 1 for a wide one
	x   unsafe.Pointer    // the panel's first record (of the blocks to do)
	d   unsafe.Pointer    // the panel's first scale (of the blocks to do)
	nb  int               // blocks to do
	out [8]float32        // narrow: the dot product of weight row r (4 rows, 8 for a packed group)
	acc *[wide][8]float32 // wide: the lane accumulators of each activation row, continued
	s   unsafe.Pointer    // Q8_1: the panel's first block sum s (of the blocks to do)
	sum *[wide]float32    // Q8_1, wide: the running Σ m·s of each activation row
	ws  int               // packed twin: bytes from one block of w[0] to the next
	wn  int               // packed twin: bytes from a block's scale to its quants
	nr  int               // rowsF: weight rows, from w[0] on, each with its t.acc
	wrs int               // rowsF: bytes from one weight row to the next

	// Scratch of the portable kernels, here so that it is not allocated
	// per call (the assembly ignores it).
	pv   xview
	pacc [8]float32
	psum float32
	pbuf []byte
}

// tileFunc computes a tile of dot products: narrow tiles are four weight
// rows against a panel of one activation row, whole rows, wide tiles one
// weight row against a panel of eight, possibly a range of blocks at a time
// (the caller folds the lanes when the row is done).
type tileFunc func(t *tileArgs)

// qkernel is the integer dot product for one weight type.
type qkernel struct {
	act      actKind
	blockB   int   // bytes per weight block
	bias     int32 // narrow Q8_0 records: multiple of x's lane sums stored as bias
	wideFlip byte  // wide Q8_0 records: XOR applied to stored quants (0x80: x+128)
	scalar   bool  // one accumulator per dot product (acc[0]), not eight lanes

	pair          pairFunc // the portable twin of one dot product
	narrow, wideF tileFunc // tile kernels: the twin's loops or assembly
	// rowsF, where a kernel has it, is wideF over t.nr consecutive weight
	// rows (the accumulators of row i at t.acc[i]) in one call. Not for
	// Q8_1 kernels (no sums).
	rowsF tileFunc
}

// xview locates one activation row inside a panel for the portable twins.
type xview struct {
	rec    []byte    // the panel's records
	d      []float32 // the panel's scales
	stride int       // bytes per block record
	x, ext int       // offsets of this row's quants and bsums in a record
	p, c   int       // panel width and this row's index: scale b is d[b·p+c]
	flip   byte      // XOR to undo on stored quants
	s      []float32 // Q8_1: the block sums, as d
	sum    *float32  // Q8_1: where the Σ m·s term accumulates
}

// quants returns the activation quants of block b (n of them).
func (v *xview) quants(b, n int) []byte {
	o := b*v.stride + v.x
	return v.rec[o : o+n : o+n]
}

// bsums returns the Q8_K bsums of block b.
func (v *xview) bsums(b int) []byte {
	o := b*v.stride + v.ext
	return v.rec[o : o+32 : o+32]
}

// scale returns the activation scale of block b.
func (v *xview) scale(b int) float32 { return v.d[b*v.p+v.c] }

// view returns the xview of row c of a panel of width p.
func (k *qkernel) view(t *tileArgs, p, c int) xview {
	rb := k.act.recBytes(p)
	v := xview{
		rec:    unsafe.Slice((*byte)(t.x), t.nb*rb*p),
		d:      unsafe.Slice((*float32)(t.d), t.nb*p),
		stride: rb * p,
		p:      p, c: c,
	}
	switch k.act {
	case actQ8_0, actQ8_1, actQ8_0B:
		v.x = c * 32
		if p == wide {
			v.flip = k.wideFlip
		}
		if k.act == actQ8_1 {
			v.s = unsafe.Slice((*float32)(t.s), t.nb*p)
		}
	case actQ8_K:
		v.x, v.ext = c*256, p*256+c*32
	default:
		v.x = c * 32
	}
	return v
}

// pairFunc is the portable dot product of one weight row w (nb blocks) with
// one activation row: it continues the eight lane accumulators acc (a dot
// product is hsum8 of them once all blocks are in).
type pairFunc func(w []byte, x *xview, nb int, acc *[8]float32)

// qkernels maps a weight type to its kernel; nil means MatMul dequantizes
// rows and takes float32 dot products instead. portableQKernels holds the
// Go twins; the table in use is chosen once at start-up (selectKernels).
var (
	qkernels         [64]*qkernel
	portableQKernels [64]*qkernel
)

func init() {
	def := func(t tensor.Type, act actKind, blockB int, bias int32, flip byte, f pairFunc) {
		k := &qkernel{act: act, blockB: blockB, bias: bias, wideFlip: flip, pair: f}
		k.narrow, k.wideF = k.narrowPortable, k.widePortable
		portableQKernels[t] = k
	}
	def(tensor.Q4_0, actQ8_0B, 18, -8, 0, dotQ4_0)
	portableQKernels[tensor.Q4_0].scalar = true
	def(tensor.Q8_0, actQ8_0, 34, 0, 0, dotQ8_0)
	def(tensor.Q4_K, actQ8_K, 144, 0, 0, dotQ4_K)
	def(tensor.Q5_0, actQ8_0, 22, -16, 0x80, dotQ5_0)
	def(tensor.IQ4_NL, actQ8_0, 18, 0, 0, dotIQ4_NL)
	def(tensor.Q4_1, actQ8_1, 20, 0, 0, dotQ4_1)
	def(tensor.Q5_1, actQ8_1, 24, 0, 0, dotQ5_1)
	def(tensor.Q2_K, actQ8_K, 84, 0, 0, dotQ2_K)
	def(tensor.Q3_K, actQ8_K, 110, 0, 0, dotQ3_K)
	def(tensor.Q5_K, actQ8_K, 176, 0, 0, dotQ5_K)
	def(tensor.IQ4_XS, actQ8_K, 136, 0, 0, dotIQ4_XS)
	def(tensor.Q6_K, actQ8_K, 210, 0, 0, dotQ6_K)
	def(tensor.F32, actF32, 32, 0, 0, dotF32)
	def(tensor.F16, actF16, 16, 0, 0, dotF16)
	def(tensor.BF16, actBF16, 16, 0, 0, dotBF16)
	def(tensor.MXFP4, actQ8_0, 17, -12, 0, dotMXFP4)
	def(tensor.TQ1_0, actQ8_K, 54, 0, 0, dotTQ1_0)
	def(tensor.TQ2_0, actQ8_K, 66, 0, 0, dotTQ2_0)
	def(tensor.IQ2_XXS, actQ8_K, 66, 0, 0, dotIQ2_XXS)
	def(tensor.IQ2_XS, actQ8_K, 74, 0, 0, dotIQ2_XS)
	def(tensor.IQ2_S, actQ8_K, 82, 0, 0, dotIQ2_S)
	def(tensor.IQ3_XXS, actQ8_K, 98, 0, 0, dotIQ3_XXS)
	def(tensor.IQ3_S, actQ8_K, 110, 0, 0, dotIQ3_S)
	def(tensor.IQ1_S, actQ8_K, 50, 0, 0, dotIQ1_S)
	def(tensor.IQ1_M, actQ8_K, 56, 0, 0, dotIQ1_M)
	qkernels = portableQKernels
	selectKernels()
}

// narrowPortable is the twin of a narrow tile kernel.
func (k *qkernel) narrowPortable(t *tileArgs) {
	t.pv = k.view(t, 1, 0)
	for r := range 4 {
		w := unsafe.Slice((*byte)(t.w[r]), t.nb*k.blockB)
		t.pacc, t.psum = [8]float32{}, 0
		t.pv.sum = &t.psum
		k.pair(w, &t.pv, t.nb, &t.pacc)
		t.out[r] = k.fold(&t.pacc, t.psum)
	}
}

// widePortable is the twin of a wide tile kernel.
func (k *qkernel) widePortable(t *tileArgs) {
	w := unsafe.Slice((*byte)(t.w[0]), t.nb*k.blockB)
	for c := range wide {
		t.pv = k.view(t, wide, c)
		if t.sum != nil {
			t.pv.sum = &t.sum[c]
		}
		if k.scalar {
			// A scalar kernel's wide tile keeps activation row c's
			// accumulator in t.acc[0][c], where the assembly's vector of
			// eight is.
			t.pacc = [8]float32{t.acc[0][c]}
			k.pair(w, &t.pv, t.nb, &t.pacc)
			t.acc[0][c] = t.pacc[0]
			continue
		}
		k.pair(w, &t.pv, t.nb, &t.acc[c])
	}
}

// fold finishes a dot product: the lanes folded by hsum8, plus for the Q8_1
// types ggml's separate sum of the blocks' m·s terms.
func (k *qkernel) fold(acc *[8]float32, sum float32) float32 {
	switch {
	case k.scalar:
		return acc[0]
	case k.act == actQ8_1:
		return hsum8(acc) + sum
	}
	return hsum8(acc)
}

// acts holds a MatMul's activation rows quantized for one weight type. Rows
// are grouped into wide panels of eight while at least eight remain, the
// rest into narrow panels of one. Wide panels come first in rec; a panel
// starting at row r0 has its scales at d[r0·nb:].
type acts struct {
	kind  actKind
	n, nb int
	nWide int // wide panels
	// allNarrow: every row is a narrow panel (packed matrices, see
	// matmulJobs).
	allNarrow bool
	rec       []byte
	d         []float32
	tail      []float32 // float layouts: each row's last cols%8 values, rounded
	nt        int       // tail length
	s         []float32 // Q8_1: block sums, laid out as d
}

// recOffset is the offset in rec of the panel starting at row r0.
func (a *acts) recOffset(r0 int) int {
	wideRows := a.nWide * wide
	if r0 < wideRows {
		return r0 * a.nb * a.kind.recBytes(wide)
	}
	return wideRows*a.nb*a.kind.recBytes(wide) + (r0-wideRows)*a.nb*a.kind.recBytes(1)
}

// panel returns the records and scales of the panel starting at row r0.
func (a *acts) panel(r0 int) (unsafe.Pointer, unsafe.Pointer) {
	if a.nb == 0 {
		return nil, nil
	}
	return unsafe.Pointer(&a.rec[a.recOffset(r0)]), unsafe.Pointer(&a.d[r0*a.nb])
}

// panelS returns the block sums of the panel starting at row r0 (Q8_1).
func (a *acts) panelS(r0 int) unsafe.Pointer {
	if a.nb == 0 || a.kind != actQ8_1 {
		return nil
	}
	return unsafe.Pointer(&a.s[r0*a.nb])
}

// quantize fills a with the n rows of x (cols wide), each quantized to the
// activation type of k exactly as RoundActivations rounds it.
func (a *acts) quantize(p *Pool, k *qkernel, x []float32, n, cols int, allNarrow bool) {
	a.kind, a.n, a.nb = k.act, n, cols/k.act.blockN()
	a.nWide, a.allNarrow = n/wide, allNarrow
	if allNarrow {
		a.nWide = 0
	}
	a.nt = cols - a.nb*k.act.blockN()
	if need := n * a.nt; cap(a.tail) < need {
		a.tail = make([]float32, need)
	} else {
		a.tail = a.tail[:need]
	}
	if need := a.recOffset(n); cap(a.rec) < need {
		a.rec = make([]byte, need)
	} else {
		a.rec = a.rec[:need]
	}
	if need := n * a.nb; cap(a.d) < need {
		a.d = make([]float32, need)
	} else {
		a.d = a.d[:need]
	}
	if k.act == actQ8_1 {
		if need := n * a.nb; cap(a.s) < need {
			a.s = make([]float32, need)
		} else {
			a.s = a.s[:need]
		}
	}
	p.Parallel(n, 4*cols, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			a.quantizeRow(k, x[j*cols:(j+1)*cols], j)
		}
	})
}

// quantizeRow quantizes activation row j into its panel.
func (a *acts) quantizeRow(k *qkernel, x []float32, j int) {
	r0, p := j, 1
	if j < a.nWide*wide {
		r0, p = j/wide*wide, wide
	}
	c := j - r0
	rb := a.kind.recBytes(p)
	off := a.recOffset(r0)
	rec := a.rec[off : off+a.nb*rb*p]
	d := a.d[r0*a.nb : (r0+p)*a.nb]
	// The assembly quantizes every block it can reproduce exactly and
	// marks the others (NaN, infinities, extreme magnitudes) for the loop
	// below.
	fast := false
	switch {
	case a.nb == 0:
	case a.kind == actQ8_0 && quantQ8_0Asm != nil:
		var bias []byte
		flip := k.wideFlip
		if p == 1 {
			bias, flip = rec[32:], 0
		}
		quantQ8_0Asm(x, a.nb, rec[c*32:], p*rb, d[c:], p, bias, k.bias, flip)
		fast = true
	case a.kind == actQ8_0B && quantQ8_0Asm != nil:
		quantQ8_0Asm(x, a.nb, rec[c*32:], p*rb, d[c:], p, nil, 0, 0)
		fast = true
	case a.kind == actQ8_K && quantQ8_KAsm != nil:
		quantQ8_KAsm(x, a.nb, rec[c*256:], p*rb, d[c:], p, rec[p*256+c*32:])
		fast = true
	}
	for b := 0; b < a.nb; b++ {
		r := rec[b*p*rb : (b+1)*p*rb]
		if a.kind == actQ8_0B {
			// The block's bias·Σq: after the quants in a narrow record, after
			// all eight rows' quants in a wide one.
			xs := r[c*32 : c*32+32]
			if !fast || math.Float32bits(d[b*p+c]) == redo {
				d[b*p+c] = quantQ8_0Block(x[b*32:b*32+32], xs)
			}
			var s int32
			for _, q := range xs {
				s += int32(int8(q))
			}
			if p == 1 {
				clear(r[32:64])
				binary.LittleEndian.PutUint32(r[32:], uint32(k.bias*s))
			} else {
				binary.LittleEndian.PutUint32(r[wide*32+4*c:], uint32(k.bias*s))
			}
			continue
		}
		if fast && math.Float32bits(d[b*p+c]) != redo {
			continue
		}
		switch a.kind {
		case actQ8_0, actQ8_1:
			xs := r[c*32 : c*32+32]
			if a.kind == actQ8_1 {
				d[b*p+c], a.s[r0*a.nb+b*p+c] = quantQ8_1Block(x[b*32:b*32+32], xs)
			} else {
				d[b*p+c] = quantQ8_0Block(x[b*32:b*32+32], xs)
			}
			if p == 1 {
				bias := r[32:64]
				for l := range 8 {
					var s int32
					for _, q := range xs[4*l : 4*l+4] {
						s += int32(int8(q))
					}
					binary.LittleEndian.PutUint32(bias[4*l:], uint32(k.bias*s))
				}
			} else if k.wideFlip != 0 {
				for i := range xs {
					xs[i] ^= k.wideFlip
				}
			}
		case actQ8_K:
			d[b*p+c] = quantQ8_KBlock(x[b*256:b*256+256], r[c*256:c*256+256], r[p*256+c*32:p*256+c*32+32])
		default:
			xs := r[c*32 : c*32+32]
			for i, v := range x[b*8 : b*8+8] {
				binary.LittleEndian.PutUint32(xs[4*i:], math.Float32bits(a.kind.round(v)))
			}
		}
	}
	for i := range a.nt {
		a.tail[j*a.nt+i] = a.kind.round(x[a.nb*8+i])
	}
}

// redo is the scale the assembly quantizers write for a block they leave
// to the Go code.
const redo = 0xffffffff

// The assembly quantizers, where the CPU has them: nb blocks of x to quants
// at q[b·qStride:] and scales at d[b·dStride]; for Q8_0 the narrow bias at
// bias[b·qStride:] (when bias is non-nil) and the wide flip, for Q8_K the
// bsums at bsums[b·qStride:].
var (
	quantQ8_0Asm func(x []float32, nb int, q []byte, qStride int, d []float32, dStride int, bias []byte, biasMul int32, flip byte)
	quantQ8_KAsm func(x []float32, nb int, q []byte, qStride int, d []float32, dStride int, bsums []byte)
)

// round is a float layout's rounding of an activation (its DotType).
func (k actKind) round(v float32) float32 {
	switch k {
	case actF16:
		return quant.FP16ToFloat32(quant.Float32ToFP16(v))
	case actBF16:
		return quant.BF16ToFloat32(quant.Float32ToBF16(v))
	}
	return v
}

// addTail adds to s the products of a float row's tail, after the lanes, in
// order: the canonical end of a float dot product.
func (k *qkernel) addTail(s float32, w []byte, xt []float32) float32 {
	base := len(w) - len(xt)*k.blockB/8
	for i, x := range xt {
		s += float32(k.weightAt(w, base, i) * x)
	}
	return s
}

// weightAt returns the i-th value of a float row's bytes from offset base.
func (k *qkernel) weightAt(w []byte, base, i int) float32 {
	switch k.act {
	case actF16:
		return quant.FP16ToFloat32(binary.LittleEndian.Uint16(w[base+2*i:]))
	case actBF16:
		return quant.BF16ToFloat32(binary.LittleEndian.Uint16(w[base+2*i:]))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(w[base+4*i:]))
}

// quantQ8_0Block quantizes 32 values to Q8_0 quants in q and returns the
// block scale as Q8_0 stores it (fp16-rounded), bit-identical to
// quant.Quantize (ggml's quantize_row_q8_0_ref).
func quantQ8_0Block(x []float32, q []byte) float32 {
	x, q = x[:32], q[:32]
	var amax float32
	for _, v := range x {
		// ggml's MAX macro, not the max builtin: a NaN is replaced by the
		// next element, exactly as the reference does.
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	for i, v := range x {
		y := float32(v * id) // rounded: no fusing with the subtraction below
		if abs32(y) < 1<<22 {
			// roundf (halves away from zero) of a float32 well inside
			// int32 range: truncate, then look at the exact remainder.
			t := int32(y)
			if f := y - float32(t); f >= 0.5 {
				t++
			} else if f <= -0.5 {
				t--
			}
			q[i] = byte(int8(t))
		} else {
			q[i] = byte(int8(math.Round(float64(y)))) // non-finite: as the reference
		}
	}
	return quant.FP16ToFloat32(quant.Float32ToFP16(d))
}

// quantQ8_1Block is quantQ8_0Block for Q8_1, which also returns the block
// sum as ggml's quantize_row_q8_1_ref stores it: the quants' sum times the
// unrounded scale, rounded to fp16.
func quantQ8_1Block(x []float32, q []byte) (d, s float32) {
	d = quantQ8_0Block(x, q)
	var amax float32
	for _, v := range x[:32] {
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	var sum int32
	for _, v := range q[:32] {
		sum += int32(int8(v))
	}
	return d, quant.FP16ToFloat32(quant.Float32ToFP16(float32(sum) * (amax / 127)))
}

// quantQ8_KBlock quantizes 256 values to Q8_K quants in q and their sums
// of 16 in bsums (int16 little-endian), returning the float32 scale,
// bit-identical to quant.Quantize (ggml's quantize_row_q8_K_ref).
func quantQ8_KBlock(x []float32, q, bsums []byte) float32 {
	x, q, bsums = x[:256], q[:256], bsums[:32]
	var max, amax float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	if amax == 0 {
		clear(q)
		clear(bsums)
		return 0
	}
	iscale := -127 / max
	for i, v := range x {
		// ggml's nearest_int: 1.5·2^23 pushes the fraction out of the
		// mantissa, so the FPU rounds (to even) and the low bits hold it.
		// (The conversion keeps the product from fusing with the add.)
		t := int32(math.Float32bits(float32(iscale*v)+12582912)&0x007fffff) - 0x00400000
		q[i] = byte(int8(min(127, t)))
	}
	for j := range 16 {
		var s int32
		for _, v := range q[16*j : 16*j+16] {
			s += int32(int8(v))
		}
		binary.LittleEndian.PutUint16(bsums[2*j:], uint16(int16(s)))
	}
	return 1 / iscale
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

var actsPool = sync.Pool{New: func() any { return new(acts) }}

// fp16le reads a little-endian fp16 as float32.
func fp16le(b []byte) float32 { return quant.FP16ToFloat32(binary.LittleEndian.Uint16(b)) }

// ---- portable twins ----

// dotQ4_0: x = d·(q-8) with q the nibbles, low nibbles elements 0-15.
// Q4_0 is a scalar kernel: each block's exact integer dot product
// isum = Σ(q-8)·x is scaled once, acc = fma(float32(isum), dw·dx, acc), and
// the dot product is acc itself. (The assembly sums each block with a
// tree of VPMADDWD and VPACKSSDW, and so does the float work of eight dot
// products in one instruction.)
func dotQ4_0(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*18 : b*18+18 : b*18+18]
		x := v.quants(b, 32)
		q := blk[2:18]
		var isum int32
		for i := range 16 {
			isum += (int32(q[i]&15) - 8) * int32(int8(x[i]))
			isum += (int32(q[i]>>4) - 8) * int32(int8(x[16+i]))
		}
		acc[0] = fma32(float32(isum), fp16le(blk)*v.scale(b), acc[0])
	}
}

// dotQ8_0: x = d·q with q int8.
func dotQ8_0(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*34 : b*34+34 : b*34+34]
		x := v.quants(b, 32)
		s := fp16le(blk) * v.scale(b)
		q := blk[2:34]
		for k := range 8 {
			var l int32
			for i := 4 * k; i < 4*k+4; i++ {
				l += int32(int8(q[i])) * int32(int8(x[i]^v.flip))
			}
			acc[k] = fma32(float32(l), s, acc[k])
		}
	}
}

// dotQ5_0: x = d·(q-16) with q's fifth bit in the 32-bit qh (bit j for
// element j).
func dotQ5_0(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*22 : b*22+22 : b*22+22]
		x := v.quants(b, 32)
		s := fp16le(blk) * v.scale(b)
		qh := binary.LittleEndian.Uint32(blk[2:])
		q := blk[6:22]
		for k := range 4 {
			var lo, hi int32
			for i := 4 * k; i < 4*k+4; i++ {
				q0 := int32(q[i]&15) | int32(qh>>uint(i)&1)<<4
				q1 := int32(q[i]>>4) | int32(qh>>uint(i+16)&1)<<4
				lo += (q0 - 16) * int32(int8(x[i]^v.flip))
				hi += (q1 - 16) * int32(int8(x[16+i]^v.flip))
			}
			acc[k] = fma32(float32(lo), s, acc[k])
			acc[k+4] = fma32(float32(hi), s, acc[k+4])
		}
	}
}

// dotQ4_1: x = d·q + m with q the nibbles (laid out as Q4_0's). As ggml:
// the lanes carry d·dx·Σq·x, and m·s (s the activation block's sum) is
// added up separately, one block at a time, and added at the end (fold).
func dotQ4_1(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*20 : b*20+20 : b*20+20]
		x := v.quants(b, 32)
		s := fp16le(blk) * v.scale(b)
		q := blk[4:20]
		for k := range 4 {
			var lo, hi int32
			for i := 4 * k; i < 4*k+4; i++ {
				lo += int32(q[i]&15) * int32(int8(x[i]^v.flip))
				hi += int32(q[i]>>4) * int32(int8(x[16+i]^v.flip))
			}
			acc[k] = fma32(float32(lo), s, acc[k])
			acc[k+4] = fma32(float32(hi), s, acc[k+4])
		}
		*v.sum += float32(fp16le(blk[2:]) * v.s[b*v.p+v.c])
	}
}

// dotQ5_1 is dotQ4_1 with a fifth bit per quant, as in Q5_0.
func dotQ5_1(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*24 : b*24+24 : b*24+24]
		x := v.quants(b, 32)
		s := fp16le(blk) * v.scale(b)
		qh := binary.LittleEndian.Uint32(blk[4:])
		q := blk[8:24]
		for k := range 4 {
			var lo, hi int32
			for i := 4 * k; i < 4*k+4; i++ {
				q0 := int32(q[i]&15) | int32(qh>>uint(i)&1)<<4
				q1 := int32(q[i]>>4) | int32(qh>>uint(i+16)&1)<<4
				lo += q0 * int32(int8(x[i]^v.flip))
				hi += q1 * int32(int8(x[16+i]^v.flip))
			}
			acc[k] = fma32(float32(lo), s, acc[k])
			acc[k+4] = fma32(float32(hi), s, acc[k+4])
		}
		*v.sum += float32(fp16le(blk[2:]) * v.s[b*v.p+v.c])
	}
}

// iq4nl is the IQ4 codebook (ggml's kvalues_iq4nl).
var iq4nl = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// dotIQ4_NL: x = d·iq4nl[q], nibbles laid out as in Q4_0.
func dotIQ4_NL(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*18 : b*18+18 : b*18+18]
		x := v.quants(b, 32)
		s := fp16le(blk) * v.scale(b)
		q := blk[2:18]
		for k := range 4 {
			var lo, hi int32
			for i := 4 * k; i < 4*k+4; i++ {
				lo += int32(iq4nl[q[i]&15]) * int32(int8(x[i]))
				hi += int32(iq4nl[q[i]>>4]) * int32(int8(x[16+i]))
			}
			acc[k] = fma32(float32(lo), s, acc[k])
			acc[k+4] = fma32(float32(hi), s, acc[k+4])
		}
	}
}

// dotQ2_K: 2-bit quants in sixteen 16-element sub-blocks, each with a 4-bit
// scale (low nibble) and min (high nibble): x = d·sc·q - dmin·m. Run c of
// 32 elements is bits 2k of qs[32h:] (h = c/4, k = c%4). Lanes as Q4_K's,
// the mins lane k being m_2k·bsum_2k + m_2k+1·bsum_2k+1.
func dotQ2_K(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*84 : b*84+84 : b*84+84]
		x, bs := v.quants(b, 256), v.bsums(b)
		sc := blk[0:16]
		var L, M [8]int32
		for c := range 8 {
			qs := blk[16+32*(c/4) : 16+32*(c/4)+32]
			sh := uint(2 * (c % 4))
			xs := x[32*c : 32*c+32]
			for k := range 8 {
				var s int32
				for i := 4 * k; i < 4*k+4; i++ {
					s += int32(qs[i]>>sh&3) * int32(int8(xs[i]))
				}
				L[k] += int32(sc[2*c+k/4]&15) * s
			}
		}
		for k := range 8 {
			M[k] = int32(sc[2*k]>>4)*bsum(bs, 2*k) + int32(sc[2*k+1]>>4)*bsum(bs, 2*k+1)
		}
		dx := v.scale(b)
		s, sm := dx*fp16le(blk[80:]), -(dx * fp16le(blk[82:]))
		for k := range 8 {
			acc[k] = fma32(float32(L[k]), s, acc[k])
			acc[k] = fma32(float32(M[k]), sm, acc[k])
		}
	}
}

// q3Scales unpacks Q3_K's sixteen 6-bit scales, minus 32.
func q3Scales(s []byte) (sc [16]int32) {
	for j := range sc {
		var lo byte
		if j < 8 {
			lo = s[j] & 0x0f
		} else {
			lo = s[j-8] >> 4
		}
		hi := (s[8+j%4] >> (2 * (j / 4))) & 3
		sc[j] = int32(lo|hi<<4) - 32
	}
	return sc
}

// dotQ3_K: 3-bit quants (2 bits in qs as Q2_K, the third in hmask: bit
// 4h+k of hmask[l] for run c = 4h+k), stored as q+4, in sixteen
// sub-blocks with signed 6-bit scales. Lanes as Q6_K's: L over the unsigned
// quants, minus 4·B.
func dotQ3_K(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*110 : b*110+110 : b*110+110]
		x, bs := v.quants(b, 256), v.bsums(b)
		hm := blk[0:32]
		sc := q3Scales(blk[96:108])
		var L [8]int32
		for c := range 8 {
			h, kk := c/4, c%4
			qs := blk[32+32*h : 32+32*h+32]
			sh, hb := uint(2*kk), uint(4*h+kk)
			xs := x[32*c : 32*c+32]
			for k := range 8 {
				var s int32
				for i := 4 * k; i < 4*k+4; i++ {
					q := int32(qs[i]>>sh&3) | int32(hm[i]>>hb&1)<<2
					s += q * int32(int8(xs[i]))
				}
				L[k] += sc[2*c+k/4] * s
			}
		}
		s := fp16le(blk[108:]) * v.scale(b)
		for k := range 8 {
			B := sc[2*k]*bsum(bs, 2*k) + sc[2*k+1]*bsum(bs, 2*k+1)
			acc[k] = fma32(float32(L[k]-4*B), s, acc[k])
		}
	}
}

// dotIQ4_XS: IQ4 codebook values in eight 32-element sub-blocks with signed
// 6-bit scales (low 4 bits in scales_l, top 2 in scales_h), each laid out
// as an IQ4_NL block. Lanes: L = Σ sc·(lane of v·x).
func dotIQ4_XS(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*136 : b*136+136 : b*136+136]
		x := v.quants(b, 256)
		sh := binary.LittleEndian.Uint16(blk[2:])
		sl := blk[4:8]
		var L [8]int32
		for ib := range 8 {
			ls := int32(sl[ib/2]>>(4*(ib%2))&0x0f) | int32(sh>>(2*ib)&3)<<4
			q := blk[8+16*ib : 8+16*ib+16]
			xs := x[32*ib : 32*ib+32]
			for k := range 4 {
				var lo, hi int32
				for i := 4 * k; i < 4*k+4; i++ {
					lo += int32(iq4nl[q[i]&15]) * int32(int8(xs[i]))
					hi += int32(iq4nl[q[i]>>4]) * int32(int8(xs[16+i]))
				}
				L[k] += (ls - 32) * lo
				L[k+4] += (ls - 32) * hi
			}
		}
		s := fp16le(blk) * v.scale(b)
		for k := range 8 {
			acc[k] = fma32(float32(L[k]), s, acc[k])
		}
	}
}

// scaleMinK4 unpacks sub-block j's 6-bit scale and min of Q4_K/Q5_K.
func scaleMinK4(j int, s []byte) (sc, m int32) {
	if j < 4 {
		return int32(s[j] & 63), int32(s[j+4] & 63)
	}
	return int32(s[j+4]&0x0f | (s[j-4]>>6)<<4), int32(s[j+4]>>4 | (s[j]>>6)<<4)
}

// bsum returns Q8_K bsums entry i.
func bsum(bs []byte, i int) int32 { return int32(int16(binary.LittleEndian.Uint16(bs[2*i:]))) }

// dotQ4_K: super-blocks of eight 32-element sub-blocks with 6-bit scales
// and mins, x = d·sc·q - dmin·m. Lanes: L[k] = Σ_j sc_j·(lane k of
// sub-block j); the mins form a second lane vector M[j] = m_j·(sum of
// sub-block j's activation quants), scaled by -dx·dmin.
func dotQ4_K(w []byte, v *xview, nb int, acc *[8]float32) { dotQ4_KWith(q4kLanes, w, v, nb, acc) }

// q4kLanes computes dotQ4_K's integer lanes L of one super-block: qs its
// 128 bytes of nibbles, x its 256 activation quants, sc the sub-blocks'
// scales.
func q4kLanes(qs, x []byte, sc *[8]int32, L *[8]int32) {
	*L = [8]int32{}
	for j := range 8 {
		q := qs[32*(j/2) : 32*(j/2)+32]
		sh := uint(4 * (j % 2))
		xs := x[32*j : 32*j+32]
		for k := range 8 {
			var s int32
			for i := 4 * k; i < 4*k+4; i++ {
				s += int32(q[i]>>sh&15) * int32(int8(xs[i]))
			}
			L[k] += sc[j] * s
		}
	}
}

// dotQ4_KWith is dotQ4_K with its integer lanes computed by lanes (the
// portable loop, or SIMD that computes the same integers).
func dotQ4_KWith(lanes func(qs, x []byte, sc *[8]int32, L *[8]int32), w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*144 : b*144+144 : b*144+144]
		x, bs := v.quants(b, 256), v.bsums(b)
		dx := v.scale(b)
		scales := blk[4:16]
		var sc, L, M [8]int32
		for j := range 8 {
			var m int32
			sc[j], m = scaleMinK4(j, scales)
			M[j] = m * (bsum(bs, 2*j) + bsum(bs, 2*j+1))
		}
		lanes(blk[16:144], x, &sc, &L)
		s, sm := dx*fp16le(blk), -(dx * fp16le(blk[2:]))
		for k := range 8 {
			acc[k] = fma32(float32(L[k]), s, acc[k])
			acc[k] = fma32(float32(M[k]), sm, acc[k])
		}
	}
}

// dotQ5_K is dotQ4_K with a fifth bit per quant: bit j of qh[l] for
// element l of sub-block j.
func dotQ5_K(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*176 : b*176+176 : b*176+176]
		x, bs := v.quants(b, 256), v.bsums(b)
		dx := v.scale(b)
		scales := blk[4:16]
		qh := blk[16:48]
		var L, M [8]int32
		for j := range 8 {
			sc, m := scaleMinK4(j, scales)
			qs := blk[48+32*(j/2) : 48+32*(j/2)+32]
			sh := uint(4 * (j % 2))
			xs := x[32*j : 32*j+32]
			for k := range 8 {
				var s int32
				for i := 4 * k; i < 4*k+4; i++ {
					q := int32(qs[i]>>sh&15) | int32(qh[i]>>uint(j)&1)<<4
					s += q * int32(int8(xs[i]))
				}
				L[k] += sc * s
			}
			M[j] = m * (bsum(bs, 2*j) + bsum(bs, 2*j+1))
		}
		s, sm := dx*fp16le(blk), -(dx * fp16le(blk[2:]))
		for k := range 8 {
			acc[k] = fma32(float32(L[k]), s, acc[k])
			acc[k] = fma32(float32(M[k]), sm, acc[k])
		}
	}
}

// dotQ6_K: 6-bit quants q (stored unsigned, x = d·sc·(q-32)) in sixteen
// 16-element sub-blocks with int8 scales. Lanes: L[k] = Σ over the eight
// 32-element runs of sc·(lane k of q·x), minus 32·B[k] with
// B[k] = sc_2k·bsum_2k + sc_2k+1·bsum_2k+1 (ggml's AVX2 order).
func dotQ6_K(w []byte, v *xview, nb int, acc *[8]float32) { dotQ6_KWith(q6kLanes, w, v, nb, acc) }

// q6kLanes computes dotQ6_K's integer lanes L of one super-block blk (210
// bytes) against its 256 activation quants x.
func q6kLanes(blk, x []byte, L *[8]int32) {
	*L = [8]int32{}
	sc := blk[192:208]
	for run := range 8 {
		h, t := run/4, run%4
		ql := blk[64*h+32*(t&1) : 64*h+32*(t&1)+32]
		qh := blk[128+32*h : 128+32*h+32]
		nsh, hsh := uint(4*(t>>1)), uint(2*t)
		xs := x[32*run : 32*run+32]
		for k := range 8 {
			var s int32
			for l := 4 * k; l < 4*k+4; l++ {
				q := int32(ql[l]>>nsh&15 | (qh[l]>>hsh&3)<<4)
				s += q * int32(int8(xs[l]))
			}
			L[k] += int32(int8(sc[2*run+k/4])) * s
		}
	}
}

// dotQ6_KWith is dotQ6_K with its integer lanes computed by lanes.
func dotQ6_KWith(lanes func(blk, x []byte, L *[8]int32), w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*210 : b*210+210 : b*210+210]
		x, bs := v.quants(b, 256), v.bsums(b)
		sc := blk[192:208]
		var L [8]int32
		lanes(blk, x, &L)
		s := fp16le(blk[208:]) * v.scale(b)
		for k := range 8 {
			B := int32(int8(sc[2*k]))*bsum(bs, 2*k) + int32(int8(sc[2*k+1]))*bsum(bs, 2*k+1)
			acc[k] = fma32(float32(L[k]-32*B), s, acc[k])
		}
	}
}

// dotF32, dotF16, dotBF16: float weights against float activations (already
// rounded to the weight's DotType), blocks of 8 elements. Element i of each
// block goes to lane i; products are rounded, then added. With fp16 or bf16
// on both sides the products are exact, so the assembly may fuse them.
func dotF32(w []byte, v *xview, nb int, acc *[8]float32) {
	dotFloat(w, v, nb, acc, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
}

func dotF16(w []byte, v *xview, nb int, acc *[8]float32) {
	dotFloat(w, v, nb, acc, 2, func(b []byte) float32 { return quant.FP16ToFloat32(binary.LittleEndian.Uint16(b)) })
}

func dotBF16(w []byte, v *xview, nb int, acc *[8]float32) {
	dotFloat(w, v, nb, acc, 2, func(b []byte) float32 { return quant.BF16ToFloat32(binary.LittleEndian.Uint16(b)) })
}

func dotFloat(w []byte, v *xview, nb int, acc *[8]float32, size int, at func([]byte) float32) {
	for b := 0; b < nb; b++ {
		x := v.quants(b, 32)
		wb := w[b*8*size : (b+1)*8*size]
		for l := range acc {
			xv := math.Float32frombits(binary.LittleEndian.Uint32(x[4*l:]))
			acc[l] += float32(at(wb[l*size:]) * xv)
		}
	}
}
