package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/tensor"
)

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

func TestLinearAndNorm(t *testing.T) {
	w, _ := kernels.NewMatrix(tensor.F32, 2, 3, f32bytes([]float32{1, 2, 3, 4, 5, 6}))
	l := Linear{W: w, B: []float32{10, 20}}
	dst := make([]float32, 4)
	l.Forward(nil, dst, []float32{1, 0, 0, 0, 1, 1}, 2)
	if want := []float32{11, 24, 15, 31}; !equal(dst, want) {
		t.Errorf("Linear = %v, want %v", dst, want)
	}
	x := []float32{3, 4, 0, 5}
	RMSNorm(x, x, []float32{1, 2}, 0, 2)
	s := float32(1 / math.Sqrt(12.5))
	if want := []float32{3 * s, 8 * s, 0, 2 * float32(1/math.Sqrt(12.5)) * 5}; !equal(x, want) {
		t.Errorf("RMSNorm = %v, want %v", x, want)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

func equal(a, b []float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return len(a) == len(b)
}
