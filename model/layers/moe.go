package layers

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/kernels"
)

// MoE is a sparse mixture-of-experts feed-forward block, the one Mixtral,
// Qwen3-MoE and Granite MoE use in place of SwiGLU: a router scores every
// expert for each token, softmax (or a sigmoid) turns the scores into
// probabilities, the Used most likely experts (by probability plus
// SelectBias, when set) run the token through their own SwiGLU, and their
// outputs are summed weighted by those probabilities (renormalised to sum 1
// when Norm is set); a shared expert, when set, adds its output for every
// token. This is llama.cpp's build_moe_ffn.
//
// Only the chosen experts' weights are read: the batch's tokens are grouped
// by expert, so each expert used streams its matrices once per batch.
type MoE struct {
	Router Linear // ffn_gate_inp: one row of scores per expert
	// Gate, Up and Down hold each expert's SwiGLU matrices: hidden×embd,
	// hidden×embd and embd×hidden.
	Gate, Up, Down []*kernels.Matrix
	Used           int     // experts per token
	Norm           bool    // renormalise the chosen probabilities (llama.cpp's norm_w)
	Scale          float32 // multiplies the weights unless 0 or 1 (expert_weights_scale)
	Sigmoid        bool    // gate with σ(score) instead of a softmax over the experts
	// SelectBias, when set, is added to the probabilities for choosing the
	// experts only (exp_probs_b); the weights stay the probabilities.
	SelectBias []float32
	// Shared, when set, runs on every token and its output is added to the
	// experts' (shared experts).
	Shared FeedForward
	// GELU makes each expert a GeGLU instead of a SwiGLU (Gemma 4).
	GELU bool
	// DownScale, when set, multiplies each expert's output, one factor per
	// expert, before its routing weight (ffn_down_exps.scale).
	DownScale []float32
	// SoftmaxChosen chooses the experts by their raw router scores and
	// weights the chosen ones by a softmax over their scores alone
	// (llama.cpp's SOFTMAX_WEIGHT gating, gpt-oss); Sigmoid is then unused.
	SoftmaxChosen bool
	// GateB, UpB and DownB, when set, hold one bias per expert, added to
	// its gate, up and down projections (gpt-oss; ggml's add_id).
	GateB, UpB, DownB [][]float32
	// ClampLimit, when positive, makes each expert gpt-oss's clamped
	// SwiGLU (ggml's swiglu_oai) with ClampAlpha, as [ClampedSwiGLU].
	ClampAlpha, ClampLimit float32
	// Groups, when over 1, splits the experts into that many equal groups
	// and limits the choice to the GroupsUsed groups whose two best
	// selection scores sum highest (DeepSeek-V3's group-limited routing).
	Groups, GroupsUsed int
}

// Validate reports a block whose parts do not fit together.
func (f *MoE) Validate() error {
	n := len(f.Gate)
	switch {
	case f.Router.W == nil || n == 0:
		return fmt.Errorf("moe: no router or no experts")
	case len(f.Up) != n || len(f.Down) != n || f.Router.W.Rows != n:
		return fmt.Errorf("moe: %d gate, %d up, %d down matrices and %d router rows", n, len(f.Up), len(f.Down), f.Router.W.Rows)
	case f.Used < 1 || f.Used > n:
		return fmt.Errorf("moe: %d experts used of %d", f.Used, n)
	case f.SelectBias != nil && len(f.SelectBias) != n:
		return fmt.Errorf("moe: %d selection biases for %d experts", len(f.SelectBias), n)
	case f.DownScale != nil && len(f.DownScale) != n:
		return fmt.Errorf("moe: %d output scales for %d experts", len(f.DownScale), n)
	case f.Router.B != nil && len(f.Router.B) != n:
		return fmt.Errorf("moe: %d router biases for %d experts", len(f.Router.B), n)
	case f.Groups > 1 && (n%f.Groups != 0 || n/f.Groups < 2 || f.GroupsUsed < 1 || f.GroupsUsed > f.Groups ||
		f.Used > f.GroupsUsed*(n/f.Groups)):
		return fmt.Errorf("moe: %d experts in %d groups, %d used, cannot choose %d experts", n, f.Groups, f.GroupsUsed, f.Used)
	}
	dim, hidden := f.Router.W.Cols, f.Gate[0].Rows
	for _, b := range []struct {
		name  string
		v     [][]float32
		width int
	}{{"gate", f.GateB, hidden}, {"up", f.UpB, hidden}, {"down", f.DownB, dim}} {
		if b.v == nil {
			continue
		}
		if len(b.v) != n {
			return fmt.Errorf("moe: %s biases for %d experts, want %d", b.name, len(b.v), n)
		}
		for e, v := range b.v {
			if len(v) != b.width {
				return fmt.Errorf("moe: expert %d's %s bias has %d elements, want %d", e, b.name, len(v), b.width)
			}
		}
	}
	for e := range n {
		g, u, d := f.Gate[e], f.Up[e], f.Down[e]
		if g.Rows != hidden || g.Cols != dim || u.Rows != hidden || u.Cols != dim || d.Rows != dim || d.Cols != hidden {
			return fmt.Errorf("moe: expert %d has gate %d×%d, up %d×%d, down %d×%d for %d→%d→%d",
				e, g.Rows, g.Cols, u.Rows, u.Cols, d.Rows, d.Cols, dim, hidden, dim)
		}
	}
	return nil
}

