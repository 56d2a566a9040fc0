package kernels

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// DotType returns the encoding ggml converts activations to before taking
// their dot product with weight rows of type t (ggml's vec_dot_type): F16
// and BF16 weights meet fp16 and bf16 activations, the legacy block types
// and MXFP4 meet Q8_0 (Q8_1 for Q4_1 and Q5_1), the K-quants, the ternary
// TQ1_0 and TQ2_0 and the IQ types but IQ4_NL meet Q8_K, and F32 meets F32.
//
// MatMul rounds activations to this precision, which is what makes its
// results match llama.cpp's to float32 rounding rather than to the
// quantization noise of the activations, and what lets integer SIMD kernels
// (int8 × int4/int8 dot products) compute exactly the same function as the
// portable code.
func DotType(t tensor.Type) tensor.Type {
	switch t {
	case tensor.F16, tensor.BF16:
		return t
	case tensor.Q4_0, tensor.Q5_0, tensor.Q8_0, tensor.IQ4_NL, tensor.MXFP4:
		return tensor.Q8_0
	case tensor.Q4_1, tensor.Q5_1:
		return tensor.Q8_1
	case tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.IQ4_XS,
		tensor.TQ1_0, tensor.TQ2_0, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S,
		tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S, tensor.IQ1_M:
		return tensor.Q8_K
	}
	return tensor.F32
}

// RoundActivations writes to dst the values of x as a dot product with
// weights of type t sees them: x converted to DotType(t) and back to
// float32. len(x) must be a multiple of t's block size, as a weight row is.
func RoundActivations(dst, x []float32, t tensor.Type) {
	dst = dst[:len(x)]
	dt := DotType(t)
	switch dt {
	case tensor.F32:
		copy(dst, x)
		return
	case tensor.F16:
		for i, v := range x {
			dst[i] = quant.FP16ToFloat32(quant.Float32ToFP16(v))
		}
		return
	case tensor.BF16:
		for i, v := range x {
			dst[i] = quant.BF16ToFloat32(quant.Float32ToBF16(v))
		}
		return
	case tensor.Q8_1:
		// Q8_1 holds the same quants and scale as Q8_0 plus a block sum
		// the portable kernels do not need.
		dt = tensor.Q8_0
	}
	size, err := dt.RowSize(int64(len(x)))
	if err != nil {
		panic("kernels: " + err.Error())
	}
	bp := byteBuf.Get().(*[]byte)
	if int64(cap(*bp)) < size {
		*bp = make([]byte, size)
	}
	b := (*bp)[:size]
	if err := quant.Quantize(dt, x, b); err != nil {
		panic("kernels: " + err.Error())
	}
	if err := quant.Dequantize(dt, b, dst); err != nil {
		panic("kernels: " + err.Error())
	}
	byteBuf.Put(bp)
}

var byteBuf = sync.Pool{New: func() any { return new([]byte) }}

// MatMul computes dst = x · wᵀ for n activation rows: x is n×w.Cols and dst
// n×w.Rows, both row-major (dst must not overlap x).
//
// It is the one operation that touches the weights, so it is shaped around
// them: each weight row is decoded once into a small per-worker buffer and
// dotted with every activation row, so a batch of n tokens streams the
// weights once, not n times. Workers take contiguous ranges of weight rows.
// Activations are first rounded to the weight type's [DotType], as ggml
// does.
//
// Shapes are the caller's contract; a mismatch panics.
func (p *Pool) MatMul(dst []float32, w *Matrix, x []float32, n int) {
	rows, cols := w.Rows, w.Cols
	if n < 0 || len(x) < n*cols || len(dst) < n*rows {
		panic(fmt.Sprintf("kernels: MatMul of %d rows through %d×%d: x has %d, dst %d", n, rows, cols, len(x), len(dst)))
	}
	if n == 0 {
		return
	}
	if k := kernelFor(w.Type); k != nil {
		p.matmulQ(dst, w, x, n, k)
		return
	}
	xb := getBuf(n * cols)
	xr := *xb
	for j := 0; j < n; j++ {
		RoundActivations(xr[j*cols:(j+1)*cols], x[j*cols:(j+1)*cols], w.Type)
	}
	p.Parallel(rows, n*cols, func(lo, hi int) {
		buf := getBuf(cols)
		matmulRows(dst, w, xr, n, lo, hi, *buf)
		putBuf(buf)
	})
	putBuf(xb)
}

