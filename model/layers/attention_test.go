package layers

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

func TestSoftCap(t *testing.T) {
	x := []float32{0, 1, -1, 30, -1000, 1e30}
	SoftCap(x, 30)
	for i, want := range []float64{0, 30 * math.Tanh(1.0/30), -30 * math.Tanh(1.0/30), 30 * math.Tanh(1), -30, 30} {
		if math.Abs(float64(x[i])-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("element %d: %v, want %v", i, x[i], want)
		}
	}
}

// TestAttentionWindow runs a sequence several windows long through
// sliding caches in passes of different sizes and checks every token's
// attention output against a float64 computation over all keys with the
// window applied as an explicit mask, and against the same attention over
// a full cache.
func TestAttentionWindow(t *testing.T) {
	const (
		window, seqLen = 5, 37
		layers         = 2
	)
	a := Attention{Heads: 4, KVHeads: 2, HeadDim: 8, Window: window, Softcap: 2}
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

// BenchmarkAttentionWindow is one decode step of a Gemma-3-1B-shaped
// sliding layer (4 heads, 1 KV head of 256, window 512) late in a long
// sequence, over an fp16 ring.
func BenchmarkAttentionWindow(b *testing.B) {
	a := Attention{Heads: 4, KVHeads: 1, HeadDim: 256, Window: 512}
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

// TestAttention checks grouped attention over the cache against a float64
// computation, for a batch of two sequences, over float32 and fp16 caches.
func TestAttention(t *testing.T) {
	a := Attention{Heads: 6, KVHeads: 2, HeadDim: 8, Scale: 1 / float32(math.Sqrt(8))}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	kvDim, qDim := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
	for _, f16 := range []bool{false, true} {
		c0, _ := kvcache.New(2, 16, a.KVHeads, a.HeadDim, f16)
		c1, _ := kvcache.New(2, 16, a.KVHeads, a.HeadDim, f16)
		// Sequence 0 has 5 earlier positions in the cache, sequence 1 none.
		hist := rnd(5 * kvDim * 2)
		for p := 0; p < 5; p++ {
			c0.Put(1, p, hist[p*kvDim:(p+1)*kvDim], hist[(5+p)*kvDim:(6+p)*kvDim])
		}
		c0.Commit(5)
		caches := []*kvcache.Cache{c0, c1, c0, c1, c1}
		pos := []int{5, 0, 6, 1, 2}
		n := len(caches)
		q, k, v := rnd(n*qDim), rnd(n*kvDim), rnd(n*kvDim)
		if err := a.Store(caches, pos, 1, k, v); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, n*qDim)
		a.Forward(kernels.NewPool(3), out, q, caches, pos, 1)

		// Reference: keys and values per sequence and position.
		round := func(x float32) float64 {
			if f16 {
				y := []float32{x}
				kernels.RoundFP16(y)
				return float64(y[0])
			}
			return float64(x)
		}
		type kv struct{ k, v []float32 }
		seq := map[*kvcache.Cache]map[int]kv{c0: {}, c1: {}}
		for p := 0; p < 5; p++ {
			seq[c0][p] = kv{hist[p*kvDim : (p+1)*kvDim], hist[(5+p)*kvDim : (6+p)*kvDim]}
		}
		for i, c := range caches {
			seq[c][pos[i]] = kv{k[i*kvDim : (i+1)*kvDim], v[i*kvDim : (i+1)*kvDim]}
		}
		worst := 0.0
		for i, c := range caches {
			for h := 0; h < a.Heads; h++ {
				g := h / (a.Heads / a.KVHeads)
				sc := make([]float64, pos[i]+1)
				mx := math.Inf(-1)
				for s := range sc {
					for d := 0; d < a.HeadDim; d++ {
						sc[s] += float64(q[i*qDim+h*a.HeadDim+d]) * round(seq[c][s].k[g*a.HeadDim+d])
					}
					sc[s] *= float64(a.Scale)
					mx = math.Max(mx, sc[s])
				}
				sum := 0.0
				for s := range sc {
					sc[s] = math.Exp(sc[s] - mx)
					sum += sc[s]
				}
				for d := 0; d < a.HeadDim; d++ {
					want := 0.0
					for s := range sc {
						want += sc[s] / sum * round(seq[c][s].v[g*a.HeadDim+d])
					}
					worst = max(worst, math.Abs(float64(out[i*qDim+h*a.HeadDim+d])-want))
				}
			}
		}
		// fp16 rounding of q and of the weights costs about 2^-11.
		tol := map[bool]float64{false: 1e-5, true: 2e-3}[f16]
		t.Logf("f16=%v: max error %.3g", f16, worst)
		if worst > tol {
			t.Errorf("f16=%v: max error %.3g > %.3g", f16, worst, tol)
		}
	}
	if (&Attention{Heads: 6, KVHeads: 4, HeadDim: 8}).Validate() == nil {
		t.Error("6 heads over 4 KV heads accepted")
	}
}

// BenchmarkAttentionDecode measures one decoding step's attention in one
// layer of a Llama-3.2-1B shape (32 query heads, 8 key/value heads of 64)
// over an fp16 cache holding depth positions.
func BenchmarkAttentionDecode(b *testing.B) {
	a := Attention{Heads: 32, KVHeads: 8, HeadDim: 64, Scale: 0.125}
	r := rand.New(rand.NewPCG(1, 1))
	kv := make([]float32, a.KVHeads*a.HeadDim)
	for _, depth := range []int{512, 2048, 4096} {
		c, err := kvcache.New(1, depth+1, a.KVHeads, a.HeadDim, true)
		if err != nil {
			b.Fatal(err)
		}
		for p := range depth {
			for i := range kv {
				kv[i] = float32(r.NormFloat64())
			}
			if err := a.Store([]*kvcache.Cache{c}, []int{p}, 0, kv, kv); err != nil {
				b.Fatal(err)
			}
		}
		q := make([]float32, a.Heads*a.HeadDim)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		out := make([]float32, len(q))
		for _, threads := range []int{1, 2} {
			p := kernels.NewPool(threads)
			b.Run(fmt.Sprintf("depth=%d/threads=%d", depth, threads), func(b *testing.B) {
				for b.Loop() {
					if err := a.Store([]*kvcache.Cache{c}, []int{depth}, 0, kv, kv); err != nil {
						b.Fatal(err)
					}
					a.Forward(p, out, q, []*kvcache.Cache{c}, []int{depth}, 0)
				}
			})
		}
	}
}
