package layers

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// TestSplitLinear checks that the parts of a fused projection compute
// exactly the rows of the whole, for float32 weights and for Q8_0, whose
// 34-byte rows put the later parts at unaligned offsets.
func TestSplitLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	const rows, cols, n = 7, 64, 3
	f32 := make([]float32, rows*cols)
	for i := range f32 {
		f32[i] = float32(r.NormFloat64())
	}
	q8 := make([]byte, rows*cols/32*34)
	for b := 0; b < rows*cols/32; b++ {
		blk := q8[b*34 : (b+1)*34]
		binary.LittleEndian.PutUint16(blk, quant.Float32ToFP16(0.01*float32(1+b%5)))
		for i := 2; i < 34; i++ {
			blk[i] = byte(r.IntN(256))
		}
	}
	bias := make([]float32, rows)
	for i := range bias {
		bias[i] = float32(i) - 3
	}
	x := make([]float32, n*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, tc := range []struct {
		typ  tensor.Type
		data []byte
	}{{tensor.F32, f32bytes(f32)}, {tensor.Q8_0, q8}} {
		w, err := kernels.NewMatrix(tc.typ, rows, cols, tc.data)
		if err != nil {
			t.Fatal(err)
		}
		whole := Linear{W: w, B: bias}
		want := make([]float32, n*rows)
		whole.Forward(nil, want, x, n)
		parts, err := SplitLinear(whole, 4, 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		lo := 0
		for _, p := range parts {
			got := make([]float32, n*p.W.Rows)
			p.Forward(nil, got, x, n)
			for i := 0; i < n; i++ {
				for j := 0; j < p.W.Rows; j++ {
					if g, w := got[i*p.W.Rows+j], want[i*rows+lo+j]; g != w {
						t.Fatalf("%v: part at row %d: token %d row %d = %v, fused %v", tc.typ, lo, i, j, g, w)
					}
				}
			}
			lo += p.W.Rows
		}
	}

	w, _ := kernels.NewMatrix(tensor.F32, rows, cols, f32bytes(f32))
	for _, tc := range []struct {
		l    Linear
		rows []int
		want string
	}{
		{Linear{W: w}, []int{4, 4}, "split of 7 rows into [4 4]"},
		{Linear{W: w}, []int{7, 0}, "split of 7 rows into [7 0]"},
		{Linear{W: w, B: bias[:6]}, []int{4, 3}, "bias of 6 for 7 rows"},
	} {
		if _, err := SplitLinear(tc.l, tc.rows...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("split %v: error %v, want %q", tc.rows, err, tc.want)
		}
	}
}

// TestHeadRMSNorm checks that every head is normalised on its own.
func TestHeadRMSNorm(t *testing.T) {
	x := []float32{1, 1, 3, 3, 2, 0, 0, 2} // 2 tokens × 2 heads of 2
	HeadRMSNorm(x, []float32{1, 2}, 0, 2, 2)
	s := float32(1 / math.Sqrt(2))
	want := []float32{1, 2, 1, 2, 2 * s, 0, 0, 4 * s}
	for i := range x {
		if math.Abs(float64(x[i]-want[i])) > 1e-6 {
			t.Fatalf("got %v, want %v", x, want)
		}
	}
}

// TestNewRope checks how the rope.* metadata turns into a rotation.
func TestNewRope(t *testing.T) {
	ln4 := float32(math.Log(4))
	for _, tc := range []struct {
		name string
		s    RopeScaling
		want kernels.Rope
	}{
		{"plain", RopeScaling{}, kernels.Rope{FreqScale: 1, AttnFactor: 1, OrigCtx: 4096}},
		{"linear", RopeScaling{Type: "linear", Factor: 4}, kernels.Rope{FreqScale: 0.25, AttnFactor: 1, OrigCtx: 4096}},
		{"none ignores the factor", RopeScaling{Type: "none", Factor: 4}, kernels.Rope{FreqScale: 1, AttnFactor: 1, OrigCtx: 4096}},
		// YaRN: llama.cpp's 1+0.1·ln 4 times the inverse of ggml's own
		// correction.
		{"yarn", RopeScaling{Type: "yarn", Factor: 4, OrigCtx: 1024},
			kernels.Rope{FreqScale: 0.25, ExtFactor: 1, AttnFactor: (0.1*ln4 + 1) * (1 / (1 + 0.1*ln4)), OrigCtx: 1024}},
		{"yarn with attn factor", RopeScaling{Type: "yarn", Factor: 4, AttnFactor: 2, OrigCtx: 1024},
			kernels.Rope{FreqScale: 0.25, ExtFactor: 1, AttnFactor: (0.1*ln4 + 1) * (1 / (1 + 0.1*ln4)) * 2, OrigCtx: 1024}},
		// Phi-3's LongRoPE: linear without a factor, the attention factor
		// on cos and sin.
		{"longrope", RopeScaling{Type: "longrope", AttnFactor: 1.19, OrigCtx: 4096}, kernels.Rope{FreqScale: 1, AttnFactor: 1.19, OrigCtx: 4096}},
		{"betas", RopeScaling{Type: "yarn", Factor: 2, BetaFast: 16, BetaSlow: 2},
			kernels.Rope{FreqScale: 0.5, ExtFactor: 1, AttnFactor: (0.1*float32(math.Log(2)) + 1) * (1 / (1 + 0.1*float32(math.Log(2)))), OrigCtx: 4096, BetaFast: 16, BetaSlow: 2}},
	} {
		r, err := NewRope(64, true, 1e6, 4096, tc.s)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := tc.want
		want.Dims, want.NeoX, want.Base = 64, true, 1e6
		if want.BetaFast == 0 {
			want.BetaFast, want.BetaSlow = 32, 1
		}
		if r.Dims != want.Dims || r.NeoX != want.NeoX || r.Base != want.Base || r.FreqScale != want.FreqScale ||
			r.ExtFactor != want.ExtFactor || r.AttnFactor != want.AttnFactor || r.OrigCtx != want.OrigCtx ||
			r.BetaFast != want.BetaFast || r.BetaSlow != want.BetaSlow {
			t.Errorf("%s: got %+v, want %+v", tc.name, r, want)
		}
	}

	nan := float32(math.NaN())
	for _, tc := range []struct {
		dims int
		base float32
		s    RopeScaling
		want string
	}{
		{64, 1e4, RopeScaling{Type: "su"}, `rope.scaling.type "su" is not supported`},
		{64, 1e4, RopeScaling{Factor: -1}, "rope.scaling.factor -1 is not a non-negative number"},
		{64, 1e4, RopeScaling{Factor: nan}, "rope.scaling.factor NaN is not a non-negative number"},
		{64, 1e4, RopeScaling{AttnFactor: float32(math.Inf(1))}, "rope.scaling.attn_factor +Inf is not a non-negative number"},
		{64, 1e4, RopeScaling{OrigCtx: -1}, "rope.scaling.original_context_length -1 is negative"},
		{64, 0, RopeScaling{}, "rope.freq_base 0 is not a positive number"},
		{63, 1e4, RopeScaling{}, "rope.dimension_count 63 is not a positive even number"},
	} {
		if _, err := NewRope(tc.dims, true, tc.base, 4096, tc.s); err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