// kernelFor returns the tile kernel of weight type t, or nil when MatMul
// decodes rows and takes float32 dot products instead.
func kernelFor(t tensor.Type) *qkernel {
	if int(t) < len(qkernels) {
		return qkernels[t]
	}
	return nil
}

// MatMulMany computes dsts[i] = x · ws[i]ᵀ for several matrices of the same
// width, as MatMul does for each, but quantizes the activations once per
// activation format and runs all the products in one parallel pass: the
// query, key and value projections of a layer, or the gate and up
// projections of its feed-forward block.
func (p *Pool) MatMulMany(dsts [][]float32, ws []*Matrix, x []float32, n int) {
	if len(dsts) != len(ws) {
		panic(fmt.Sprintf("kernels: MatMulMany of %d matrices into %d outputs", len(ws), len(dsts)))
	}
	var jobs [4]mmJob
	js := jobs[:0]
	for i, w := range ws {
		k := kernelFor(w.Type)
		if k == nil || w.Cols != ws[0].Cols {
			p.MatMul(dsts[i], w, x, n)
			continue
		}
		if n < 0 || len(x) < n*w.Cols || len(dsts[i]) < n*w.Rows {
			panic(fmt.Sprintf("kernels: MatMul of %d rows through %d×%d: x has %d, dst %d", n, w.Rows, w.Cols, len(x), len(dsts[i])))
		}
		js = append(js, mmJob{dst: dsts[i], w: w, k: k})
	}
	if n == 0 || len(js) == 0 {
		return
	}
	p.matmulJobs(js, x, n)
}

// mmJob is one matrix of a MatMulMany.
type mmJob struct {
	dst    []float32
	w      *Matrix
	k      *qkernel
	a      *acts
	g0, g1 int // its row groups in the combined index space
	gs     int // rows per group: 4, or the packed layout's group
	packed []byte
	pk     *packing
	pn     tileFunc // the packed layout's narrow tile
}

// matmulQ is MatMul through a tile kernel.
func (p *Pool) matmulQ(dst []float32, w *Matrix, x []float32, n int, k *qkernel) {
	js := [1]mmJob{{dst: dst, w: w, k: k}}
	p.matmulJobs(js[:], x, n)
}

// matmulJobs quantizes the activations once per distinct format, then
// splits the row groups of all the matrices among the workers.
func (p *Pool) matmulJobs(js []mmJob, x []float32, n int) {
	cols := js[0].w.Cols
	groups := 0
	for i := range js {
		j := &js[i]
		j.gs = 4
		if j.packed = j.w.packedData(); j.packed != nil {
			j.pk, j.pn = packings[j.w.Type], packedKernels[j.w.Type]
			j.gs = j.pk.rows
		}
		// Packed groups meet every activation row with their narrow
		// tile, which costs less per row than a wide one (10-30% on
		// 1024-2048 rows of 2048-8192 Q4_0 for 4 to 256 rows).
		narrow := j.packed != nil
		for _, o := range js[:i] {
			if o.k.act == j.k.act && o.k.bias == j.k.bias && o.k.wideFlip == j.k.wideFlip && o.a.allNarrow == narrow {
				j.a = o.a
				break
			}
		}
		if j.a == nil {
			j.a = actsPool.Get().(*acts)
			j.a.quantize(p, j.k, x, n, cols, narrow)
		}
		j.g0 = groups
		groups += (j.w.Rows + j.gs - 1) / j.gs
		j.g1 = groups
	}
	p.Parallel(groups, 4*n*cols, func(lo, hi int) {
		t := tilePool.Get().(*tileArgs)
		for i := range js {
			j := &js[i]
			if g0, g1 := max(lo, j.g0), min(hi, j.g1); g0 < g1 {
				j.rows(t, g0-j.g0, g1-j.g0)
			}
		}
		*t = tileArgs{}
		tilePool.Put(t)
	})
	for i := range js {
		if a := js[i].a; a != nil {
			for m := i; m < len(js); m++ {
				if js[m].a == a {
					js[m].a = nil
				}
			}
			actsPool.Put(a)
		}
	}
}

