package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
)

// TestMamba2Reference checks the Mamba-2 layer against its definition in
// float64, token after token through the states, with 4 heads in 2 groups.
func TestMamba2Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 3))
	const dim, inner, st, heads, groups, ck, n = 8, 16, 4, 4, 2, 3, 6
	ch := inner + 2*groups*st
	vec := func(k int, c, s float64) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(c + s*r.NormFloat64())
		}
		return v
	}
	m := &Mamba2{
		In:   Linear{W: f32Matrix(t, vec((inner+ch+heads)*dim, 0, 0.4), inner+ch+heads, dim)},
		Out:  Linear{W: f32Matrix(t, vec(dim*inner, 0, 0.4), dim, inner)},
		Conv: vec(ch*ck, 0, 0.5), ConvB: vec(ch, 0, 0.1), DtBias: vec(heads, 0, 1), A: vec(heads, -2, 0.5), D: vec(heads, 1, 0.5),
		Norm:  Norm{W: vec(inner, 1, 0.1), Eps: 1e-5},
		Inner: inner, State: st, Heads: heads, Groups: groups, ConvK: ck,
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	x := vec(n*dim, 0, 1)
	conv, rec := make([]float32, (ck-1)*ch), make([]float32, inner*st)
	convs, recs := make([][]float32, n), make([][]float32, n)
	for i := range convs {
		convs[i], recs[i] = conv, rec
	}
	got := make([]float32, n*dim)
	m.Forward(kernels.NewPool(1), got, x, n, convs, recs)

	mat := func(l Linear, in []float64) []float64 {
		out := make([]float64, l.W.Rows)
		row := make([]float32, l.W.Cols)
		for i := range out {
			_ = kernels.GetRow(row, l.W, i)
			for c, v := range in {
				out[i] += float64(row[c]) * v
			}
		}
		return out
	}
	var hist [][]float64
	S := make([]float64, inner*st)
	worst := 0.0
	for tok := 0; tok < n; tok++ {
		xi := make([]float64, dim)
		for c := range xi {
			xi[c] = float64(x[tok*dim+c])
		}
		proj := mat(m.In, xi)
		z, dt := proj[:inner], proj[inner+ch:]
		hist = append(hist, proj[inner:inner+ch])
		mixed := make([]float64, ch)
		for c := range mixed {
			mixed[c] = float64(m.ConvB[c])
			for j := 0; j < ck; j++ {
				if p := len(hist) - ck + j; p >= 0 {
					mixed[c] += float64(m.Conv[c*ck+j]) * hist[p][c]
				}
			}
			mixed[c] /= 1 + math.Exp(-mixed[c])
		}
		xs, B, C := mixed[:inner], mixed[inner:inner+groups*st], mixed[inner+groups*st:]
		y := make([]float64, inner)
		hd := inner / heads
		for h := 0; h < heads; h++ {
			delta := math.Log1p(math.Exp(dt[h] + float64(m.DtBias[h])))
			dA := math.Exp(delta * float64(m.A[h]))
			g := h / (heads / groups)
			for j := 0; j < hd; j++ {
				c := h*hd + j
				for k := 0; k < st; k++ {
					S[c*st+k] = S[c*st+k]*dA + B[g*st+k]*xs[c]*delta
					y[c] += S[c*st+k] * C[g*st+k]
				}
				y[c] += xs[c] * float64(m.D[h])
			}
		}
		for c := range y {
			y[c] *= z[c] / (1 + math.Exp(-z[c]))
		}
		gw := inner / groups
		for g := 0; g < groups; g++ {
			ms := 0.0
			for _, v := range y[g*gw : (g+1)*gw] {
				ms += v * v
			}
			rms := math.Sqrt(ms/float64(gw) + 1e-5)
			for c := g * gw; c < (g+1)*gw; c++ {
				y[c] = y[c] / rms * float64(m.Norm.W[c])
			}
		}
		for c, w := range mat(m.Out, y) {
			worst = max(worst, math.Abs(float64(got[tok*dim+c])-w))
		}
	}
	if worst > 1e-4 {
		t.Errorf("max |diff| vs float64 %.3g > 1e-4", worst)
	}
}
