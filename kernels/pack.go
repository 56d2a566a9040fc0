package kernels

import (
	"unsafe"

	"github.com/ondo-ai/ondo/tensor"
)

// Packed weight layouts.
//
// A decoding step reads every weight once, so its speed is the speed at
// which a kernel turns weight bytes into dot products. Q4_0 as stored costs
// a narrow tile a scalar gather of four fp16 scales per block and one
// 16-byte load and nibble split per row and block. Interleaving eight rows
// lets one tile read one contiguous stream, convert eight scales with one
// instruction and split two rows' nibbles with one 32-byte load:
//
//	Q4_0x8 group g (rows 8g … 8g+7), block b, at (g·nb + b)·144:
//	  d[8]  fp16 scales, rows 0…7 in order              (16 bytes)
//	  q[8]  the rows' 16 nibble bytes, in slot order     (128 bytes)
//
// Slot s holds row q40Slot[s] = 0 4 1 5 2 6 3 7: the 32-byte loads at
// q[0:2], q[2:4], q[4:6], q[6:8] hold rows (0|4) (1|5) (2|6) (3|7), which
// the kernel's reduction tree (VPACKSSDW of two such pairs, twice) leaves
// in the eight lanes of one register in row order.
//
// MXFP4 packs the same way, its scales being one E8M0 byte a row:
//
//	MXFP4x8 group g (rows 8g … 8g+7), block b, at (g·nb + b)·136:
//	  e[8]  scale bytes, rows 0…7 in order               (8 bytes)
//	  q[8]  the rows' 16 nibble bytes, rows 0…7 in order (128 bytes)
//
// Its tile keeps the lane-wise sums of dotMXFP4, eight lanes per row in
// one register each, so the layout is the rows' blocks side by side; what
// the tile gains over four stored rows is one stream, the activation
// quants and lane biases loaded once for eight rows, and the eight scale
// bytes turned into float32 factors by a few vector instructions (see
// tileMXFP4x8NarrowAVX2, and its VNNI variant, which needs fewer
// instructions a row). Unlike Q4_0's scalar sums, the lanes keep every
// step of the per-row work (unpack, look up, multiply-add, convert, fused
// scale), so for prompts a packed MXFP4 matrix costs about what the wide
// tiles cost (BenchmarkQKernels, n=64: within 5%).
//
// MatMul meets every activation row of a packed matrix with the narrow
// tile, batches and prompts included: per row it costs 10-30% less than a
// wide tile over the stored layout (BenchmarkQKernels, impl=packed).
//
// A matrix is packed only when it can give its mapped pages back (see
// [Matrix.SetRelease]), its row count is a multiple of eight, and the CPU's
// kernel table has a packed kernel for its type; Row, GetRow and Vector
// keep reading the original encoding.

// packing describes a packed layout of one weight type.
type packing struct {
	rows   int // rows per group
	blockB int // bytes per group and block
	scaleB int // bytes of a stored block's scale, which its quants follow
	// pack writes the group of rows starting at src (rows×rowBytes, stored
	// encoding) to dst in the packed layout.
	pack func(dst, src []byte, nb int)
	// row returns where row i of a group finds its blocks: the offset of
	// its scale from the group's block record, and the offset of its quants
	// from its scale. The portable twin reads the rows back with these.
	row func(i int) (scale, quants int)
}

var q40Slot = [8]int{0, 4, 1, 5, 2, 6, 3, 7}

// q40RowSlot is the inverse of q40Slot.
var q40RowSlot = func() (s [8]int) {
	for slot, r := range q40Slot {
		s[r] = slot
	}
	return s
}()

func packQ4_0x8(dst, src []byte, nb int) {
	rowBytes := nb * 18
	for b := range nb {
		rec := dst[b*144 : b*144+144 : b*144+144]
		for r := range 8 {
			blk := src[r*rowBytes+b*18 : r*rowBytes+b*18+18]
			copy(rec[2*r:2*r+2], blk[:2])
			s := q40RowSlot[r]
			copy(rec[16+16*s:32+16*s], blk[2:])
		}
	}
}

func q40x8Row(i int) (scale, quants int) { return 2 * i, 16 + 16*q40RowSlot[i] - 2*i }

func packMXFP4x8(dst, src []byte, nb int) {
	rowBytes := nb * 17
	for b := range nb {
		rec := dst[b*136 : b*136+136 : b*136+136]
		for r := range 8 {
			blk := src[r*rowBytes+b*17 : r*rowBytes+b*17+17]
			rec[r] = blk[0]
			copy(rec[8+16*r:24+16*r], blk[1:])
		}
	}
}