// Cache blocking of wide tiles: a panel's slice of at most panelSlice
// bytes stays in L1 while a run of at most rowRun bytes of weight-row
// slices streams past it from L2.
const (
	panelSlice = 20 << 10
	rowRun     = 160 << 10
)

// rows computes the outputs of row groups [g0, g1) of one matrix.
//
// Wide panels (prompts): for a run of weight rows whose slices fit in L2,
// each panel's slice of blocks (which fits in L1) meets every row of the
// run before the next slice is loaded; rows longer than a slice are done in
// several calls that continue the lane accumulators, which changes nothing
// in the order of the additions.
//
// Narrow panels (decoding): four weight rows at a time against every
// narrow panel, while the rows are in cache.
func (j *mmJob) rows(t *tileArgs, g0, g1 int) {
	w, k, a, dst := j.w, j.k, j.a, j.dst
	rows, n, nb := w.Rows, a.n, a.nb
	wideEnd := a.nWide * wide
	r0, r1 := j.gs*g0, min(j.gs*g1, rows)
	if wideEnd > 0 {
		rbw := k.act.recBytes(wide) * wide
		kb := max(1, min(nb, panelSlice/rbw)) // blocks per slice
		run := max(1, rowRun/max(1, kb*k.blockB))
		ab := accPool.Get().(*accBuf)
		if cap(ab.acc) < run {
			ab.acc = make([][wide][8]float32, run)
			ab.sum = make([][wide]float32, run)
		}
		accs, sums := ab.acc[:run], ab.sum[:run]
		for ra := r0; ra < r1; ra += run {
			rb := min(ra+run, r1)
			for c := 0; c < wideEnd; c += wide {
				x, d := a.panel(c)
				ps := a.panelS(c)
				rowBytes := w.RowBytes()
				for b0 := 0; b0 < nb || b0 == 0; b0 += kb {
					t.nb = min(kb, nb-b0)
					t.x = unsafe.Add(x, b0*rbw)
					t.d = unsafe.Add(d, b0*wide*4)
					if ps != nil {
						t.s = unsafe.Add(ps, b0*wide*4)
					}
					base := unsafe.Pointer(&w.Data[ra*rowBytes+b0*k.blockB])
					if k.rowsF != nil {
						// The kernel walks the run's rows itself.
						if b0 == 0 {
							clear(accs[:rb-ra])
						}
						if t.nb > 0 {
							t.w[0], t.acc, t.nr, t.wrs = base, &accs[0], rb-ra, rowBytes
							k.rowsF(t)
						}
						continue
					}
					for r := ra; r < rb; r++ {
						t.acc = &accs[r-ra]
						t.sum = &sums[r-ra]
						if b0 == 0 {
							if k.scalar {
								t.acc[0] = [8]float32{}
							} else {
								*t.acc = [wide][8]float32{}
								*t.sum = [wide]float32{}
							}
						}
						if t.nb > 0 {
							t.w[0] = unsafe.Add(base, (r-ra)*rowBytes)
							k.wideF(t)
						}
					}
				}
				if !k.scalar {
					// Fold each row's lanes into acc[0], as k.fold does.
					for r := range rb - ra {
						hsum8x8(&accs[r])
						if k.act == actQ8_1 {
							for i := range wide {
								accs[r][0][i] += sums[r][i]
							}
						}
					}
				}
				// Out by activation row, so that the stores run along dst
				// (the eight rows of a panel lie rows·4 bytes apart, often
				// a multiple of 4 KiB, which would have them fight over one
				// set of L1 lines).
				for i := range wide {
					o := dst[(c+i)*rows+ra : (c+i)*rows+rb]
					for r := range o {
						v := accs[r][0][i]
						if a.nt > 0 {
							v = k.addTail(v, w.Row(ra+r), a.tail[(c+i)*a.nt:(c+i+1)*a.nt])
						}
						o[r] = v
					}
				}
			}
		}
		t.acc, t.sum, t.s = nil, nil, nil
		accPool.Put(ab)
	}
	if wideEnd < n {
		t.nb = nb
		if j.packed != nil {
			j.packedNarrow(t, dst, r0, r1, wideEnd)
			return
		}
		// The narrow panels' pointers, computed once.
		var px, pd, pss [wide]unsafe.Pointer
		for c := wideEnd; c < n; c++ {
			px[c-wideEnd], pd[c-wideEnd] = a.panel(c)
			pss[c-wideEnd] = a.panelS(c)
		}
		rowBytes := w.RowBytes()
		base := unsafe.Pointer(unsafe.SliceData(w.Data))
		for r := r0; r < r1; r += 4 {
			for i := range 4 {
				t.w[i] = unsafe.Add(base, min(r+i, r1-1)*rowBytes)
			}
			for c := wideEnd; c < n; c++ {
				t.x, t.d, t.s = px[c-wideEnd], pd[c-wideEnd], pss[c-wideEnd]
				k.narrow(t)
				o := dst[c*rows+r : c*rows+min(r+4, r1)]
				for i := range o {
					v := t.out[i]
					if a.nt > 0 {
						v = k.addTail(v, w.Row(r+i), a.tail[c*a.nt:(c+1)*a.nt])
					}
					o[i] = v
				}
			}
		}
	}
}

