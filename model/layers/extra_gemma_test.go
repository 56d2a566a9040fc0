package layers

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/quant"
)

// gelu64 is the tanh approximation of GELU in float64.
func gelu64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x)))
}

func roundFP16(x float64) float32 { return quant.FP16ToFloat32(quant.Float32ToFP16(float32(x))) }

// gelu32 is ggml_gelu_f32 transcribed: its float32 operations in C order.
func gelu32(x float32) float32 {
	a := float32(0.044715) * x
	inner := float32(1 + float32(a*x))
	arg := float32(float32(0.7978845608028654)*x) * inner
	t := float32(math.Tanh(float64(arg)))
	return float32(float32(0.5)*x) * float32(1+t)
}

// TestGELU checks GELU against ggml's definition: for every fp16 input, the
// fp16 rounding of ggml_gelu_f32 (its table), 0 at or below −10 and the
// input at or above 10; and that this stays within an fp16 step of the
// float64 function, except in the far negative tail, where float32's
// 1 + tanh cancels, as it does in ggml.
func TestGELU(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		x := quant.FP16ToFloat32(uint16(h))
		if math.IsNaN(float64(x)) {
			continue
		}
		got := GELU(x)
		var want float32
		switch {
		case x <= -10:
			want = 0
		case x >= 10:
			want = x
		default:
			want = roundFP16(float64(gelu32(x)))
		}
		if got != want {
			t.Fatalf("GELU(%v) = %v, want %v", x, got, want)
		}
		exact := gelu64(float64(x))
		if x > -10 && x < 10 && math.Abs(float64(got)-exact) > max(1e-3*math.Abs(exact), 1e-6) {
			t.Errorf("GELU(%v) = %v, float64 %v", x, got, exact)
		}
	}
	// Between fp16 values, the input is rounded to fp16 first.
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 10000; i++ {
		x := float32(r.NormFloat64() * 4)
		if got, want := GELU(x), GELU(roundFP16(float64(x))); got != want && x > -10 && x < 10 {
			t.Fatalf("GELU(%v) = %v, GELU(fp16) = %v", x, got, want)
		}
	}
	for _, c := range []struct{ x, want float32 }{{-10, 0}, {-1e6, 0}, {10, 10}, {123.5, 123.5}, {0, 0}} {
		if got := GELU(c.x); got != c.want {
			t.Errorf("GELU(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func TestSoftCap(t *testing.T) {
	x := []float32{0, 1, -1, 30, -1000, 1e30}
	SoftCap(x, 30)
	for i, want := range []float64{0, 30 * math.Tanh(1.0/30), -30 * math.Tanh(1.0/30), 30 * math.Tanh(1), -30, 30} {
		if math.Abs(float64(x[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("element %d: %v, want %v", i, x[i], want)
		}
	}
}

// TestWindowAttentionLong runs a sequence several windows long through
// sliding caches in passes of different sizes and checks every token's
// attention output against a float64 computation over all keys with the
// window applied as an explicit mask, and against the same attention over
// a full cache.
func TestWindowAttentionLong(t *testing.T) {
	const (
		window, seqLen = 5, 37
		layers         = 2
	)
	a := WindowAttention{Heads: 4, KVHeads: 2, HeadDim: 8, Window: window, Softcap: 2}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	kvDim, qDim, hd := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim, a.HeadDim
	q, k, v := rnd(seqLen*qDim), rnd(seqLen*kvDim), rnd(seqLen*kvDim)
	// want[p]: token p over keys 0..p, masked outside (p−window, p].
	want := make([]float64, seqLen*qDim)
	for p := 0; p < seqLen; p++ {
		for h := 0; h < a.Heads; h++ {
			g := h / (a.Heads / a.KVHeads)
			sc := make([]float64, p+1)
			for s := range sc {
				if p-s >= window {
					sc[s] = math.Inf(-1)
					continue
				}
				dot := 0.0
				for i := 0; i < hd; i++ {
					dot += float64(q[p*qDim+h*hd+i]) * float64(k[s*kvDim+g*hd+i])
				}
				sc[s] = 2 * math.Tanh(dot/2)
			}
			mx, sum := math.Inf(-1), 0.0
			for _, x := range sc {
				mx = math.Max(mx, x)
			}
			for s := range sc {
				sc[s] = math.Exp(sc[s] - mx)
				sum += sc[s]
			}
			for s, w := range sc {
				for i := 0; i < hd; i++ {
					want[p*qDim+h*hd+i] += w / sum * float64(v[s*kvDim+g*hd+i])
				}
			}
		}
	}
	pool := kernels.NewPool(2)
	defer pool.Close()
	for _, f16 := range []bool{false, true} {
		for _, pass := range []int{1, 3, 4, 7} {
			sliding := []bool{true, false} // layer 1 keeps everything
			c, err := kvcache.NewSliding(layers, 64, a.KVHeads, a.HeadDim, f16, kvcache.Sliding{Window: window, Batch: pass, Layers: sliding})
			if err != nil {
				t.Fatal(err)
			}
			if c.Slots(0) != window-1+pass || c.Slots(1) != 64 {
				t.Fatalf("pass %d: slots %d and %d", pass, c.Slots(0), c.Slots(1))
			}
			got := make([][]float32, layers)
			for l := range got {
				got[l] = make([]float32, seqLen*qDim)
			}
			for lo := 0; lo < seqLen; lo += pass {
				hi := min(lo+pass, seqLen)
				n := hi - lo
				caches, pos := make([]*kvcache.Cache, n), make([]int, n)
				for i := range caches {
					caches[i], pos[i] = c, lo+i
				}
				if err := CheckWindows([]*kvcache.Cache{c}, nil, pos); err != nil {
					t.Fatalf("pass at %d: %v", lo, err)
				}
				for l := 0; l < layers; l++ {
					if err := a.Store(caches, pos, l, k[lo*kvDim:hi*kvDim], v[lo*kvDim:hi*kvDim]); err != nil {
						t.Fatal(err)
					}
					a.Forward(pool, got[l][lo*qDim:hi*qDim], q[lo*qDim:hi*qDim], caches, pos, l)
				}
				if err := c.Commit(hi); err != nil {
					t.Fatal(err)
				}
			}
			tol := 1e-5
			if f16 {
				tol = 5e-3 // fp16 keys, values, queries and weights
			}
			for l := 0; l < layers; l++ {
				worst := 0.0
				for i := range want {
					worst = max(worst, math.Abs(float64(got[l][i])-want[i]))
				}
				if worst > tol {
					t.Errorf("f16 %v, passes of %d, layer %d: max diff %.3g from the masked reference", f16, pass, l, worst)
				}
			}
			if d := maxAbs(got[0], got[1]); d != 0 {
				t.Errorf("f16 %v, passes of %d: ring layer differs from the full layer by %.3g", f16, pass, d)
			}
			if want := seqLen - (window - 1 + pass); c.Oldest() != want {
				t.Errorf("passes of %d: oldest held position %d, want %d", pass, c.Oldest(), want)
			}
			// The last window is held, anything before it is not.
			if err := c.Truncate(seqLen - pass); err != nil {
				t.Errorf("passes of %d: rewind by one pass: %v", pass, err)
			}
			if err := c.Truncate(seqLen - pass - 1); !errors.Is(err, kvcache.ErrEvicted) {
				t.Errorf("passes of %d: rewind past the ring: error %v, want ErrEvicted", pass, err)
			}
		}
	}
}

// TestCheckWindows checks that only each sequence's first token is held
// to the ring, so that a restart at 0 or a continuation passes.
func TestCheckWindows(t *testing.T) {
	c, _ := kvcache.NewSliding(1, 32, 1, 2, false, kvcache.Sliding{Window: 3, Batch: 2, Layers: []bool{true}})
	row := []float32{1, 2}
	for p := 0; p < 10; p++ {
		c.Put(0, p, row, row)
	}
	c.Commit(10)
	other, _ := kvcache.New(1, 32, 1, 2, false)
	caches := []*kvcache.Cache{c, other}
	for _, tc := range []struct {
		seq, pos []int
		evicted  bool
	}{
		{[]int{0, 0, 0}, []int{0, 1, 2}, false},       // restart
		{[]int{0, 0}, []int{10, 11}, false},           // continue
		{[]int{0}, []int{8}, false},                   // rewind by 2: 6, 7 held
		{[]int{1, 0, 0}, []int{0, 7, 8}, true},        // rewind by 3: 5 is gone
		{[]int{1, 1, 0}, []int{0, 1, 99}, false},      // out of range: left to NewPlan
		{nil, []int{7}, true},                         // nil seq: all sequence 0
		{[]int{5, 0}, []int{0, 10}, false},            // bad sequence id: left to NewPlan
		{[]int{0, 1, 1, 1}, []int{9, 0, 1, 2}, false}, // a plain cache slides nothing
	} {
		err := CheckWindows(caches, tc.seq, tc.pos)
		if errors.Is(err, kvcache.ErrEvicted) != tc.evicted {
			t.Errorf("seq %v pos %v: error %v, want evicted %v", tc.seq, tc.pos, err, tc.evicted)
		}
	}
}

func maxAbs(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200-100) * 0.07
	}
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		for i, v := range x {
			x[i] = GELU(v) + v*0
		}
	}
}

// BenchmarkWindowAttention is one decode step of a Gemma-3-1B-shaped
// sliding layer (4 heads, 1 KV head of 256, window 512) late in a long
// sequence, over an fp16 ring.
func BenchmarkWindowAttention(b *testing.B) {
	a := WindowAttention{Heads: 4, KVHeads: 1, HeadDim: 256, Window: 512}
	c, _ := kvcache.NewSliding(1, 8192, 1, 256, true, kvcache.Sliding{Window: 512, Batch: 64, Layers: []bool{true}})
	row := make([]float32, 256)
	for i := range row {
		row[i] = float32(i%17) * 0.01
	}
	for p := 0; p < 4000; p++ {
		c.Put(0, p, row, row)
	}
	c.Commit(4000)
	q := make([]float32, 4*256)
	out := make([]float32, 4*256)
	pool := kernels.NewPool(0)
	defer pool.Close()
	caches, pos := []*kvcache.Cache{c}, []int{3999}
	b.ReportAllocs()
	for b.Loop() {
		a.Forward(pool, out, q, caches, pos, 0)
	}
}
