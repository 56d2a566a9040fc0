package membw

import (
	"os"
	"runtime"
	"testing"
)

func TestSum(t *testing.T) {
	w := make([]uint64, 64)
	var want uint64
	for i := range w {
		w[i] = uint64(i*i + 1)
		want += w[i]
	}
	if got := Sum(w); got != want {
		t.Errorf("Sum = %d, want %d", got, want)
	}
	if got := Sum(w[:7]); got != 0 {
		t.Errorf("Sum of 7 words = %d, want 0 (tail ignored)", got)
	}
}

// TestSumFast: the loop Read uses (vector where the CPU has it) agrees with
// the portable one on every length.
func TestSumFast(t *testing.T) {
	w := make([]uint64, 300)
	for i := range w {
		w[i] = uint64(i)*0x9E3779B97F4A7C15 + 7 // wraps around
	}
	for n := 0; n <= len(w); n++ {
		var want uint64
		for _, x := range w[:n&^7] {
			want += x
		}
		if got := sum(w[:n]); got != want {
			t.Fatalf("sum of %d words = %d, want %d", n, got, want)
		}
	}
}

func TestRead(t *testing.T) {
	b, err := NewBuffer(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bytes() != 8<<20 {
		t.Errorf("buffer of %d bytes", b.Bytes())
	}
	for _, g := range []int{1, 2, 3} {
		r, err := b.Read(g, 3)
		if err != nil {
			t.Fatal(err)
		}
		if r.Goroutines != g || r.Passes != 3 || len(r.PassGBps) != 3 || r.BufferBytes != b.Bytes() {
			t.Errorf("%d goroutines: %+v", g, r)
		}
		if !(r.GBps > 0) || r.MedianGBps > r.GBps {
			t.Errorf("%d goroutines: best %v GB/s, median %v", g, r.GBps, r.MedianGBps)
		}
	}
	if _, err := b.Read(0, 1); err == nil {
		t.Error("0 goroutines accepted")
	}
	if _, err := Read(10, 1, 1); err == nil {
		t.Error("10-byte buffer accepted")
	}
}

func TestPeakRSS(t *testing.T) {
	rss := PeakRSS()
	if _, err := os.Stat("/proc/self/status"); err == nil && rss <= 0 {
		t.Errorf("PeakRSS = %d on a system with /proc", rss)
	}
	if rss < 0 {
		t.Errorf("PeakRSS = %d", rss)
	}
	// Touching 64 MiB raises the peak by about that much.
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = 1
	}
	if after := PeakRSS(); rss > 0 && after-rss < 32<<20 {
		t.Errorf("PeakRSS went from %d to %d after touching 64 MiB", rss, after)
	}
	sink = uint64(b[len(b)-1])
}

func BenchmarkSum(b *testing.B) {
	w := make([]uint64, 1<<12) // 32 KiB: in L1/L2
	b.Run("portable", func(b *testing.B) {
		b.SetBytes(int64(len(w)) * 8)
		for b.Loop() {
			sink += Sum(w)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(w)) * 8)
		for b.Loop() {
			sink += sum(w)
		}
	})
}

func TestCPUSeconds(t *testing.T) {
	a := CPUSeconds()
	x := uint64(1)
	for i := range 50_000_000 {
		x = x*6364136223846793005 + uint64(i)
	}
	sink = x
	if b := CPUSeconds(); b < a || runtime.GOOS == "linux" && b == a {
		t.Errorf("CPUSeconds went from %v to %v over a busy loop", a, b)
	}
}
