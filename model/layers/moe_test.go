package layers

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/tensor"
)

// f32Matrix makes an F32 kernels.Matrix of rows×cols from w.
func f32Matrix(t *testing.T, w []float32, rows, cols int) *kernels.Matrix {
	t.Helper()
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	m, err := kernels.NewMatrix(tensor.F32, rows, cols, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// moeRef is a MoE block's output for one token in float64, from the
// definition: softmax gating, the used most likely experts, their weights
// renormalised when norm is set and scaled, and the weighted sum of their
// SwiGLU outputs.
type moeRef struct {
	router           [][]float64   // experts × dim
	gate, up, down   [][][]float64 // per expert
	used             int
	norm             bool
	scale            float64
	experts, dim, ff int
	sigmoid          bool                      // σ gating instead of softmax
	bias             []float64                 // added for selection only
	shared           func([]float64) []float64 // shared expert, when set
	// gpt-oss: choose by raw scores (plus routerB), weight by a softmax
	// over the chosen, add per-expert biases, clamped SwiGLU.
	oai                    bool
	routerB                []float64
	gateB, upB, downB      [][]float64
	clampAlpha, clampLimit float64
}

func (r *moeRef) forward(x []float64) []float64 {
	prob := make([]float64, r.experts)
	mx := math.Inf(-1)
	for e := range prob {
		for c, v := range x {
			prob[e] += r.router[e][c] * v
		}
		if r.routerB != nil {
			prob[e] += r.routerB[e]
		}
		mx = math.Max(mx, prob[e])
	}
	if r.oai {
		return r.forwardOAI(x, prob)
	}
	sum := 0.0
	for e := range prob {
		if r.sigmoid {
			prob[e] = 1 / (1 + math.Exp(-prob[e]))
			continue
		}
		prob[e] = math.Exp(prob[e] - mx)
		sum += prob[e]
	}
	order := make([]int, r.experts)
	for e := range order {
		order[e] = e
		if !r.sigmoid {
			prob[e] /= sum
		}
	}
	sel := func(e int) float64 {
		if r.bias != nil {
			return prob[e] + r.bias[e]
		}
		return prob[e]
	}
	sort.SliceStable(order, func(i, j int) bool { return sel(order[i]) > sel(order[j]) })
	chosen := order[:r.used]
	total := 1.0
	if r.norm {
		total = 0
		for _, e := range chosen {
			total += prob[e]
		}
	}
	out := make([]float64, r.dim)
	for _, e := range chosen {
		w := prob[e] / total
		if r.scale != 0 {
			w *= r.scale
		}
		h := make([]float64, r.ff)
		for i := range h {
			var g, u float64
			for c, v := range x {
				g += r.gate[e][i][c] * v
				u += r.up[e][i][c] * v
			}
			h[i] = g / (1 + math.Exp(-g)) * u
		}
		for i := range out {
			var d float64
			for j, v := range h {
				d += r.down[e][i][j] * v
			}
			out[i] += w * d
		}
	}
	if r.shared != nil {
		for i, v := range r.shared(x) {
			out[i] += v
		}
	}
	return out
}

// forwardOAI is forward for gpt-oss's gating, given the router scores.
func (r *moeRef) forwardOAI(x, score []float64) []float64 {
	order := make([]int, r.experts)
	for e := range order {
		order[e] = e
	}
	sort.SliceStable(order, func(i, j int) bool { return score[order[i]] > score[order[j]] })
	chosen := order[:r.used]
	mx, sum := score[chosen[0]], 0.0
	for _, e := range chosen {
		sum += math.Exp(score[e] - mx)
	}
	out := make([]float64, r.dim)
	for _, e := range chosen {
		w := math.Exp(score[e]-mx) / sum
		h := make([]float64, r.ff)
		for i := range h {
			g, u := r.gateB[e][i], r.upB[e][i]
			for c, v := range x {
				g += r.gate[e][i][c] * v
				u += r.up[e][i][c] * v
			}
			g = math.Min(g, r.clampLimit)
			u = math.Max(math.Min(u, r.clampLimit), -r.clampLimit)
			h[i] = g / (1 + math.Exp(-r.clampAlpha*g)) * (u + 1)
		}
		for i := range out {
			d := r.downB[e][i]
			for j, v := range h {
				d += r.down[e][i][j] * v
			}
			out[i] += w * d
		}
	}
	return out
}

// makeOAI turns a block and its twin into gpt-oss's: random router and
// expert biases, softmax over the chosen scores, the clamped SwiGLU with a
// limit the random projections reach.
func makeOAI(r *rand.Rand, f *MoE, ref *moeRef) {
	vec := func(n int, s float64) ([]float32, []float64) {
		a, b := make([]float32, n), make([]float64, n)
		for i := range a {
			a[i] = float32(r.NormFloat64() * s)
			b[i] = float64(a[i])
		}
		return a, b
	}
	f.SoftmaxChosen, ref.oai = true, true
	f.ClampAlpha, f.ClampLimit = 1.702, 1.5
	ref.clampAlpha, ref.clampLimit = float64(float32(1.702)), 1.5
	f.Router.B, ref.routerB = vec(ref.experts, 0.5)
	for range ref.experts {
		g, gd := vec(ref.ff, 0.3)
		u, ud := vec(ref.ff, 0.3)
		d, dd := vec(ref.dim, 0.3)
		f.GateB, f.UpB, f.DownB = append(f.GateB, g), append(f.UpB, u), append(f.DownB, d)
		ref.gateB, ref.upB, ref.downB = append(ref.gateB, gd), append(ref.upB, ud), append(ref.downB, dd)
	}
}

// newMoE builds a random block and its float64 twin. Expert poison, when
// not negative, gets NaN weights and a router row that makes it the least
// likely expert for positive inputs: it must never be read.
func newMoE(t *testing.T, r *rand.Rand, experts, used, dim, ff int, norm bool, scale float32, poison int) (*MoE, *moeRef) {
	ref := &moeRef{used: used, norm: norm, scale: float64(scale), experts: experts, dim: dim, ff: ff}
	if scale == 1 {
		ref.scale = 0
	}
	mat := func(rows, cols int, s float64) ([]float32, [][]float64) {
		w := make([]float32, rows*cols)
		m := make([][]float64, rows)
		for i := range m {
			m[i] = make([]float64, cols)
			for j := range m[i] {
				v := float32(r.NormFloat64() * s)
				w[i*cols+j], m[i][j] = v, float64(v)
			}
		}
		return w, m
	}
	rw, rm := mat(experts, dim, 0.5)
	f := &MoE{Used: used, Norm: norm, Scale: scale}
	if poison >= 0 {
		for c := 0; c < dim; c++ {
			rw[poison*dim+c], rm[poison][c] = -10, -10
		}
	}
	f.Router = Linear{W: f32Matrix(t, rw, experts, dim)}
	ref.router = rm
	for e := range experts {
		g, gm := mat(ff, dim, 0.4)
		u, um := mat(ff, dim, 0.4)
		d, dm := mat(dim, ff, 0.4)
		if e == poison {
			for i := range d {
				d[i] = float32(math.NaN())
			}
			for i := range g {
				g[i], u[i] = float32(math.NaN()), float32(math.NaN())
			}
		}
		f.Gate = append(f.Gate, f32Matrix(t, g, ff, dim))
		f.Up = append(f.Up, f32Matrix(t, u, ff, dim))
		f.Down = append(f.Down, f32Matrix(t, d, dim, ff))
		ref.gate, ref.up, ref.down = append(ref.gate, gm), append(ref.up, um), append(ref.down, dm)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	return f, ref
}

// TestMoEReference checks the batched mixture of experts against the
// float64 definition for several routings, with a batch where tokens share
// and do not share experts, and checks that an expert no token chooses is
// never read (its weights are NaN).
func TestMoEReference(t *testing.T) {
	cases := []struct {
		name          string
		experts, used int
		norm          bool
		scale         float32
		poison        int
		oai           bool
	}{
		{"top-2 of 8, renormalised", 8, 2, true, 0, -1, false},
		{"top-1 of 4", 4, 1, true, 0, -1, false},
		{"top-3 of 6, not renormalised, scaled", 6, 3, false, 2.5, -1, false},
		{"every expert", 3, 3, true, 1, -1, false},
		{"unused expert not read", 5, 2, true, 0, 3, false},
		{"gpt-oss: softmax over the chosen 4 of 8, biases, clamped SwiGLU", 8, 4, false, 0, -1, true},
	}
	const dim, ff, n = 16, 12, 9
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			f, ref := newMoE(t, r, tc.experts, tc.used, dim, ff, tc.norm, tc.scale, tc.poison)
			if tc.oai {
				makeOAI(r, f, ref)
				if err := f.Validate(); err != nil {
					t.Fatal(err)
				}
			}
			x := make([]float32, n*dim)
			for j := range x {
				x[j] = float32(r.NormFloat64())
				if tc.poison >= 0 {
					x[j] = float32(math.Abs(float64(x[j])))
				}
			}
			var s Scratch
			got := make([]float32, n*dim)
			f.Forward(kernels.NewPool(2), got, x, n, &s)
			// dst may alias x.
			alias := append([]float32(nil), x...)
			f.Forward(nil, alias, alias, n, &s)
			worst := 0.0
			for tok := 0; tok < n; tok++ {
				xd := make([]float64, dim)
				for c := range xd {
					xd[c] = float64(x[tok*dim+c])
				}
				want := ref.forward(xd)
				for c, w := range want {
					g := float64(got[tok*dim+c])
					if math.IsNaN(g) {
						t.Fatalf("token %d: NaN output (an unchosen expert was read?)", tok)
					}
					worst = max(worst, math.Abs(g-w))
					if alias[tok*dim+c] != got[tok*dim+c] {
						t.Fatalf("token %d: aliased output differs", tok)
					}
				}
			}
			if worst > 1e-5 {
				t.Errorf("max |diff| vs float64 %.3g > 1e-5", worst)
			}
			// One token at a time gives the same bits as the batch.
			one := make([]float32, dim)
			for tok := 0; tok < n; tok++ {
				f.Forward(nil, one, x[tok*dim:(tok+1)*dim], 1, &s)
				for c := range one {
					if one[c] != got[tok*dim+c] {
						t.Fatalf("token %d alone differs from the batch at %d: %v vs %v", tok, c, one[c], got[tok*dim+c])
					}
				}
			}
		})
	}
}