// packedNarrow is rows for a packed matrix, whose activation rows are all
// narrow panels: each group of rows, read as one stream, against every
// activation row while it is in cache. (Only integer types with no tail
// are packed.)
func (j *mmJob) packedNarrow(t *tileArgs, dst []float32, r0, r1, wideEnd int) {
	rows, n, nb, gr := j.w.Rows, j.a.n, j.a.nb, j.pk.rows
	base := unsafe.Pointer(unsafe.SliceData(j.packed))
	for r := r0; r < r1; r += gr {
		t.w[0] = unsafe.Add(base, r/gr*nb*j.pk.blockB)
		for c := wideEnd; c < n; c++ {
			t.x, t.d = j.a.panel(c)
			j.pn(t)
			copy(dst[c*rows+r:c*rows+r+gr], t.out[:gr])
		}
	}
}

// accBuf holds a worker's lane accumulators (and Q8_1 sums) for wide tiles.
type accBuf struct {
	acc [][wide][8]float32
	sum [][wide]float32
}

var accPool = sync.Pool{New: func() any { return new(accBuf) }}

var tilePool = sync.Pool{New: func() any { return new(tileArgs) }}

// matmulRows computes output columns [lo, hi) of dst.
func matmulRows(dst []float32, w *Matrix, x []float32, n, lo, hi int, buf []float32) {
	rows, cols := w.Rows, w.Cols
	direct := w.Type == tensor.F32 && nativeF32(w.Data)
	for r := lo; r < hi; r++ {
		row := buf
		if direct {
			row = f32View(w.Row(r)) // already float32: no copy
		} else if err := quant.Dequantize(w.Type, w.Row(r), buf); err != nil {
			panic("kernels: " + err.Error()) // NewMatrix checked type and size
		}
		for j := 0; j < n; j++ {
			dst[j*rows+r] = Dot(row, x[j*cols:(j+1)*cols])
		}
	}
}

// Dot returns the float32 dot product of x and y[:len(x)], accumulated in
// four lanes as a SIMD kernel would.
func Dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		a := x[i : i+4 : i+4]
		b := y[i : i+4 : i+4]
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
