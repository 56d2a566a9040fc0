package gemma3n

import (
	"math"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model/layers"
)

// altUp is Gemma 3n's alternating updates: the residual stream is widened
// to Streams copies, the layers run on the active one only, and before each
// layer a router predicts every stream from all of them, after it corrects
// them by how much the layer changed the active one. It implements
// decoder.Streams, in llama.cpp's order of float32 operations.
//
// With s the streams of a token and a its active index, for layer l:
//
//	r(v) = tanh(Router · (RouterNorm(v) / embd))          one weight per stream
//	p_j = s_j + Σ_k (Predict · r(s_a))[j·N+k] · s_k         the predictions
//	layer input p_a, layer output y
//	c_j = p_j + (y − p_a) · ((Correct · r(y))[j] + 1)       the corrections
//	c_j += PostNorm(Proj · (gelu(Gate · (c_a ⊙ CorrectScale)) ⊙ perLayer_l)), j ≥ 1
type altUp struct {
	streams, active, embd int
	width, layers         int // per-layer inputs: width per layer and token
	// proj makes streams 1… from the embeddings, unembd takes them back,
	// each rescaled to the magnitude of the embeddings or active stream.
	proj, unembd []layers.Linear
	blocks       []altUpBlock

	// Buffers for a pass of n tokens: cur holds the streams, pred the
	// predictions, each stream n × embd; mod, coef, tmp and gate hold the
	// router's outputs, a stream-wide temporary and the per-layer gate.
	n               int
	cur, pred       [][]float32
	mod, coef       []float32
	tmp, tmp2, gate []float32
	mag             []float32
}

// altUpBlock is one layer's part of AltUp and of the per-layer inputs.
type altUpBlock struct {
	Router       layers.Linear // embd → streams
	RouterNorm   layers.Norm
	Predict      layers.Linear // streams → streams²
	Correct      layers.Linear // streams → streams
	CorrectScale []float32     // embd
	Gate, Proj   layers.Linear // embd → width → embd
	PostNorm     layers.Norm   // embd
}

// grow sizes the buffers for n tokens.
func (a *altUp) grow(n int) {
	if a.n >= n {
		return
	}
	a.n = n
	a.cur, a.pred = make([][]float32, a.streams), make([][]float32, a.streams)
	for k := range a.cur {
		a.cur[k] = make([]float32, n*a.embd)
		a.pred[k] = make([]float32, n*a.embd)
	}
	a.mod = make([]float32, n*a.streams)
	a.coef = make([]float32, n*a.streams*a.streams)
	a.tmp = make([]float32, n*a.embd)
	a.tmp2 = make([]float32, n*a.embd)
	a.gate = make([]float32, n*a.width)
	a.mag = make([]float32, n)
}

// magnitudes writes the Euclidean norm of each of the n rows of x to dst,
// the sum of squares in float64 as ggml's sum_rows.
func (a *altUp) magnitudes(dst, x []float32, n int) {
	d := a.embd
	for i := range n {
		var s float64
		for _, v := range x[i*d : (i+1)*d] {
			s += float64(v * v)
		}
		dst[i] = float32(math.Sqrt(float64(float32(s))))
	}
}

// rescale multiplies each row of y by target/‖row‖.
func (a *altUp) rescale(y, target []float32, n int) {
	d := a.embd
	for i := range n {
		row := y[i*d : (i+1)*d]
		var s float64
		for _, v := range row {
			s += float64(v * v)
		}
		m := float32(math.Sqrt(float64(float32(s))))
		for j, v := range row {
			row[j] = float32(v*target[i]) / m
		}
	}
}

// Begin implements decoder.Streams: stream 0 is the embeddings, the others
// their projections at the embeddings' magnitude.
func (a *altUp) Begin(p *kernels.Pool, x []float32, n int) {
	a.grow(n)
	nd := n * a.embd
	copy(a.cur[0][:nd], x[:nd])
	a.magnitudes(a.mag, x, n)
	for k := 1; k < a.streams; k++ {
		a.proj[k-1].Forward(p, a.cur[k][:nd], x[:nd], n)
		a.rescale(a.cur[k][:nd], a.mag, n)
	}
}

