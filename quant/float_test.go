package quant_test

import (
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/quant"
)

func TestFloat32ToFP16Cases(t *testing.T) {
	f := math.Float32frombits
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"zero", 0, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"third", 1.0 / 3, 0x3555},
		{"max", 65504, 0x7bff},
		{"just below overflow tie", 65519.996, 0x7bff},
		{"overflow tie rounds to even (Inf)", 65520, 0x7c00},
		{"large", 1e10, 0x7c00},
		{"minus large", -1e10, 0xfc00},
		{"inf", float32(math.Inf(1)), 0x7c00},
		{"minus inf", float32(math.Inf(-1)), 0xfc00},
		{"nan", float32(math.NaN()), 0x7e00},
		{"negative nan", f(0xffc00001), 0xfe00},
		{"signalling nan", f(0x7f800001), 0x7e00},
		{"tie down to even", 1 + 1.0/2048, 0x3c00},
		{"tie up to even", 1 + 3.0/2048, 0x3c02},
		{"above tie", f(0x3f801001), 0x3c01},
		{"smallest normal", 1.0 / 16384, 0x0400},
		{"largest subnormal", 1023.0 / (1 << 24), 0x03ff},
		{"smallest subnormal", 1.0 / (1 << 24), 0x0001},
		{"half smallest subnormal ties to zero", 1.0 / (1 << 25), 0x0000},
		{"just above half smallest subnormal", f(0x33000001), 0x0001},
		{"1.5 subnormal steps ties to 2", 3.0 / (1 << 25), 0x0002},
		{"2.5 subnormal steps ties to 2", 5.0 / (1 << 25), 0x0002},
		{"subnormal rounds up into normal", 1023.75 / (1 << 24), 0x0400},
		{"tiny", 1e-30, 0x0000},
		{"minus tiny", -1e-30, 0x8000},
		{"float32 subnormal", f(0x00000001), 0x0000},
	}
	for _, tc := range tests {
		if got := quant.Float32ToFP16(tc.in); got != tc.want {
			t.Errorf("%s: Float32ToFP16(%g [%#08x]) = %#04x, want %#04x", tc.name, tc.in, math.Float32bits(tc.in), got, tc.want)
		}
	}
}

func TestFP16ToFloat32Cases(t *testing.T) {
	tests := []struct {
		in   uint16
		want uint32 // float32 bits
	}{
		{0x3c00, 0x3f800000}, // 1
		{0xc000, 0xc0000000}, // -2
		{0x0000, 0x00000000}, // 0
		{0x8000, 0x80000000}, // -0
		{0x7bff, 0x477fe000}, // 65504
		{0x0001, 0x33800000}, // 2^-24
		{0x03ff, 0x387fc000}, // 1023 * 2^-24
		{0x0400, 0x38800000}, // 2^-14
		{0x7c00, 0x7f800000}, // +Inf
		{0xfc00, 0xff800000}, // -Inf
		{0x7e00, 0x7fc00000}, // quiet NaN
		{0x7c01, 0x7fc02000}, // signalling NaN comes back quiet, payload kept
		{0xfe01, 0xffc02000}, // negative NaN
		{0x3555, 0x3eaaa000}, // 0.333251953125
		{0x8001, 0xb3800000}, // -2^-24
	}
	for _, tc := range tests {
		if got := math.Float32bits(quant.FP16ToFloat32(tc.in)); got != tc.want {
			t.Errorf("FP16ToFloat32(%#04x) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
}

// TestFP16RoundTrip: every non-NaN fp16 value survives fp16 -> fp32 -> fp16.
func TestFP16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := quant.FP16ToFloat32(uint16(h))
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("FP16ToFloat32(%#04x) = %g, want NaN", h, f)
			}
			continue
		}
		if got := quant.Float32ToFP16(f); got != uint16(h) {
			t.Fatalf("Float32ToFP16(FP16ToFloat32(%#04x)) = %#04x", h, got)
		}
	}
}

