package layers

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
)

// TestGatedDeltaNetReference checks the Gated DeltaNet against its
// definition in float64, token after token through the states, with key
// heads shared by two value heads each: value head h reads key head h mod 2
// (Qwen3.5), or h / 2 when grouped (Qwen3-Next).
//
// The tokens come in batches of the given sizes, so that runs of at least
// minChunkRun tokens take the chunked form: from an empty state, from the
// state earlier batches left, across chunk boundaries and in a last partial
// chunk, between recurrent steps; or all the recurrence. (Against float64,
// the chunked form is off by 2-4e-5 here, the recurrence by 1-2e-5.)
func TestGatedDeltaNetReference(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		for _, batches := range [][]int{{7}, {150}, {20, 130}, {5, 70, 1, 3, 81}, slices.Repeat([]int{1}, 150), slices.Repeat([]int{15}, 10)} {
			testGatedDeltaNet(t, grouped, batches)
		}
	}
}

// The test Gated DeltaNet's shape: width, key and value heads, head size,
// convolution taps.
const tdDim, tdKH, tdVH, tdSD, tdCK = 16, 2, 4, 8, 3

// testDeltaNet returns a Gated DeltaNet of the test shape with random
// weights, and the generator of random vectors it used.
func testDeltaNet(t *testing.T, r *rand.Rand, grouped bool) (*GatedDeltaNet, func(k int, c, s float64) []float32) {
	const dim, kh, vh, sd, ck = tdDim, tdKH, tdVH, tdSD, tdCK
	ch := 2*kh*sd + vh*sd
	vec := func(k int, c, s float64) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(c + s*r.NormFloat64())
		}
		return v
	}
	lin := func(rows, cols int) Linear { return Linear{W: f32Matrix(t, vec(rows*cols, 0, 0.4), rows, cols)} }
	d := &GatedDeltaNet{QKV: lin(ch, dim), Z: lin(vh*sd, dim), Beta: lin(vh, dim), Alpha: lin(vh, dim), Out: lin(dim, vh*sd),
		Conv: vec(ch*ck, 0, 0.5), DtBias: vec(vh, 0, 1), A: vec(vh, -2, 0.5), Norm: Norm{W: vec(sd, 1, 0.1), Eps: 1e-6},
		KHeads: kh, VHeads: vh, KeyDim: sd, ValueDim: sd, ConvK: ck, Eps: 1e-6, Grouped: grouped}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d, vec
}

// A batch holding two sequences, one of them in two runs around the
// other, gives each sequence what it gets alone.
func TestGatedDeltaNetSequences(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1))
	d, vec := testDeltaNet(t, r, false)
	const dim, na, nb = tdDim, 60, 30
	ch := d.Channels()
	x := vec((na+nb)*dim, 0, 1)
	type state struct{ conv, rec []float32 }
	fresh := func() state { return state{make([]float32, (tdCK-1)*ch), make([]float32, d.RecState())} }
	run := func(x []float32, sts []state) []float32 {
		convs, recs := make([][]float32, len(sts)), make([][]float32, len(sts))
		for i, s := range sts {
			convs[i], recs[i] = s.conv, s.rec
		}
		out := make([]float32, len(sts)*dim)
		d.Forward(kernels.NewPool(2), out, x, len(sts), convs, recs)
		return out
	}
	repeat := func(s state, n int) []state { return slices.Repeat([]state{s}, n) }
	aloneA := run(x[:na*dim], repeat(fresh(), na))
	aloneB := run(x[na*dim:], repeat(fresh(), nb))
	// A's first 40 tokens, B's 30, A's last 20.
	a, b := fresh(), fresh()
	mixedX := slices.Concat(x[:40*dim], x[na*dim:], x[40*dim:na*dim])
	mixed := run(mixedX, slices.Concat(repeat(a, 40), repeat(b, nb), repeat(a, na-40)))
	want := slices.Concat(aloneA[:40*dim], aloneB, aloneA[40*dim:])
	for i := range want {
		if math.Abs(float64(mixed[i]-want[i])) > 1e-5 {
			t.Fatalf("output %d (token %d): %v in the mixed batch, %v alone", i, i/dim, mixed[i], want[i])
		}
	}
}