// route writes the router's weights of the n rows of x to a.mod.
func (a *altUp) route(p *kernels.Pool, b *altUpBlock, x []float32, n int) {
	nd := n * a.embd
	b.RouterNorm.Forward(a.tmp[:nd], x[:nd], n)
	kernels.Scale(a.tmp[:nd], 1/float32(a.embd))
	mod := a.mod[:n*a.streams]
	b.Router.Forward(p, mod, a.tmp[:nd], n)
	for i, v := range mod {
		mod[i] = float32(math.Tanh(float64(v)))
	}
}

// Predict implements decoder.Streams: the predictions of every stream, the
// active one the layer's input.
func (a *altUp) Predict(p *kernels.Pool, l int, x []float32, n int) {
	b, N, d := &a.blocks[l], a.streams, a.embd
	a.route(p, b, a.cur[a.active], n)
	coef := a.coef[:n*N*N]
	b.Predict.Forward(p, coef, a.mod[:n*N], n)
	for i := range n {
		c := coef[i*N*N : (i+1)*N*N]
		for j := range N {
			out := a.pred[j][i*d : (i+1)*d]
			for e := range out {
				var s float64
				for k := range N {
					s += float64(c[j*N+k] * a.cur[k][i*d+e])
				}
				out[e] = float32(s) + a.cur[j][i*d+e]
			}
		}
	}
	copy(x[:n*d], a.pred[a.active][:n*d])
}

// Correct implements decoder.Streams: every prediction corrected by the
// layer's innovation, then the per-layer input added to all streams but
// the first.
func (a *altUp) Correct(p *kernels.Pool, l int, y, perLayer []float32, n int) {
	b, N, d, nd := &a.blocks[l], a.streams, a.embd, n*a.embd
	a.route(p, b, y, n)
	coef := a.coef[:n*N]
	b.Correct.Forward(p, coef, a.mod[:n*N], n)
	act := a.pred[a.active]
	for i := range n {
		for j := range N {
			w := coef[i*N+j] + 1
			out, pj := a.cur[j][i*d:(i+1)*d], a.pred[j][i*d:(i+1)*d]
			for e := range out {
				innov := y[i*d+e] - act[i*d+e]
				out[e] = float32(innov*w) + pj[e]
			}
		}
	}

	// The per-layer input, gated by the corrected active stream.
	first := a.tmp[:nd]
	for i := range n {
		src := a.cur[a.active][i*d : (i+1)*d]
		dst := first[i*d : (i+1)*d]
		for e, v := range src {
			dst[e] = v * b.CorrectScale[e]
		}
	}
	w := a.width
	g := a.gate[:n*w]
	b.Gate.Forward(p, g, first, n)
	for i := range n {
		in := perLayer[(i*a.layers+l)*w : (i*a.layers+l+1)*w]
		gi := g[i*w : (i+1)*w]
		for j, v := range gi {
			gi[j] = layers.GELU(v) * in[j]
		}
	}
	out := a.tmp2[:nd]
	b.Proj.Forward(p, out, g, n)
	b.PostNorm.Forward(out, out, n)
	for k := 1; k < N; k++ {
		kernels.Add(a.cur[k][:nd], out)
	}
}

// End implements decoder.Streams: the mean of stream 0 and the others
// projected back, each at the active stream's magnitude.
func (a *altUp) End(p *kernels.Pool, x []float32, n int) {
	nd := n * a.embd
	a.magnitudes(a.mag, a.cur[a.active], n)
	copy(x[:nd], a.cur[0][:nd])
	for k := 1; k < a.streams; k++ {
		u := a.tmp[:nd]
		a.unembd[k-1].Forward(p, u, a.cur[k][:nd], n)
		a.rescale(u, a.mag, n)
		kernels.Add(x[:nd], u)
	}
	kernels.Scale(x[:nd], 1/float32(a.streams))
}