// moeScratch holds the activations of a MoE block, part of a [Scratch].
type moeScratch struct {
	probs []float32 // n × experts: router probabilities
	sel   []int     // n × used: the chosen experts, most likely first
	w     []float32 // n × used: their weights
	rows  []int     // token·used+slot of each token routed to one expert
	xg    []float32 // those tokens' inputs, gathered
	g, u  []float32 // their gate and up projections
	d     []float32 // the expert's output for them
	out   []float32 // n × used × embd: weighted expert outputs by slot
	sh    []float32 // n × embd: the shared expert's output
}

func (s *moeScratch) grow(n, experts, used, dim, hidden int) {
	if len(s.probs) < n*experts {
		s.probs = make([]float32, n*experts)
	}
	if len(s.sel) < n*used {
		s.sel = make([]int, n*used)
		s.w = make([]float32, n*used)
		s.rows = make([]int, 0, n*used)
		s.out = make([]float32, n*used*dim)
	}
	// An expert sees each token at most once.
	if len(s.xg) < n*dim {
		s.xg = make([]float32, n*dim)
		s.d = make([]float32, n*dim)
	}
	if len(s.g) < n*hidden {
		s.g = make([]float32, n*hidden)
		s.u = make([]float32, n*hidden)
	}
}

// Route fills sel and w (len(sel) = Used) with the experts chosen for one
// token from its router probabilities and their weights: the Used largest
// probabilities in decreasing order (lower index first on a tie), put
// through a softmax of their own when SoftmaxChosen is set (the
// "probabilities" are then raw scores), then divided by their sum (clamped
// below at fp16's smallest normal, as llama.cpp does) when Norm is set,
// then multiplied by Scale.
func (f *MoE) Route(sel []int, w []float32, probs []float32) {
	k := len(sel)
	score := func(e int) float32 {
		if f.SelectBias != nil {
			return probs[e] + f.SelectBias[e]
		}
		return probs[e]
	}
	var allowed func(e int) bool
	if f.Groups > 1 {
		allowed = f.groupFilter(score, len(probs))
	}
	for j := range k {
		best := -1
		for e := range probs {
			if moeChosen(sel[:j], e) || allowed != nil && !allowed(e) {
				continue
			}
			if best < 0 || score(e) > score(best) {
				best = e
			}
		}
		sel[j], w[j] = best, probs[best]
	}
	if f.SoftmaxChosen {
		kernels.Softmax(w)
	}
	if f.Norm {
		var sum float64 // ggml_sum_rows accumulates in double
		for _, v := range w {
			sum += float64(v)
		}
		d := max(float32(sum), 6.103515625e-5)
		for j := range w {
			w[j] /= d
		}
	}
	if f.Scale != 0 && f.Scale != 1 {
		for j := range w {
			w[j] *= f.Scale
		}
	}
}

// groupFilter returns which experts group-limited routing leaves to
// choose from: those of the GroupsUsed groups with the highest sum of
// their two best scores (a higher group index loses a tie).
func (f *MoE) groupFilter(score func(int) float32, n int) func(int) bool {
	per := n / f.Groups
	sums := make([]float32, f.Groups)
	for g := range sums {
		first, second := float32(math.Inf(-1)), float32(math.Inf(-1))
		for e := g * per; e < (g+1)*per; e++ {
			switch s := score(e); {
			case s > first:
				first, second = s, first
			case s > second:
				second = s
			}
		}
		sums[g] = first + second
	}
	keep := make([]bool, f.Groups)
	for range f.GroupsUsed {
		best := -1
		for g, s := range sums {
			if !keep[g] && (best < 0 || s > sums[best]) {
				best = g
			}
		}
		keep[best] = true
	}
	return func(e int) bool { return keep[e/per] }
}

func moeChosen(sel []int, e int) bool {
	for _, s := range sel {
		if s == e {
			return true
		}
	}
	return false
}