// TestMoERoute checks expert selection and weighting on fixed
// probabilities: ties go to the lower index, the weights are renormalised
// and scaled as asked, and a sum below fp16's smallest normal is clamped.
func TestMoERoute(t *testing.T) {
	probs := []float32{0.1, 0.3, 0.05, 0.3, 0.25}
	sel, w := make([]int, 3), make([]float32, 3)
	(&MoE{Norm: true}).Route(sel, w, probs)
	if sel[0] != 1 || sel[1] != 3 || sel[2] != 4 {
		t.Errorf("selected %v, want [1 3 4]", sel)
	}
	if s := w[0] + w[1] + w[2]; math.Abs(float64(s)-1) > 1e-6 || w[0] != w[1] {
		t.Errorf("weights %v, want equal first two summing to 1", w)
	}
	(&MoE{Scale: 2}).Route(sel, w, probs)
	if w[0] != 0.6 || w[2] != 0.5 {
		t.Errorf("scaled weights %v, want [0.6 0.6 0.5]", w)
	}
	tiny := []float32{1e-6, 2e-6, 1 - 3e-6}
	sel, w = make([]int, 2), make([]float32, 2)
	(&MoE{Norm: true}).Route(sel, w, []float32{tiny[0], tiny[1], 0})
	if sel[0] != 1 || w[0] != float32(2e-6)/6.103515625e-5 {
		t.Errorf("clamped: selected %v weights %v", sel, w)
	}
}

