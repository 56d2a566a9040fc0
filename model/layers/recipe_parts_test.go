package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

// Tests of the parts the families issue added: checked against float64
// definitions, and each shown to matter (the check fails without it).

// randLinear returns a random out×in Linear (with bias when bias is set)
// and its float64 rows.
func randLinear(t *testing.T, r *rand.Rand, out, in int, bias bool) (Linear, func([]float64) []float64) {
	w := make([]float32, out*in)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.5)
	}
	l := Linear{W: f32Matrix(t, w, out, in)}
	if bias {
		l.B = make([]float32, out)
		for i := range l.B {
			l.B[i] = float32(r.NormFloat64())
		}
	}
	return l, func(x []float64) []float64 {
		y := make([]float64, out)
		for i := range y {
			for c, v := range x {
				y[i] += float64(w[i*in+c]) * v
			}
			if l.B != nil {
				y[i] += float64(l.B[i])
			}
		}
		return y
	}
}

func randRows(r *rand.Rand, n int, s float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * s)
	}
	return x
}

func maxDiff64(got []float32, want []float64) float64 {
	d := 0.0
	for i, w := range want {
		d = max(d, math.Abs(float64(got[i])-w))
	}
	return d
}

// TestFeedForwards checks the clamped SwiGLU (gpt-oss) and the plain GELU
// and ReLU² blocks against their definitions, with the clamp reached.
func TestFeedForwards(t *testing.T) {
	const dim, ff, n = 8, 12, 3
	r := rand.New(rand.NewPCG(4, 4))
	gate, gRef := randLinear(t, r, ff, dim, true)
	up, uRef := randLinear(t, r, ff, dim, true)
	down, dRef := randLinear(t, r, dim, ff, false)
	x := randRows(r, n*dim, 3) // large enough to pass the clamp
	cases := []struct {
		name string
		f    FeedForward
		act  func(g, u float64) float64
	}{
		{"clamped swiglu", &ClampedSwiGLU{Gate: gate, Up: up, Down: down, Alpha: 1.702, Limit: 1.5}, func(g, u float64) float64 {
			g = math.Min(g, 1.5)
			u = math.Max(math.Min(u, 1.5), -1.5)
			return g / (1 + math.Exp(-1.702*g)) * (u + 1)
		}},
		{"swiglu", &SwiGLU{Gate: gate, Up: up, Down: down}, func(g, u float64) float64 { return g / (1 + math.Exp(-g)) * u }},
		{"relu²", &MLP{Up: up, Down: down, Act: ActReLUSquared}, func(_, u float64) float64 { return math.Max(u, 0) * math.Max(u, 0) }},
		{"gelu", &MLP{Up: up, Down: down, Act: ActGELU}, func(_, u float64) float64 { return gelu64(u) }},
	}
	var s Scratch
	for _, tc := range cases {
		got := make([]float32, n*dim)
		tc.f.Forward(kernels.NewPool(2), got, x, n, &s)
		worst, clamped := 0.0, false
		for i := 0; i < n; i++ {
			xi := make([]float64, dim)
			for c := range xi {
				xi[c] = float64(x[i*dim+c])
			}
			g, u := gRef(xi), uRef(xi)
			h := make([]float64, ff)
			for j := range h {
				h[j] = tc.act(g[j], u[j])
				clamped = clamped || g[j] > 1.5 || math.Abs(u[j]) > 1.5
			}
			worst = max(worst, maxDiff64(got[i*dim:(i+1)*dim], dRef(h)))
		}
		if worst > 2e-3 { // GELU's fp16 table dominates
			t.Errorf("%s: max |diff| %.3g from the float64 definition", tc.name, worst)
		}
		if !clamped {
			t.Errorf("%s: inputs never reach the clamp", tc.name)
		}
	}
}

