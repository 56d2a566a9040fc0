package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// BenchmarkMatMul measures MatMul per weight type on a 1024×4096 matrix
// (one 4096-wide layer's worth of rows) for one token (decode) and a batch
// of 16 (prompt). SetBytes is the weight bytes, so MB/s is weight
// bandwidth, the figure that bounds decode speed.
func BenchmarkMatMul(b *testing.B) {
	const rows, cols = 1024, 4096
	r := rand.New(rand.NewPCG(1, 1))
	for _, typ := range weightTypes {
		w := randMatrix(b, r, typ, rows, cols)
		for _, n := range []int{1, 16} {
			x := randVec(r, n*cols, 1)
			dst := make([]float32, n*rows)
			for _, threads := range []int{1, 0} {
				p := NewPool(threads)
				b.Run(fmt.Sprintf("%v/n=%d/threads=%d", typ, n, p.Threads()), func(b *testing.B) {
					b.SetBytes(int64(len(w.Data)))
					b.ReportAllocs()
					for b.Loop() {
						p.MatMul(dst, w, x, n)
					}
				})
			}
		}
	}
}

func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	x, y := randVec(r, 4096, 1), randVec(r, 4096, 1)
	b.SetBytes(2 * 4 * 4096)
	for b.Loop() {
		Dot(x, y)
	}
}

func BenchmarkDotF16(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	x := randVec(r, 128, 1)
	y := make([]uint16, 128)
	ToFP16(y, randVec(r, 128, 1))
	b.SetBytes(128 * 2)
	for b.Loop() {
		DotF16(x, y)
	}
}

func BenchmarkRMSNorm(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	x, w := randVec(r, 4096, 1), randVec(r, 4096, 1)
	dst := make([]float32, 4096)
	b.SetBytes(4 * 4096)
	for b.Loop() {
		RMSNorm(dst, x, w, 1e-5)
	}
}

func BenchmarkSoftmax(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	x := randVec(r, 4096, 1)
	b.SetBytes(4 * 4096)
	for b.Loop() {
		Softmax(x)
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	g, u := randVec(r, 14336, 1), randVec(r, 14336, 1)
	dst := make([]float32, len(g))
	b.SetBytes(4 * 14336)
	for b.Loop() {
		SwiGLU(dst, g, u)
	}
}

// BenchmarkRope measures one token's table plus the rotation of 32 heads
// of 128.
func BenchmarkRope(b *testing.B) {
	r := Rope{Dims: 128, Base: 500000}
	x := randVec(rand.New(rand.NewPCG(6, 6)), 32*128, 1)
	cs := make([]float32, 128)
	b.SetBytes(4 * 32 * 128)
	for b.Loop() {
		r.Table(cs, 1234)
		r.Apply(x, 32, 128, cs)
	}
}

// BenchmarkQKernels compares the Go twins with the assembly for each
// weight type, one thread, on a 1024×4096 matrix: n=1 is decoding (narrow
// tiles), n=64 prompt processing (wide tiles). SetBytes is the weight
// bytes, so MB/s is weight bandwidth per pass. Compare the two with
// `benchstat -col /impl`. impl=packed is the packed layout where the type
// has one (see pack.go).
func BenchmarkQKernels(b *testing.B) {
	const rows, cols = 1024, 4096
	impls := map[string][64]*qkernel{"go": portableQKernels}
	for name, t := range asmQKernelTables() {
		impls[name] = t
	}
	for typ, pk := range portableQKernels {
		if pk == nil {
			continue
		}
		typ := tensor.Type(typ)
		b.Run("type="+typ.String(), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, uint64(typ)))
			w := randMatrix(b, r, typ, rows, cols)
			for _, n := range []int{1, 64} {
				x := randVec(r, n*cols, 1)
				dst := make([]float32, n*rows)
				for _, name := range []string{"go", "avx2"} {
					k := impls[name][typ]
					if k == nil {
						continue
					}
					b.Run(fmt.Sprintf("n=%d/impl=%s", n, name), func(b *testing.B) {
						b.SetBytes(int64(len(w.Data)))
						b.ReportAllocs()
						for b.Loop() {
							(*Pool)(nil).matmulQ(dst, w, x, n, k)
						}
					})
				}
				// The packed layout (pack.go) through the tiles in use.
				if packedKernels[typ] != nil && rows%packings[typ].rows == 0 {
					pw, _ := NewMatrix(w.Type, w.Rows, w.Cols, w.Data)
					pw.SetRelease(func([]byte) {})
					b.Run(fmt.Sprintf("n=%d/impl=packed", n), func(b *testing.B) {
						b.SetBytes(int64(len(w.Data)))
						b.ReportAllocs()
						for b.Loop() {
							(*Pool)(nil).matmulQ(dst, pw, x, n, qkernels[typ])
						}
					})
				}
			}
		})
	}
}