// TestMoEValidate checks that mismatched parts are refused.
func TestMoEValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	f, _ := newMoE(t, r, 4, 2, 8, 4, true, 0, -1)
	bad := *f
	bad.Used = 5
	if err := bad.Validate(); err == nil {
		t.Error("used 5 of 4: no error")
	}
	bad = *f
	bad.Down = bad.Down[:3]
	if err := bad.Validate(); err == nil {
		t.Error("3 down matrices for 4 experts: no error")
	}
	bad = *f
	bad.Down = append([]*kernels.Matrix(nil), f.Down...)
	bad.Down[2] = f.Gate[2]
	if err := bad.Validate(); err == nil {
		t.Error("down matrix of the gate's shape: no error")
	}
}

// TestMoEGroupRoute checks group-limited routing: with 8 experts in 4
// groups of 2 and 2 groups used, the experts come from the two groups
// whose pairs sum highest, even where a lone expert elsewhere scores more.
func TestMoEGroupRoute(t *testing.T) {
	//                  group 0     group 1     group 2     group 3
	probs := []float32{0.30, 0.00, 0.20, 0.15, 0.05, 0.05, 0.12, 0.13}
	f := &MoE{Groups: 4, GroupsUsed: 2}
	sel, w := make([]int, 3), make([]float32, 3)
	f.Route(sel, w, probs)
	// Sums: 0.30, 0.35, 0.10, 0.25: groups 1 and 0.
	if sel[0] != 0 || sel[1] != 2 || sel[2] != 3 {
		t.Errorf("selected %v, want [0 2 3]", sel)
	}
	f.GroupsUsed = 1
	sel, w = make([]int, 2), make([]float32, 2)
	f.Route(sel, w, probs)
	if sel[0] != 2 || sel[1] != 3 {
		t.Errorf("one group: selected %v, want [2 3]", sel)
	}
	// The selection bias counts in the group scores, not in the weights.
	f = &MoE{Groups: 4, GroupsUsed: 1, SelectBias: []float32{0, 0, 0, 0, 0, 0, 0.2, 0.2}}
	f.Route(sel, w, probs)
	if sel[0] != 7 || sel[1] != 6 || w[0] != 0.13 {
		t.Errorf("biased: selected %v weights %v, want [7 6] with weights 0.13, 0.12", sel, w)
	}
	if err := (&MoE{Router: Linear{W: f32Matrix(t, make([]float32, 8*4), 8, 4)}, Used: 2, Groups: 3, GroupsUsed: 1,
		Gate: make([]*kernels.Matrix, 8), Up: make([]*kernels.Matrix, 8), Down: make([]*kernels.Matrix, 8)}).Validate(); err == nil {
		t.Error("8 experts in 3 groups accepted")
	}
}