// refFP16 is an independent float64 model of round-to-nearest-even to
// binary16: scale by a power of two (exact) and let math.RoundToEven round.
func refFP16(f float32) uint16 {
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	if math.IsNaN(float64(f)) {
		return sign | 0x7e00
	}
	a := math.Abs(float64(f))
	if a < 1.0/16384 { // subnormal range: units of 2^-24
		return sign | uint16(math.RoundToEven(a*(1<<24)))
	}
	if a >= 65520 {
		return sign | 0x7c00
	}
	frac, exp := math.Frexp(a) // a = frac * 2^exp, frac in [0.5, 1)
	e := exp - 1
	m := math.RoundToEven(math.Ldexp(frac, 11)) // 10 fraction bits + implicit bit
	if m == 2048 {
		m = 1024
		e++
	}
	return sign | uint16(e+15)<<10 | uint16(m-1024)
}

// TestFloat32ToFP16Reference compares against refFP16 on every fp16 value,
// its float32 neighbours, the exact midpoints and their neighbours, and
// random bit patterns.
func TestFloat32ToFP16Reference(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		if got, want := quant.Float32ToFP16(f), refFP16(f); got != want {
			t.Fatalf("Float32ToFP16(%g [%#08x]) = %#04x, want %#04x", f, b, got, want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := quant.FP16ToFloat32(uint16(h))
		b := math.Float32bits(f)
		for d := uint32(0); d < 3; d++ {
			check(b + d)
			check(b - d)
		}
		// The midpoint to the next fp16 value up in magnitude is exact
		// in float32.
		if h&0x7fff < 0x7bff {
			g := quant.FP16ToFloat32(uint16(h) + 1)
			mid := math.Float32bits(float32((float64(f) + float64(g)) / 2))
			check(mid - 1)
			check(mid)
			check(mid + 1)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1<<20; i++ {
		check(r.Uint32())
	}
}

// TestFloat32ToFP16Exhaustive checks all 2^32 inputs; it takes a while, so
// it only runs when ONDO_EXHAUSTIVE is set.
func TestFloat32ToFP16Exhaustive(t *testing.T) {
	if os.Getenv("ONDO_EXHAUSTIVE") == "" {
		t.Skip("set ONDO_EXHAUSTIVE=1 to check all 2^32 float32 inputs")
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	bad := make(chan uint32, workers)
	const chunk = 1 << 32 / 256
	next := make(chan uint64, 256)
	for c := uint64(0); c < 256; c++ {
		next <- c * chunk
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				for b := start; b < start+chunk; b++ {
					f := math.Float32frombits(uint32(b))
					if quant.Float32ToFP16(f) != refFP16(f) {
						bad <- uint32(b)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(bad)
	for b := range bad {
		t.Errorf("Float32ToFP16 wrong for %#08x", b)
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0xc0400000, 0xc040}, // -3
		{0x3f808000, 0x3f80}, // tie, even below: stays
		{0x3f818000, 0x3f82}, // tie, odd below: rounds up to even
		{0x3f808001, 0x3f81}, // above tie
		{0x3f807fff, 0x3f80}, // below tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to Inf
		{0x7f800000, 0x7f80}, // Inf
		{0xff800000, 0xff80}, // -Inf
		{0x7f800001, 0x7fc0}, // signalling NaN: quiet bit forced
		{0xffc00000, 0xffc0}, // negative quiet NaN
		{0x7f810000, 0x7fc1}, // NaN payload in the kept bits survives
		{0x00000001, 0x0000}, // tiny subnormal rounds to zero
		{0x00018000, 0x0002}, // subnormal tie rounds to even
		{0x80000000, 0x8000}, // -0
		{0x40490fdb, 0x4049}, // pi
	}
	for _, tc := range tests {
		f := math.Float32frombits(tc.in)
		if got := quant.Float32ToBF16(f); got != tc.want {
			t.Errorf("Float32ToBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := quant.BF16ToFloat32(uint16(h))
		if got := math.Float32bits(f); got != uint32(h)<<16 {
			t.Fatalf("BF16ToFloat32(%#04x) = %#08x", h, got)
		}
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := quant.Float32ToBF16(f); got != uint16(h) {
			t.Fatalf("Float32ToBF16(BF16ToFloat32(%#04x)) = %#04x", h, got)
		}
	}
}