// Forward writes the block's output for the n rows of x (embd wide) to dst.
// dst may alias x. The weighted outputs of a token's experts are added in
// the order of their probability, as llama.cpp adds them.
func (f *MoE) Forward(p *kernels.Pool, dst, x []float32, n int, sc *Scratch) {
	f.ForwardLogits(p, dst, x, nil, n, sc)
}

// ForwardLogits is Forward with the router's scores given (n × experts),
// for families that route on another input than the experts read (Gemma
// 4); nil computes them from x as Forward does.
func (f *MoE) ForwardLogits(p *kernels.Pool, dst, x, logits []float32, n int, sc *Scratch) {
	s := &sc.moe
	experts, k := len(f.Gate), f.Used
	dim, hidden := f.Router.W.Cols, f.Gate[0].Rows
	s.grow(n, experts, k, dim, hidden)

	if logits != nil {
		copy(s.probs[:n*experts], logits)
	} else {
		f.Router.Forward(p, s.probs, x, n) // router scores
	}
	for i := 0; i < n; i++ {
		pr := s.probs[i*experts : (i+1)*experts]
		switch {
		case f.SoftmaxChosen: // Route chooses by the raw scores
		case f.Sigmoid:
			for e, v := range pr {
				pr[e] = 1 / (1 + kernels.Exp(-v))
			}
		default:
			kernels.Softmax(pr) // gating probabilities
		}
		f.Route(s.sel[i*k:(i+1)*k], s.w[i*k:(i+1)*k], pr) // top-k and their weights
	}

	for e := range experts {
		rows := s.rows[:0]
		for r, sel := range s.sel[:n*k] {
			if sel == e {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue // never read this expert's weights
		}
		m := len(rows)
		for j, r := range rows {
			t := r / k
			copy(s.xg[j*dim:(j+1)*dim], x[t*dim:(t+1)*dim])
		}
		p.MatMul(s.g, f.Gate[e], s.xg, m) // gate
		p.MatMul(s.u, f.Up[e], s.xg, m)   // up
		addRows(s.g[:m*hidden], f.GateB, e)
		addRows(s.u[:m*hidden], f.UpB, e)
		switch g, u := s.g[:m*hidden], s.u[:m*hidden]; {
		case f.ClampLimit > 0:
			clampedSwiGLU(g, u, f.ClampAlpha, f.ClampLimit)
		case f.GELU:
			for i, v := range g {
				g[i] = GELU(v) * u[i]
			}
		default:
			kernels.SwiGLU(g, g, u)
		}
		p.MatMul(s.d, f.Down[e], s.g, m) // down
		if f.DownScale != nil {
			kernels.Scale(s.d[:m*dim], f.DownScale[e])
		}
		addRows(s.d[:m*dim], f.DownB, e)
		for j, r := range rows {
			w, d := s.w[r], s.d[j*dim:(j+1)*dim]
			o := s.out[r*dim : (r+1)*dim]
			for c, v := range d {
				o[c] = v * w
			}
		}
		s.rows = rows
	}

	if f.Shared != nil { // x is still needed: dst may alias it
		if len(s.sh) < n*dim {
			s.sh = make([]float32, n*dim)
		}
		f.Shared.Forward(p, s.sh, x, n, sc)
	}
	for i := 0; i < n; i++ {
		o := dst[i*dim : (i+1)*dim]
		copy(o, s.out[i*k*dim:(i*k+1)*dim])
		for j := 1; j < k; j++ {
			kernels.Add(o, s.out[(i*k+j)*dim:(i*k+j+1)*dim])
		}
	}
	if f.Shared != nil {
		kernels.Add(dst[:n*dim], s.sh[:n*dim])
	}
}

// addRows adds expert e's bias, when biases are set, to each row of x.
func addRows(x []float32, biases [][]float32, e int) {
	if biases == nil {
		return
	}
	b := biases[e]
	for r := 0; r < len(x); r += len(b) {
		kernels.Add(x[r:r+len(b)], b)
	}
}

// GatedShared is a shared expert whose output each token scales by
// σ(Gate·x), a one-row projection (Qwen2-MoE, Qwen3-Next, Qwen3.5-MoE).
type GatedShared struct {
	FFN  FeedForward
	Gate Linear
	g    []float32
}

// Forward implements [FeedForward].
func (s *GatedShared) Forward(p *kernels.Pool, dst, x []float32, n int, sc *Scratch) {
	s.g = grow(s.g, n)
	s.Gate.Forward(p, s.g, x, n)
	s.FFN.Forward(p, dst, x, n, sc)
	dim := s.Gate.W.Cols // the shared expert's output is as wide as its input
	for i := 0; i < n; i++ {
		kernels.Scale(dst[i*dim:(i+1)*dim], 1/(1+kernels.Exp(-s.g[i])))
	}
}
