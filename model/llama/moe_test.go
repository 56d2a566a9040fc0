package llama_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/tinyref"
)

// moeify turns every block of t into a mixture of experts experts, used
// of them per token (Mixtral's layout): a router and the experts' SwiGLU
// matrices stacked in 3-D tensors.
func (t *tiny) moeify(experts, used int) {
	t.Set("llama.expert_count", uint32(experts))
	t.Set("llama.expert_used_count", uint32(used))
	r := rand.New(rand.NewPCG(uint64(experts*10+used), 3))
	rnd := func(n int, scale float64) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * scale)
		}
		return w
	}
	d, ff, e := int64(t.dim), int64(t.ffn), int64(experts)
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		for _, n := range []string{"ffn_gate", "ffn_up", "ffn_down"} {
			t.DelTensor(p + n + ".weight")
		}
		t.AddTensor(p+"ffn_gate_inp.weight", rnd(int(d*e), 0.5), d, e)
		t.AddTensor(p+"ffn_gate_exps.weight", rnd(int(d*ff*e), 0.3), d, ff, e)
		t.AddTensor(p+"ffn_up_exps.weight", rnd(int(d*ff*e), 0.3), d, ff, e)
		t.AddTensor(p+"ffn_down_exps.weight", rnd(int(d*ff*e), 0.3), ff, d, e)
	}
}

// moeCases extend TestTinyReference to Mixtral-style models: top-2 of 4
// experts, top-1 (no mixing), and every expert used (a dense mixture).
var moeCases = []struct {
	name    string
	heads   int
	kvHeads int
	edit    func(*tiny, *tinyref.Spec)
}{
	{"moe top-2 of 4", 4, 2, func(t *tiny, s *tinyref.Spec) { t.moeify(4, 2); s.ExpertsUsed = 2 }},
	{"moe top-1 of 3", 4, 2, func(t *tiny, s *tinyref.Spec) { t.moeify(3, 1); s.ExpertsUsed = 1 }},
	{"moe 2 of 2", 2, 2, func(t *tiny, s *tinyref.Spec) { t.moeify(2, 2); s.ExpertsUsed = 2 }},
}

// TestMoELoadErrors checks that broken mixture-of-experts files get errors
// naming the key or tensor at fault.
func TestMoELoadErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(*tiny)
		want string
	}{
		{"missing expert_used_count", func(t *tiny) { t.Del("llama.expert_used_count") },
			`llama: metadata key "llama.expert_used_count": missing`},
		{"expert_used_count too large", func(t *tiny) { t.Set("llama.expert_used_count", uint32(5)) },
			`llama: expert_used_count 5 is not between 1 and expert_count 4`},
		{"expert_used_count zero", func(t *tiny) { t.Set("llama.expert_used_count", uint32(0)) },
			`llama: expert_used_count 0 is not between 1 and expert_count 4`},
		{"expert_used_count wrong type", func(t *tiny) { t.Set("llama.expert_used_count", "two") },
			`llama: metadata key "llama.expert_used_count" has type string, want an integer`},
		{"expert_count differs from router", func(t *tiny) { t.Set("llama.expert_count", uint32(8)) },
			`llama: tensor "blk.0.ffn_gate_inp.weight" has shape [16 4], want [16 8]`},
		{"missing experts", func(t *tiny) { t.DelTensor("blk.1.ffn_up_exps.weight") },
			`llama: missing tensor "blk.1.ffn_up_exps.weight"`},
		{"experts of the wrong size", func(t *tiny) {
			t.AddTensor("blk.0.ffn_down_exps.weight", make([]float32, 24*16*4), 16, 24, 4)
		}, `llama: tensor "blk.0.ffn_down_exps.weight" has shape [16 24 4], want [24 16 4]`},
		{"one tensor per expert", func(t *tiny) {
			t.DelTensor("blk.0.ffn_gate_exps.weight")
			t.AddTensor("blk.0.ffn_gate.0.weight", make([]float32, 16*24), 16, 24)
		}, `llama: tensor "blk.0.ffn_gate.0.weight": experts stored one tensor each (an old Mixtral conversion) are not supported`},
		{"pooling", func(t *tiny) { t.Set("llama.pooling_type", uint32(4)) },
			`llama: pooling_type rank needs a classification head, and tensor "cls.output.weight" is missing`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(42, 4, 2)
			tm.moeify(4, 2)
			tc.edit(tm)
			m, err := tm.open(t)
			if err == nil {
				m.Close()
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