// TestMoEVariants checks sigmoid gating, selection biases and a shared
// expert against the float64 definition, and that each changes the output.
func TestMoEVariants(t *testing.T) {
	const dim, ff, n, experts = 16, 12, 6, 6
	r := rand.New(rand.NewPCG(9, 9))
	f, ref := newMoE(t, r, experts, 2, dim, ff, true, 0, -1)
	x := randRows(r, n*dim, 1)
	gate, gRef := randLinear(t, r, ff, dim, false)
	up, uRef := randLinear(t, r, ff, dim, false)
	down, dRef := randLinear(t, r, dim, ff, false)
	shared := &SwiGLU{Gate: gate, Up: up, Down: down}
	sharedRef := func(x []float64) []float64 {
		g, u := gRef(x), uRef(x)
		h := make([]float64, ff)
		for j := range h {
			h[j] = g[j] / (1 + math.Exp(-g[j])) * u[j]
		}
		return dRef(h)
	}
	bias := []float32{0, 0.5, -0.5, 0.2, 0, -0.1}
	bias64 := make([]float64, len(bias))
	for i, b := range bias {
		bias64[i] = float64(b)
	}
	var s Scratch
	base := make([]float32, n*dim)
	f.Forward(nil, base, x, n, &s)
	for _, tc := range []struct {
		name string
		set  func(m *MoE, r *moeRef)
	}{
		{"sigmoid", func(m *MoE, r *moeRef) { m.Sigmoid, r.sigmoid = true, true }},
		{"selection bias", func(m *MoE, r *moeRef) { m.SelectBias, r.bias = bias, bias64 }},
		{"shared expert", func(m *MoE, r *moeRef) { m.Shared, r.shared = shared, sharedRef }},
	} {
		m, mr := *f, *ref
		tc.set(&m, &mr)
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		got := append([]float32(nil), x...)
		m.Forward(kernels.NewPool(2), got, got, n, &s) // dst aliases x
		worst, changed := 0.0, 0.0
		for i := 0; i < n; i++ {
			xi := make([]float64, dim)
			for c := range xi {
				xi[c] = float64(x[i*dim+c])
			}
			worst = max(worst, maxDiff64(got[i*dim:(i+1)*dim], mr.forward(xi)))
		}
		for i := range got {
			changed = max(changed, math.Abs(float64(got[i]-base[i])))
		}
		if worst > 1e-5 {
			t.Errorf("%s: max |diff| %.3g from the float64 definition", tc.name, worst)
		}
		if changed < 1e-3 {
			t.Errorf("%s: output within %.3g of the plain block: the variant is not applied", tc.name, changed)
		}
	}
	bad := *f
	bad.SelectBias = bias[:3]
	if bad.Validate() == nil {
		t.Error("3 selection biases for 6 experts accepted")
	}
}

// TestAttentionSinks checks attention with per-head sinks against the
// float64 definition: the sink's logit joins the normaliser only.
func TestAttentionSinks(t *testing.T) {
	a := Attention{Heads: 4, KVHeads: 2, HeadDim: 8, Scale: 0.3, Sinks: []float32{0.5, -1, 2, 0}}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 5))
	const T = 7
	kvDim, qDim := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
	k, v, q := randRows(r, T*kvDim, 1), randRows(r, T*kvDim, 1), randRows(r, qDim, 1)
	c, _ := kvcache.New(1, 16, a.KVHeads, a.HeadDim, false)
	for p := 0; p < T; p++ {
		c.Put(0, p, k[p*kvDim:(p+1)*kvDim], v[p*kvDim:(p+1)*kvDim])
	}
	got := make([]float32, qDim)
	a.Forward(kernels.NewPool(1), got, q, []*kvcache.Cache{c}, []int{T - 1}, 0)
	want := make([]float64, qDim)
	for h := 0; h < a.Heads; h++ {
		g := h / (a.Heads / a.KVHeads)
		sc := make([]float64, T)
		mx := float64(a.Sinks[h])
		for p := range sc {
			for d := 0; d < a.HeadDim; d++ {
				sc[p] += float64(q[h*a.HeadDim+d]) * float64(k[p*kvDim+g*a.HeadDim+d])
			}
			sc[p] *= float64(a.Scale)
			mx = math.Max(mx, sc[p])
		}
		sum := math.Exp(float64(a.Sinks[h]) - mx)
		for p := range sc {
			sc[p] = math.Exp(sc[p] - mx)
			sum += sc[p]
		}
		for p := range sc {
			for d := 0; d < a.HeadDim; d++ {
				want[h*a.HeadDim+d] += sc[p] / sum * float64(v[p*kvDim+g*a.HeadDim+d])
			}
		}
	}
	if d := maxDiff64(got, want); d > 1e-5 {
		t.Errorf("max |diff| %.3g from the float64 definition", d)
	}
	plain := a
	plain.Sinks = nil
	other := make([]float32, qDim)
	plain.Forward(kernels.NewPool(1), other, q, []*kvcache.Cache{c}, []int{T - 1}, 0)
	if maxAbs(got, other) < 1e-3 {
		t.Error("sinks do not change the output")
	}
	bad := a
	bad.Sinks = a.Sinks[:2]
	if bad.Validate() == nil {
		t.Error("2 sinks for 4 heads accepted")
	}
}