func testGatedDeltaNet(t *testing.T, grouped bool, batches []int) {
	r := rand.New(rand.NewPCG(5, 9))
	n := 0
	for _, b := range batches {
		n += b
	}
	const dim, kh, vh, sd, ck = tdDim, tdKH, tdVH, tdSD, tdCK
	ch := 2*kh*sd + vh*sd
	d, vec := testDeltaNet(t, r, grouped)
	x := vec(n*dim, 0, 1)
	conv, rec := make([]float32, (ck-1)*ch), make([]float32, vh*sd*sd)
	convs, recs := make([][]float32, n), make([][]float32, n)
	for i := range convs {
		convs[i], recs[i] = conv, rec
	}
	forward := func(d *GatedDeltaNet, got []float32) {
		at, pool := 0, kernels.NewPool(2)
		for _, b := range batches {
			d.Forward(pool, got[at*dim:], x[at*dim:], b, convs[at:], recs[at:])
			at += b
		}
	}
	got := make([]float32, n*dim)
	forward(d, got)

	mat := func(l Linear, in []float64) []float64 {
		out := make([]float64, l.W.Rows)
		w := make([]float32, l.W.Rows*l.W.Cols)
		if err := kernels.GetRow(w[:l.W.Cols], l.W, 0); err != nil {
			t.Fatal(err)
		}
		for row := range out {
			_ = kernels.GetRow(w[:l.W.Cols], l.W, row)
			for c, v := range in {
				out[row] += float64(w[c]) * v
			}
		}
		return out
	}
	hist := make([][]float64, 0, n) // the inputs of the convolution so far
	S := make([][]float64, vh*sd)   // S[h·sd+i][j]
	for i := range S {
		S[i] = make([]float64, sd)
	}
	worst := 0.0
	for tok := 0; tok < n; tok++ {
		xi := make([]float64, dim)
		for c := range xi {
			xi[c] = float64(x[tok*dim+c])
		}
		hist = append(hist, mat(d.QKV, xi))
		mixed := make([]float64, ch)
		for c := range mixed {
			for j := 0; j < ck; j++ {
				if p := len(hist) - ck + j; p >= 0 {
					mixed[c] += float64(d.Conv[c*ck+j]) * hist[p][c]
				}
			}
			mixed[c] /= 1 + math.Exp(-mixed[c])
		}
		norm := func(v []float64) {
			s := 0.0
			for _, e := range v {
				s += e * e
			}
			s = math.Max(math.Sqrt(s), 1e-6)
			for i := range v {
				v[i] /= s
			}
		}
		for h := 0; h < kh; h++ {
			norm(mixed[h*sd : (h+1)*sd])
			norm(mixed[kh*sd+h*sd : kh*sd+(h+1)*sd])
		}
		beta, alpha, z := mat(d.Beta, xi), mat(d.Alpha, xi), mat(d.Z, xi)
		o := make([]float64, vh*sd)
		for h := 0; h < vh; h++ {
			kg := h % kh
			if grouped {
				kg = h / (vh / kh)
			}
			q := mixed[kg*sd : (kg+1)*sd]
			k := mixed[kh*sd+kg*sd : kh*sd+(kg+1)*sd]
			v := mixed[2*kh*sd+h*sd : 2*kh*sd+(h+1)*sd]
			b := 1 / (1 + math.Exp(-beta[h]))
			decay := math.Exp(math.Log1p(math.Exp(alpha[h]+float64(d.DtBias[h]))) * float64(d.A[h]))
			for j := 0; j < sd; j++ {
				sk := 0.0
				for i := 0; i < sd; i++ {
					S[h*sd+i][j] *= decay
					sk += S[h*sd+i][j] * k[i]
				}
				delta := (v[j] - sk) * b
				for i := 0; i < sd; i++ {
					S[h*sd+i][j] += k[i] * delta
					o[h*sd+j] += S[h*sd+i][j] * q[i] / math.Sqrt(sd)
				}
			}
			ms := 0.0
			for j := 0; j < sd; j++ {
				ms += o[h*sd+j] * o[h*sd+j]
			}
			rms := math.Sqrt(ms/sd + 1e-6)
			for j := 0; j < sd; j++ {
				o[h*sd+j] = o[h*sd+j] / rms * float64(d.Norm.W[j])
			}
		}
		for j := range o {
			o[j] *= z[j] / (1 + math.Exp(-z[j]))
		}
		want := mat(d.Out, o)
		for c, w := range want {
			worst = max(worst, math.Abs(float64(got[tok*dim+c])-w))
		}
	}
	if worst > 1e-4 {
		t.Errorf("grouped %v, batches %v: max |diff| vs float64 %.3g > 1e-4", grouped, batches, worst)
	}
	if !grouped {
		return
	}
	// Qwen3-Next's joint projection: per key head, its value heads' β
	// rows then their α rows, gives the same bits as the two apart.
	rowsOf := func(l Linear) [][]float32 {
		out := make([][]float32, l.W.Rows)
		for i := range out {
			out[i] = make([]float32, l.W.Cols)
			_ = kernels.GetRow(out[i], l.W, i)
		}
		return out
	}
	beta, alpha := rowsOf(d.Beta), rowsOf(d.Alpha)
	var ba []float32
	for g := 0; g < kh; g++ {
		for _, rows := range [][][]float32{beta, alpha} {
			for j := g * vh / kh; j < (g+1)*vh/kh; j++ {
				ba = append(ba, rows[j]...)
			}
		}
	}
	joint := *d
	joint.Beta, joint.Alpha = Linear{}, Linear{}
	joint.BetaAlpha = Linear{W: f32Matrix(t, ba, 2*vh, dim)}
	joint.qkv, joint.z, joint.beta, joint.alpha, joint.ba, joint.out, joint.mixed = nil, nil, nil, nil, nil, nil, nil
	joint.bsig, joint.gate, joint.scratch = nil, nil, nil
	if err := joint.Validate(); err != nil {
		t.Fatal(err)
	}
	clear(conv)
	clear(rec)
	again := make([]float32, n*dim)
	forward(&joint, again)
	for i := range again {
		if again[i] != got[i] {
			t.Fatalf("joint β/α projection: output %d is %v, apart %v", i, again[i], got[i])
		}
	}
}
