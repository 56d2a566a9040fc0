package layers

import (
	"fmt"

	"github.com/ondo-ai/ondo/kernels"
)

// Mamba2 is a Mamba-2 state-space layer (Granite 4.0's hybrids, Falcon-H1,
// Nemotron-H). In projects each token to a gate z (Inner), the channels x,
// B and C (Inner + 2·Groups·State) that a causal depthwise convolution with
// bias and a SiLU mix in the past, and a step size per head. Head h (of
// Heads, Inner/Heads wide) keeps a HeadDim × State state, read with group
// h / (Heads/Groups) of B and C:
//
//	Δ = softplus(dt + DtBias[h]),  S ← exp(Δ·A[h])·S + Δ·x ⊗ B
//	y = S·C + D[h]·x
//
// and y·SiLU(z), RMS-normed over each group's Inner/Groups channels (Norm
// spans all Inner), goes through Out. States live in the sequence's cache:
// ConvState elements of convolution window and RecState of state.
type Mamba2 struct {
	In, Out Linear
	Conv    []float32 // ConvK weights per channel, oldest input first
	ConvB   []float32 // per channel, or nil
	DtBias  []float32 // per head
	A, D    []float32 // per head
	Norm    Norm      // Inner weights, normalised in Groups groups

	Inner, State, Heads, Groups, ConvK int

	proj, mixed, y []float32 // scratch
}

// Channels returns the convolution's channels, x, B and C.
func (m *Mamba2) Channels() int { return m.Inner + 2*m.Groups*m.State }

// ConvState is the size of one sequence's convolution window state.
func (m *Mamba2) ConvState() int { return (m.ConvK - 1) * m.Channels() }

// RecState is the size of one sequence's state.
func (m *Mamba2) RecState() int { return m.Inner * m.State }

// Validate reports parts that do not fit together.
func (m *Mamba2) Validate() error {
	ch := m.Channels()
	switch {
	case m.Inner <= 0 || m.State <= 0 || m.Heads <= 0 || m.Groups <= 0 || m.ConvK < 1 ||
		m.Inner%m.Heads != 0 || m.Heads%m.Groups != 0 || m.Inner%m.Groups != 0:
		return fmt.Errorf("mamba2: inner size %d, state %d, %d heads, %d groups, convolution of %d", m.Inner, m.State, m.Heads, m.Groups, m.ConvK)
	case m.In.W.Rows != m.Inner+ch+m.Heads || m.Out.W.Cols != m.Inner:
		return fmt.Errorf("mamba2: input projection of %d rows, output of %d columns, want %d and %d", m.In.W.Rows, m.Out.W.Cols, m.Inner+ch+m.Heads, m.Inner)
	case len(m.Conv) != ch*m.ConvK || (m.ConvB != nil && len(m.ConvB) != ch) || len(m.DtBias) != m.Heads ||
		len(m.A) != m.Heads || len(m.D) != m.Heads || len(m.Norm.W) != m.Inner:
		return fmt.Errorf("mamba2: %d convolution weights, %d biases, %d step biases, %d A, %d D and a norm of %d",
			len(m.Conv), len(m.ConvB), len(m.DtBias), len(m.A), len(m.D), len(m.Norm.W))
	}
	return nil
}

// Forward writes the layer's output for the n rows of x to dst; token i
// updates the states conv[i] and rec[i], as [GatedDeltaNet.Forward].
func (m *Mamba2) Forward(p *kernels.Pool, dst, x []float32, n int, conv, rec [][]float32) {
	ch, in := m.Channels(), m.In.W.Rows
	m.proj = grow(m.proj, n*in)
	m.mixed = grow(m.mixed, ch)
	m.y = grow(m.y, n*m.Inner)
	m.In.Forward(p, m.proj, x, n)
	hd, perGroup := m.Inner/m.Heads, m.Heads/m.Groups
	for i := 0; i < n; i++ {
		row := m.proj[i*in : (i+1)*in]
		z, xbc, dt := row[:m.Inner], row[m.Inner:m.Inner+ch], row[m.Inner+ch:]
		m.convolve(m.mixed, xbc, conv[i])
		xs := m.mixed[:m.Inner]
		B := m.mixed[m.Inner : m.Inner+m.Groups*m.State]
		C := m.mixed[m.Inner+m.Groups*m.State:]
		y := m.y[i*m.Inner : (i+1)*m.Inner]
		for h := 0; h < m.Heads; h++ {
			delta := softplus(dt[h] + m.DtBias[h])
			dA := kernels.Exp(delta * m.A[h])
			g := h / perGroup
			bg, cg := B[g*m.State:(g+1)*m.State], C[g*m.State:(g+1)*m.State]
			for j := 0; j < hd; j++ {
				c := h*hd + j
				s := rec[i][c*m.State : (c+1)*m.State]
				xdt := xs[c] * delta
				var sum float32
				for k := range s {
					v := s[k]*dA + bg[k]*xdt
					sum += v * cg[k]
					s[k] = v
				}
				y[c] = sum + xs[c]*m.D[h]
			}
		}
		for c, zv := range z { // gated by SiLU(z)
			y[c] *= zv / (1 + kernels.Exp(-zv))
		}
		gw := m.Inner / m.Groups
		for g := 0; g < m.Groups; g++ {
			rmsNormScaled(y[g*gw:(g+1)*gw], m.Norm.W[g*gw:(g+1)*gw], m.Norm.Eps)
		}
	}
	m.Out.Forward(p, dst, m.y[:n*m.Inner], n)
}

// convolve is [GatedDeltaNet.convolve] with the optional bias.
func (m *Mamba2) convolve(out, in, state []float32) {
	causalConv(out, in, state, m.Conv, m.ConvB, m.Channels(), m.ConvK)
}

// rmsNormScaled is an RMS norm of x in place with weights w.
func rmsNormScaled(x, w []float32, eps float32) {
	n := Norm{W: w, Eps: eps}
	n.Forward(x, x, 1)
}