// TestNorms checks the layer norm (with and without bias) against its
// definition, and Norm's dispatch: RMS, layer norm, absent.
func TestNorms(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const d, n = 10, 3
	x := randRows(r, n*d, 2)
	w, b := randRows(r, d, 1), randRows(r, d, 1)
	for _, withBias := range []bool{false, true} {
		nm := Norm{W: w, Eps: 1e-5, Mean: true}
		if withBias {
			nm.B = b
		}
		got := make([]float32, n*d)
		nm.Forward(got, x, n)
		for i := 0; i < n; i++ {
			row := x[i*d : (i+1)*d]
			mean, vr := 0.0, 0.0
			for _, v := range row {
				mean += float64(v) / d
			}
			for _, v := range row {
				vr += (float64(v) - mean) * (float64(v) - mean) / d
			}
			want := make([]float64, d)
			for j, v := range row {
				want[j] = (float64(v) - mean) / math.Sqrt(vr+1e-5) * float64(w[j])
				if withBias {
					want[j] += float64(b[j])
				}
			}
			if dd := maxDiff64(got[i*d:(i+1)*d], want); dd > 1e-5 {
				t.Errorf("bias %v, row %d: max |diff| %.3g", withBias, i, dd)
			}
		}
	}
	rms := make([]float32, n*d)
	(&Norm{W: w, Eps: 1e-5}).Forward(rms, x, n)
	ref := make([]float32, n*d)
	RMSNorm(ref, x, w, 1e-5, n)
	if maxAbs(rms, ref) != 0 {
		t.Error("Norm without Mean is not RMSNorm")
	}
	kept := append([]float32(nil), x...)
	(&Norm{}).Forward(kept, kept, n)
	if maxAbs(kept, x) != 0 || (&Norm{}).Present() {
		t.Error("an absent norm changed its input or reports present")
	}
}

// TestYarnLogMul checks YaRN's magnitude with rope.scaling.yarn_log_multiplier
// as llama.cpp's context computes it: get_mscale(f, 1)/get_mscale(f, m)
// times the cancellation of ggml's own 1 + 0.1·ln f.
func TestYarnLogMul(t *testing.T) {
	for _, m := range []float32{0, 1, 0.707} {
		rp, err := NewRope(64, true, 10000, 4096, RopeScaling{Type: "yarn", Factor: 4, OrigCtx: 1024, LogMul: m})
		if err != nil {
			t.Fatal(err)
		}
		lnf := math.Log(4)
		want := (0.1*lnf + 1) / (1 + 0.1*lnf)
		if m != 0 {
			want = (0.1*lnf + 1) / (0.1*float64(m)*lnf + 1) / (1 + 0.1*lnf)
		}
		if math.Abs(float64(rp.AttnFactor)-want) > 1e-6 {
			t.Errorf("log multiplier %v: attention factor %v, want %v", m, rp.AttnFactor, want)
		}
	}
}

// TestAttentionBidirectional checks attention both ways over a sequence
// evaluated in one batch, unwindowed and with a symmetric window of 4
// (two positions either side), against the float64 definition.
func TestAttentionBidirectional(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	const T = 9
	for _, window := range []int{0, 4} {
		a := Attention{Heads: 4, KVHeads: 2, HeadDim: 8, Scale: 0.4, Window: window, Bidirectional: true}
		kvDim, qDim := a.KVHeads*a.HeadDim, a.Heads*a.HeadDim
		k, v, q := randRows(r, T*kvDim, 1), randRows(r, T*kvDim, 1), randRows(r, T*qDim, 1)
		c, _ := kvcache.New(1, T, a.KVHeads, a.HeadDim, false)
		caches, pos := make([]*kvcache.Cache, T), make([]int, T)
		for i := range pos {
			caches[i], pos[i] = c, i
		}
		if err := a.Store(caches, pos, 0, k, v); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, T*qDim)
		a.Forward(kernels.NewPool(2), got, q, caches, pos, 0)
		want := make([]float64, T*qDim)
		for p := 0; p < T; p++ {
			for h := 0; h < a.Heads; h++ {
				g := h / (a.Heads / a.KVHeads)
				sc := make([]float64, T)
				mx := math.Inf(-1)
				for s := range sc {
					if window > 0 && (s-p > window/2 || p-s > window/2) {
						sc[s] = math.Inf(-1)
						continue
					}
					for d := 0; d < a.HeadDim; d++ {
						sc[s] += float64(q[p*qDim+h*a.HeadDim+d]) * float64(k[s*kvDim+g*a.HeadDim+d])
					}
					sc[s] *= float64(a.Scale)
					mx = math.Max(mx, sc[s])
				}
				sum := 0.0
				for s := range sc {
					sc[s] = math.Exp(sc[s] - mx)
					sum += sc[s]
				}
				for s := range sc {
					for d := 0; d < a.HeadDim; d++ {
						want[p*qDim+h*a.HeadDim+d] += sc[s] / sum * float64(v[s*kvDim+g*a.HeadDim+d])
					}
				}
			}
		}
		if d := maxDiff64(got, want); d > 1e-5 {
			t.Errorf("window %d: max |diff| %.3g from the float64 definition", window, d)
		}
	}
}
