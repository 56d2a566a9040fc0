package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/quant"
)

// randHalfs returns n fp16 values, mostly ordinary, some hostile.
func randHalfs(r *rand.Rand, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		if r.IntN(50) == 0 {
			h[i] = hostileScales[r.IntN(len(hostileScales))]
		} else {
			h[i] = quant.Float32ToFP16(float32(r.NormFloat64()))
		}
	}
	return h
}

// TestF16RowsMatchTwins compares the attention kernels with their Go twins
// bit for bit, over head sizes that are and are not multiples of the
// vector width, several strides and row counts.
func TestF16RowsMatchTwins(t *testing.T) {
	if dotF16RowsAsm == nil {
		t.Skip("no assembly on this CPU")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range []int{1, 7, 8, 9, 16, 31, 32, 33, 64, 80, 96, 128, 200} {
		for _, rows := range []int{1, 2, 3, 4, 5, 9, 17} {
			stride := n + r.IntN(3)*8
			y := randHalfs(r, (rows-1)*stride+n)
			x := randVec(r, n, math.Ldexp(1, r.IntN(40)-20))
			if r.IntN(4) == 0 {
				x[r.IntN(n)] = float32(math.Inf(1))
			}
			a := randVec(r, rows, 1)

			got := make([]float32, rows)
			DotF16Rows(got, x, y, stride)
			want := make([]float32, rows)
			n8 := n &^ 7
			dotF16RowsGo(want, x, y, n8, stride)
			for tt := range want {
				for i := n8; i < n; i++ {
					want[tt] += float32(x[i] * quant.FP16ToFloat32(y[tt*stride+i]))
				}
			}
			for i := range got {
				if !sameBits(got[i], want[i]) {
					t.Fatalf("DotF16Rows n=%d rows=%d: [%d] = %v, twin %v", n, rows, i, got[i], want[i])
				}
			}

			acc := randVec(r, n, 1)
			ref := append([]float32(nil), acc...)
			AxpyF16Rows(acc, a, y, stride)
			axpyF16RowsGo(ref, a, y, stride)
			for i := range acc {
				if !sameBits(acc[i], ref[i]) {
					t.Fatalf("AxpyF16Rows n=%d rows=%d: [%d] = %v, twin %v", n, rows, i, acc[i], ref[i])
				}
			}
		}
	}
	// Empty inputs are no-ops.
	DotF16Rows(nil, nil, nil, 0)
	AxpyF16Rows(nil, nil, nil, 0)
}

func BenchmarkAttentionF16(b *testing.B) {
	const hd, ctx = 64, 4096
	r := rand.New(rand.NewPCG(3, 4))
	q := randVec(r, hd, 1)
	RoundFP16(q)
	k := randHalfs(r, ctx*hd*8)
	att := make([]float32, ctx)
	out := make([]float32, hd)
	b.SetBytes(2 * ctx * hd * 2)
	for b.Loop() {
		DotF16Rows(att, q, k, 8*hd)
		AxpyF16Rows(out, att, k, 8*hd)
	}
}

// TestF16HeadsMatchRows checks that the grouped kernels give, bit for bit,
// what one head at a time gives.
func TestF16HeadsMatchRows(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, hd := range []int{8, 13, 64, 72, 128} {
		for _, heads := range []int{1, 4, 5, 8, 9} {
			for _, T := range []int{1, 2, 3, 8, 33} {
				stride := hd*3 + r.IntN(2)*8
				y := randHalfs(r, (T-1)*stride+hd)
				q := randVec(r, heads*hd, 1)
				RoundFP16(q)
				got := make([]float32, heads*T)
				DotF16Heads(got, q, heads, y, stride)
				for h := 0; h < heads; h++ {
					want := make([]float32, T)
					DotF16Rows(want, q[h*hd:(h+1)*hd], y, stride)
					for i := range want {
						if !sameBits(got[h*T+i], want[i]) {
							t.Fatalf("DotF16Heads hd=%d heads=%d T=%d: [%d][%d] = %v, rows %v", hd, heads, T, h, i, got[h*T+i], want[i])
						}
					}
				}
				a := randVec(r, heads*T, 1)
				out := randVec(r, heads*hd, 1)
				ref := append([]float32(nil), out...)
				AxpyF16Heads(out, a, heads, y, stride)
				for h := 0; h < heads; h++ {
					AxpyF16Rows(ref[h*hd:(h+1)*hd], a[h*T:(h+1)*T], y, stride)
				}
				for i := range out {
					if !sameBits(out[i], ref[i]) {
						t.Fatalf("AxpyF16Heads hd=%d heads=%d T=%d: [%d] = %v, rows %v", hd, heads, T, i, out[i], ref[i])
					}
				}
			}
		}
	}
}

func BenchmarkAttentionF16Heads(b *testing.B) {
	const hd, ctx, heads = 64, 4096, 4
	r := rand.New(rand.NewPCG(3, 4))
	q := randVec(r, heads*hd, 1)
	RoundFP16(q)
	k := randHalfs(r, ctx*hd*8)
	att := make([]float32, heads*ctx)
	out := make([]float32, heads*hd)
	b.SetBytes(2 * ctx * hd * 2)
	for b.Loop() {
		DotF16Heads(att, q, heads, k, 8*hd)
		AxpyF16Heads(out, att, heads, k, 8*hd)
	}
}

// TestExpSliceMatchesExp checks the vectorised exponential against Exp, bit
// for bit, over ordinary values, the edges of math.Exp's main path,
// overflow, underflow, subnormal results, infinities and NaN.
func TestExpSliceMatchesExp(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x := randVec(r, 4099, 10)
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 88.7, 88.8, -87.3, -103, -104, -150, 700, 700.01, -708, -708.01, 709.5, -745, -746,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32, 1e-40}
	for i := range x {
		if i%7 == 0 {
			x[i] = special[r.IntN(len(special))]
		}
		if i%11 == 0 {
			x[i] = float32(r.NormFloat64() * 300)
		}
	}
	for _, neg := range []bool{false, true} {
		got := make([]float32, len(x))
		expSlice(got, x, neg)
		for i, v := range x {
			if neg {
				v = -v
			}
			if want := Exp(v); !sameBits(got[i], want) {
				t.Fatalf("neg=%v: exp(%v) = %v (%#x), Exp %v (%#x)", neg, v, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
			}
		}
	}
}

// TestFP16ConversionsMatchPortable checks ToFP16 and RoundFP16 (assembly
// where the CPU has it) against the portable conversion, bit for bit, on
// every fp16 rounding case: values at and between fp16 neighbours, halfway
// cases, overflow, subnormals, signed zeros, infinities and NaNs with
// payloads, at every length up to 40 (tails included).
func TestFP16ConversionsMatchPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	var vals []float32
	for _, b := range []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fbfffff,
		0x477fe000, 0x477ff000, 0x477fefff, 0x47800000, 0x33800000, 0x33000000, 0x33000001, 0x387fc000, 0x38800000, 0x00000001} {
		vals = append(vals, math.Float32frombits(b))
	}
	for range 2000 {
		h := uint16(r.Uint32())
		f := quant.FP16ToFloat32(h)
		vals = append(vals, f, math.Float32frombits(math.Float32bits(f)+0x1000), math.Float32frombits(math.Float32bits(f)+uint32(r.IntN(0x2000))))
		vals = append(vals, math.Float32frombits(r.Uint32()))
	}
	for n := 0; n <= 40; n++ {
		for off := 0; off+n <= len(vals); off += 37 {
			src := vals[off : off+n]
			got := make([]uint16, n)
			ToFP16(got, src)
			round := append([]float32(nil), src...)
			RoundFP16(round)
			for i, v := range src {
				want := quant.Float32ToFP16(v)
				if got[i] != want {
					t.Fatalf("ToFP16(%#x) = %#x, portable %#x", math.Float32bits(v), got[i], want)
				}
				if wr := quant.FP16ToFloat32(want); math.Float32bits(round[i]) != math.Float32bits(wr) {
					t.Fatalf("RoundFP16(%#x) = %#x, portable %#x", math.Float32bits(v), math.Float32bits(round[i]), math.Float32bits(wr))
				}
			}
		}
	}
}

// TestHsum8x8 checks the eight-at-once fold against hsum8, bit for bit, on
// values whose sums depend on the order of the additions (mixed
// magnitudes, cancellations, signed zeros, infinities and NaN).
func TestHsum8x8(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e38, -1e38, 1e-45}
	for range 3000 {
		var a [8][8]float32
		for i := range a {
			for j := range a[i] {
				switch r.IntN(10) {
				case 0:
					a[i][j] = special[r.IntN(len(special))]
				default:
					a[i][j] = float32(r.NormFloat64() * math.Ldexp(1, r.IntN(60)-30))
				}
			}
		}
		var want [8]float32
		for i := range a {
			want[i] = hsum8(&a[i])
		}
		got := a
		hsum8x8(&got)
		for i := range want {
			if !sameBits(got[0][i], want[i]) {
				t.Fatalf("row %d %v: hsum8x8 %v (%#x), hsum8 %v (%#x)", i, a[i], got[0][i], math.Float32bits(got[0][i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
}