func mxfp4x8Row(i int) (scale, quants int) { return i, 8 + 16*i - i }

// packings maps a weight type to its packed layout, where one exists.
var packings = [64]*packing{
	tensor.Q4_0:  {rows: 8, blockB: 144, scaleB: 2, pack: packQ4_0x8, row: q40x8Row},
	tensor.MXFP4: {rows: 8, blockB: 136, scaleB: 1, pack: packMXFP4x8, row: mxfp4x8Row},
}

// packedKernels holds the packed layouts' narrow tiles in use: all the
// group's rows against one activation row, out[i] receiving row i. MatMul
// gives a packed matrix every activation row as a narrow panel. A nil
// entry means MatMul reads that type as stored; only assembly is installed
// (selectKernels): the portable twins gain nothing from a packed layout.
var packedKernels [64]tileFunc

// packedVariants names the tables of the other packed tiles this CPU runs
// (VNNI variants of the AVX2 ones on amd64), which selectKernels may have
// put in packedKernels instead, so that tests check each against the
// twins; nil where there are none.
var packedVariants map[string][64]tileFunc

// portablePackedKernels returns the twins of the packed tiles, for tests.
func portablePackedKernels() (t [64]tileFunc) {
	for typ, pk := range packings {
		if pk != nil {
			t[typ] = portableQKernels[typ].portablePacked(pk)
		}
	}
	return t
}

// portablePacked is the twin of every packed narrow tile: each row's
// blocks gathered back into the stored encoding, then the type's portable
// dot product, so a packed matrix computes exactly what the stored one
// does.
func (k *qkernel) portablePacked(pk *packing) tileFunc {
	return func(t *tileArgs) {
		base := t.w[0]
		for i := range pk.rows {
			sc, qo := pk.row(i)
			t.w[0], t.ws, t.wn = unsafe.Add(base, sc), pk.blockB, qo
			t.out[i] = k.stridedRow(t, pk.scaleB)
		}
		t.w[0] = base
	}
}

// stridedRow is the portable dot product of the weight row whose block b
// has its scale (sb bytes) at t.w[0] + b·t.ws and its quants t.wn bytes
// further, with the narrow activation panel of t.
func (k *qkernel) stridedRow(t *tileArgs, sb int) float32 {
	w := k.gather(t, sb)
	t.pv = k.view(t, 1, 0)
	t.pacc, t.psum = [8]float32{}, 0
	t.pv.sum = &t.psum
	k.pair(w, &t.pv, t.nb, &t.pacc)
	return k.fold(&t.pacc, t.psum)
}

// gather copies the strided row of t (see stridedRow) into t.pbuf in the
// stored encoding, which for the packed types is a scale of sb bytes (2 for
// Q4_0's fp16, 1 for MXFP4's E8M0) followed by the quants.
func (k *qkernel) gather(t *tileArgs, sb int) []byte {
	need := t.nb * k.blockB
	if cap(t.pbuf) < need {
		t.pbuf = make([]byte, need)
	}
	w := t.pbuf[:need]
	for b := range t.nb {
		p := unsafe.Add(t.w[0], b*t.ws)
		blk := w[b*k.blockB : (b+1)*k.blockB]
		copy(blk[:sb], unsafe.Slice((*byte)(p), sb))
		copy(blk[sb:], unsafe.Slice((*byte)(unsafe.Add(p, t.wn)), k.blockB-sb))
	}
	return w
}

// packedData returns m's packed copy, making it on first use when m may be
// packed, or nil when MatMul reads m as stored.
func (m *Matrix) packedData() []byte {
	if m.release == nil {
		return nil
	}
	m.packOnce.Do(func() {
		pk := packings[m.Type]
		if pk == nil || packedKernels[m.Type] == nil || m.Rows%pk.rows != 0 {
			return
		}
		nb := m.Cols / m.Type.BlockSize()
		rb := m.RowBytes()
		packed := make([]byte, len(m.Data))
		for g := 0; g < m.Rows/pk.rows; g++ {
			pk.pack(packed[g*nb*pk.blockB:(g+1)*nb*pk.blockB], m.Data[g*pk.rows*rb:(g+1)*pk.rows*rb], nb)
		}
		m.packed = packed
		m.release(m.Data)
	})
	return m.packed
}
