package quantize

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/quantize/imatrix"
	"github.com/ondo-ai/ondo/tensor"
)

// llama.cpp's own quantizer made these files from synth-llama-f32.gguf.
var llamacppFiles = []string{"F16", "BF16", "Q8_0", "Q4_0", "Q2_K", "Q4_K_M", "Q5_K_M", "Q6_K"}

func TestPlanMatchesLlamaCpp(t *testing.T) {
	src, err := gguf.Open(testdata.Path(t, "llamacpp-quant", "synth-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, name := range llamacppFiles {
		t.Run(name, func(t *testing.T) {
			ref, err := gguf.Open(testdata.Path(t, "llamacpp-quant", "synth-llama-"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ft, err := ParseFileType(name)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := ref.Int("general.file_type"); FileType(got) != ft {
				t.Errorf("llama.cpp file_type %d, ParseFileType gives %d", got, ft)
			}
			types, err := Plan(src, ft, false)
			if err != nil {
				t.Fatal(err)
			}
			for i, ti := range src.Tensors {
				want, ok := ref.Tensor(ti.Name)
				if !ok {
					t.Fatalf("llama.cpp file lacks %s", ti.Name)
				}
				if types[i] != want.Type {
					t.Errorf("%s: planned %s, llama.cpp chose %s", ti.Name, types[i], want.Type)
				}
			}
		})
	}
}

// TestFileMatchesLlamaCpp quantizes the F32 model with ondo and requires
// the same tensor bytes llama.cpp wrote: the reference quantizers and the
// mix rules together.
func TestFileMatchesLlamaCpp(t *testing.T) {
	in := testdata.Path(t, "llamacpp-quant", "synth-llama-f32.gguf")
	for _, name := range llamacppFiles {
		t.Run(name, func(t *testing.T) {
			ft, _ := ParseFileType(name)
			out := filepath.Join(t.TempDir(), name+".gguf")
			if err := File(in, out, ft, Options{Threads: 2}); err != nil {
				t.Fatal(err)
			}
			got, err := gguf.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			ref, err := gguf.Open(testdata.Path(t, "llamacpp-quant", "synth-llama-"+name+".gguf"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			if v, _ := got.Int("general.file_type"); FileType(v) != ft {
				t.Errorf("general.file_type = %d, want %d", v, ft)
			}
			for i := range ref.Tensors {
				r := &ref.Tensors[i]
				g, ok := got.Tensor(r.Name)
				if !ok {
					t.Fatalf("output lacks %s", r.Name)
				}
				if g.Type != r.Type {
					t.Errorf("%s: type %s, llama.cpp %s", r.Name, g.Type, r.Type)
					continue
				}
				if !bytes.Equal(got.TensorData(g), ref.TensorData(r)) {
					t.Errorf("%s (%s): bytes differ from llama.cpp's", r.Name, r.Type)
				}
			}
			// Metadata and tensors in llama.cpp's order: the very file.
			a, _ := os.ReadFile(out)
			b, _ := os.ReadFile(testdata.Path(t, "llamacpp-quant", "synth-llama-"+name+".gguf"))
			if !bytes.Equal(a, b) {
				t.Errorf("the file differs from llama.cpp's")
			}
		})
	}
}

func TestMixRules(t *testing.T) {
	// A 32-layer GQA-4 model, like Llama 3 8B, untied.
	info := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, AttnV: 32}
	shape := []int64{4096, 4096}
	p := NewPlanner(Q4_K_M, info)
	var six []int
	for l := 0; l < 32; l++ {
		typ, err := p.Choose("blk."+itoa(l)+".attn_v.weight", tensor.F16, shape)
		if err != nil {
			t.Fatal(err)
		}
		if typ == tensor.Q6_K {
			six = append(six, l)
		} else if typ != tensor.Q4_K {
			t.Errorf("layer %d attn_v: %s", l, typ)
		}
	}
	// use_more_bits(i, 32): i < 4, i >= 28, or (i-4)%3 == 2.
	want := []int{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}
	if !slices.Equal(six, want) {
		t.Errorf("Q6_K attn_v layers %v, want %v", six, want)
	}
	cases := []struct {
		ft    FileType
		name  string
		shape []int64
		want  tensor.Type
	}{
		{Q4_K_M, "output.weight", []int64{4096, 128256}, tensor.Q6_K},
		{Q4_0, "output.weight", []int64{4096, 128256}, tensor.Q6_K},
		{Q8_0, "output.weight", []int64{4096, 128256}, tensor.Q8_0},
		{Q4_K_M, "token_embd.weight", []int64{4096, 128256}, tensor.Q4_K},
		{Q4_K_M, "output_norm.weight", []int64{4096}, tensor.F32},
		{Q4_K_M, "blk.0.attn_norm.weight", []int64{4096}, tensor.F32},
		{Q2_K, "blk.0.attn_output.weight", shape, tensor.Q3_K},
		{Q2_K, "blk.0.ffn_down.weight", []int64{14336, 4096}, tensor.Q3_K},
		{Q3_K_M, "blk.0.ffn_down.weight", []int64{14336, 4096}, tensor.Q5_K},
		{Q4_K_M, "blk.0.ffn_gate.weight", []int64{4096, 14336}, tensor.Q4_K},
		// Rows not a multiple of 256 fall back to a 32-block type, and
		// to F16 when even that does not divide them.
		{Q4_K_M, "blk.0.ffn_gate.weight", []int64{96, 14336}, tensor.Q5_0},
		{Q6_K, "blk.0.ffn_gate.weight", []int64{96, 14336}, tensor.Q8_0},
		{Q4_K_M, "blk.0.ffn_gate.weight", []int64{100, 14336}, tensor.F16},
		{F16, "blk.0.ffn_gate.weight", []int64{100, 14336}, tensor.F16},
		{F16, "blk.0.ffn_norm.weight", []int64{100}, tensor.F32},
		// MXFP4_MOE (gpt-oss): stacked experts in MXFP4, the rest Q8_0,
		// routers and sinks untouched.
		{MXFP4MoE, "blk.0.ffn_gate_exps.weight", []int64{2880, 2880, 32}, tensor.MXFP4},
		{MXFP4MoE, "blk.0.ffn_down_exps.weight", []int64{2880, 2880, 32}, tensor.MXFP4},
		{MXFP4MoE, "blk.0.attn_q.weight", []int64{2880, 4096}, tensor.Q8_0},
		{MXFP4MoE, "output.weight", []int64{2880, 201088}, tensor.Q8_0},
		{MXFP4MoE, "token_embd.weight", []int64{2880, 201088}, tensor.Q8_0},
		{MXFP4MoE, "blk.0.ffn_gate_inp.weight", []int64{2880, 32}, tensor.F32},
		{MXFP4MoE, "blk.0.attn_sinks.weight", []int64{64}, tensor.F32},
		{MXFP4MoE, "blk.0.ffn_gate_exps.weight", []int64{2880, 100, 1}, tensor.Q8_0},
	}
	for _, c := range cases {
		typ, err := NewPlanner(c.ft, info).Choose(c.name, tensor.F32, c.shape)
		if err != nil {
			t.Errorf("%s %s: %v", c.ft, c.name, err)
		} else if typ != c.want {
			t.Errorf("%s %s %v: %s, want %s", c.ft, c.name, c.shape, typ, c.want)
		}
	}
	// Tied embeddings take the output's type.
	tied := info
	tied.TiedOutput = true
	if typ, _ := NewPlanner(Q4_K_M, tied).Choose("token_embd.weight", tensor.F32, []int64{4096, 128256}); typ != tensor.Q6_K {
		t.Errorf("tied token_embd: %s, want Q6_K", typ)
	}
}

func TestParseFileType(t *testing.T) {
	for _, s := range []string{"q4_k_m", "Q4_K_M", "Q4_K"} {
		if ft, err := ParseFileType(s); err != nil || ft != Q4_K_M {
			t.Errorf("ParseFileType(%q) = %v, %v", s, ft, err)
		}
	}
	if _, err := ParseFileType("Q9_X"); err == nil || !strings.Contains(err.Error(), `"Q9_X"`) {
		t.Errorf("bad type error: %v", err)
	}
}

func TestRefusesToOverwriteInput(t *testing.T) {
	in := testdata.Path(t, "gguf", "stories260K.gguf")
	err := File(in, in, Q8_0, Options{})
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("got %v", err)
	}
}

func TestRequantizeRefused(t *testing.T) {
	in := testdata.Path(t, "llamacpp-quant", "synth-llama-Q4_0.gguf")
	err := File(in, filepath.Join(t.TempDir(), "x.gguf"), Q8_0, Options{})
	if err == nil || !strings.Contains(err.Error(), "is already") {
		t.Fatalf("got %v", err)
	}
	out := filepath.Join(t.TempDir(), "y.gguf")
	if err := File(in, out, Q8_0, Options{AllowRequantize: true}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ti, _ := f.Tensor("blk.0.attn_q.weight")
	if ti.Type != tensor.Q8_0 || !quant.DequantizeSupported(ti.Type) {
		t.Errorf("requantized type %s", ti.Type)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// modelTensors lists a llama-style model's weights in file order: per
// layer attention and feed-forward matrices (stacked experts when experts
// > 0), an untied output unless tied.
func modelTensors(layers, dim, kvDim, ffn, vocab, experts int64, tied bool) (names []string, shapes [][]int64) {
	add := func(n string, s ...int64) {
		names = append(names, n)
		shapes = append(shapes, s)
	}
	add("token_embd.weight", dim, vocab)
	for l := int64(0); l < layers; l++ {
		p := "blk." + itoa(int(l)) + "."
		add(p+"attn_norm.weight", dim)
		add(p+"attn_q.weight", dim, dim)
		add(p+"attn_k.weight", dim, kvDim)
		add(p+"attn_v.weight", dim, kvDim)
		add(p+"attn_output.weight", dim, dim)
		add(p+"ffn_norm.weight", dim)
		if experts > 0 {
			add(p+"ffn_gate_inp.weight", dim, experts)
			add(p+"ffn_gate_exps.weight", dim, ffn, experts)
			add(p+"ffn_up_exps.weight", dim, ffn, experts)
			add(p+"ffn_down_exps.weight", ffn, dim, experts)
		} else {
			add(p+"ffn_gate.weight", dim, ffn)
			add(p+"ffn_up.weight", dim, ffn)
			add(p+"ffn_down.weight", ffn, dim)
		}
	}
	add("output_norm.weight", dim)
	if !tied {
		add("output.weight", dim, vocab)
	}
	return names, shapes
}

// planModel plans a whole model in llama.cpp's order.
func planModel(t *testing.T, ft FileType, info ModelInfo, imatrix bool, names []string, shapes [][]int64) map[string]tensor.Type {
	t.Helper()
	info.AttnV = CountAttnV(names)
	p := NewPlanner(ft, info)
	p.Imatrix = imatrix
	out := map[string]tensor.Type{}
	for _, i := range Order(names) {
		typ, err := p.Choose(names[i], tensor.F32, shapes[i])
		if err != nil {
			t.Fatalf("%s %s: %v", ft, names[i], err)
		}
		out[names[i]] = typ
	}
	return out
}

// TestMixRulesLowBit checks the IQ, ternary and related presets' choices,
// tensor by tensor, on whole models: Llama 3 8B (32 layers, 4 query heads
// per key/value head), Llama 2 7B (no GQA), Mixtral 8x7B (8 experts) and
// Llama 2 70B (80 layers, GQA 8), each without and with an importance
// matrix. Layer numbers that matter: 32/8 = 4 (the first eighth), 7·32/8 =
// 28 (the last eighth).
func TestMixRulesLowBit(t *testing.T) {
	const (
		Q2K, Q3K, Q4K, Q5K, Q6K, Q8    = tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_0
		I1S, I1M, I2XXS, I2XS, I2S     = tensor.IQ1_S, tensor.IQ1_M, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S
		I3XXS, I3S, I4NL, I4XS, T1, T2 = tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_NL, tensor.IQ4_XS, tensor.TQ1_0, tensor.TQ2_0
		Q40, Q41, Q50, Q51             = tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1
	)
	llama3 := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8}
	llama2 := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 32}
	mixtral := ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, Experts: 8}
	llama70 := ModelInfo{Arch: "llama", Layers: 80, Heads: 64, KVHeads: 8}
	dense := func(layers int64, kv int64) ([]string, [][]int64) {
		return modelTensors(layers, 4096, kv, 14336, 32000, 0, false)
	}
	moe := func() ([]string, [][]int64) { return modelTensors(32, 4096, 1024, 14336, 32000, 8, false) }

	type want map[string]tensor.Type
	cases := []struct {
		name    string
		ft      FileType
		info    ModelInfo
		imatrix bool
		model   func() ([]string, [][]int64)
		want    want
	}{
		{"IQ2_XXS llama3", IQ2_XXS, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q2K, "output.weight": Q5K, "blk.0.attn_v.weight": Q4K, "blk.31.attn_v.weight": Q4K,
			"blk.0.attn_q.weight": I2XXS, "blk.0.attn_k.weight": I2XXS, "blk.5.attn_output.weight": I2XXS,
			"blk.0.ffn_down.weight": Q2K, "blk.3.ffn_down.weight": Q2K, "blk.4.ffn_down.weight": I2XXS, "blk.31.ffn_down.weight": I2XXS,
			"blk.0.ffn_gate.weight": I2XXS, "blk.0.ffn_up.weight": I2XXS, "blk.0.attn_norm.weight": tensor.F32}},
		{"IQ2_XXS llama2", IQ2_XXS, llama2, true, func() ([]string, [][]int64) { return dense(32, 4096) }, want{
			"blk.0.attn_v.weight": Q2K, "blk.20.attn_v.weight": Q2K}},
		{"IQ2_XS llama3", IQ2_XS, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q2K, "output.weight": Q5K, "blk.1.attn_v.weight": Q4K, "blk.1.attn_q.weight": I2XS,
			"blk.3.ffn_down.weight": Q2K, "blk.4.ffn_down.weight": I2XS, "blk.4.attn_output.weight": I2XS}},
		{"IQ2_S llama2", IQ2_S, llama2, true, func() ([]string, [][]int64) { return dense(32, 4096) }, want{
			"token_embd.weight": I3S, "output.weight": Q5K, "blk.1.attn_v.weight": I3S, "blk.1.attn_q.weight": I2XS,
			"blk.3.ffn_down.weight": I3S, "blk.4.ffn_down.weight": I2XS, "blk.4.attn_output.weight": I3S, "blk.9.ffn_up.weight": I2XS}},
		{"IQ2_M llama3", IQ2_M, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": I3S, "output.weight": Q5K, "blk.1.attn_v.weight": Q4K, "blk.1.attn_k.weight": I2S,
			"blk.0.ffn_down.weight": I3S, "blk.4.ffn_down.weight": I2S, "blk.4.attn_output.weight": I3S, "blk.9.ffn_gate.weight": I2S}},
		{"IQ1_S llama3", IQ1_S, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q2K, "output.weight": Q5K, "blk.1.attn_v.weight": Q4K, "blk.1.attn_q.weight": I1S,
			"blk.2.ffn_down.weight": Q2K, "blk.4.ffn_down.weight": I1S, "blk.4.attn_output.weight": I2XXS}},
		{"IQ1_M llama2", IQ1_M, llama2, true, func() ([]string, [][]int64) { return dense(32, 4096) }, want{
			"token_embd.weight": Q2K, "output.weight": Q5K, "blk.1.attn_v.weight": Q2K, "blk.1.attn_q.weight": I1M,
			"blk.2.ffn_down.weight": Q2K, "blk.4.ffn_down.weight": I1M, "blk.4.attn_output.weight": I2XXS}},
		{"IQ2_XXS mixtral", IQ2_XXS, mixtral, true, moe, want{
			"blk.0.attn_v.weight": Q4K, "blk.0.attn_k.weight": Q4K, "blk.0.attn_output.weight": Q5K, "blk.0.attn_q.weight": I2XXS,
			"blk.3.ffn_down_exps.weight": Q2K, "blk.4.ffn_down_exps.weight": I2XXS, "blk.0.ffn_gate_exps.weight": I2XXS,
			"blk.0.ffn_gate_inp.weight": tensor.F32}},
		{"IQ3_XXS llama3", IQ3_XXS, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": I3S, "output.weight": Q5K, "blk.0.attn_v.weight": Q4K, "blk.0.attn_k.weight": I2S, "blk.0.attn_q.weight": I2S,
			"blk.0.attn_output.weight": I3S, "blk.0.ffn_down.weight": I3XXS, "blk.0.ffn_gate.weight": I3XXS, "blk.0.ffn_up.weight": I3XXS}},
		{"IQ3_XXS llama3 no imatrix", IQ3_XXS, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"blk.0.attn_v.weight": Q4K, "blk.3.ffn_down.weight": Q4K, "blk.4.ffn_down.weight": Q3K, "blk.31.ffn_down.weight": Q3K}},
		{"IQ3_XXS llama2", IQ3_XXS, llama2, true, func() ([]string, [][]int64) { return dense(32, 4096) }, want{"blk.0.attn_v.weight": I3XXS}},
		{"IQ3_XXS llama2 no imatrix", IQ3_XXS, llama2, false, func() ([]string, [][]int64) { return dense(32, 4096) }, want{"blk.0.attn_v.weight": I3S}},
		{"IQ3_XXS mixtral", IQ3_XXS, mixtral, true, moe, want{
			"blk.0.attn_v.weight": Q8, "blk.0.attn_k.weight": Q8, "blk.0.attn_output.weight": Q5K, "blk.0.attn_q.weight": I2S}},
		{"IQ3_XXS llama 70B", IQ3_XXS, llama70, true, func() ([]string, [][]int64) { return dense(80, 1024) }, want{"blk.0.attn_v.weight": Q5K}},
		{"IQ2_XXS llama 70B", IQ2_XXS, llama70, true, func() ([]string, [][]int64) { return dense(80, 1024) }, want{
			"blk.0.attn_v.weight": Q4K, "blk.9.ffn_down.weight": Q2K, "blk.10.ffn_down.weight": I2XXS}},
		{"IQ3_XS llama3", IQ3_XS, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": I3S, "output.weight": Q6K, "blk.0.attn_v.weight": Q4K, "blk.0.attn_k.weight": I3XXS, "blk.0.attn_q.weight": I3XXS,
			"blk.0.attn_output.weight": I3S, "blk.0.ffn_down.weight": I3S, "blk.3.ffn_gate.weight": I3S, "blk.4.ffn_gate.weight": I3XXS,
			"blk.27.ffn_up.weight": I3XXS, "blk.28.ffn_up.weight": I3S, "blk.31.ffn_gate.weight": I3S}},
		{"IQ3_XS llama2", IQ3_XS, llama2, false, func() ([]string, [][]int64) { return dense(32, 4096) }, want{"blk.0.attn_v.weight": I3S}},
		{"IQ3_S llama3", IQ3_S, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": I3S, "output.weight": Q6K, "blk.0.attn_v.weight": Q4K, "blk.0.attn_k.weight": I3S,
			"blk.0.attn_output.weight": I3S, "blk.0.ffn_down.weight": I3S, "blk.9.ffn_gate.weight": I3S}},
		{"IQ3_S llama2", IQ3_S, llama2, false, func() ([]string, [][]int64) { return dense(32, 4096) }, want{"blk.0.attn_v.weight": I3S}},
		{"IQ3_S mixtral", IQ3_S, mixtral, false, moe, want{"blk.0.attn_v.weight": Q8, "blk.0.attn_output.weight": Q5K, "blk.0.attn_k.weight": Q8}},
		{"IQ3_M llama2", IQ3_M, llama2, false, func() ([]string, [][]int64) { return dense(32, 4096) }, want{
			"token_embd.weight": I3S, "output.weight": Q6K, "blk.9.attn_v.weight": Q4K, "blk.9.attn_output.weight": Q4K,
			"blk.3.ffn_down.weight": Q4K, "blk.4.ffn_down.weight": I3S, "blk.31.ffn_down.weight": I3S, "blk.9.attn_q.weight": I3S}},
		{"IQ3_M mixtral", IQ3_M, mixtral, false, moe, want{
			"blk.3.ffn_down_exps.weight": Q4K, "blk.4.ffn_down_exps.weight": I3S, "blk.6.ffn_down_exps.weight": Q4K, "blk.31.ffn_down_exps.weight": Q4K,
			"blk.0.attn_output.weight": Q5K}},
		{"IQ3_M llama 70B", IQ3_M, llama70, false, func() ([]string, [][]int64) { return dense(80, 1024) }, want{"blk.0.attn_v.weight": Q5K}},
		{"TQ1_0", TQ1_0, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q4K, "output.weight": Q6K, "blk.0.attn_v.weight": T1, "blk.0.ffn_down.weight": T1}},
		{"TQ2_0", TQ2_0, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q4K, "output.weight": Q6K, "blk.0.attn_v.weight": T2, "blk.0.ffn_down.weight": T2}},
		{"IQ4_XS", IQ4_XS, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": I4XS, "output.weight": Q6K, "blk.0.attn_v.weight": Q5K, "blk.3.ffn_down.weight": Q5K, "blk.4.ffn_down.weight": I4XS}},
		{"IQ4_XS imatrix", IQ4_XS, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{"blk.3.ffn_down.weight": I4XS}},
		{"IQ4_NL imatrix", IQ4_NL, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{"blk.0.ffn_down.weight": I4NL, "blk.0.attn_v.weight": Q5K}},
		{"Q4_0 imatrix", Q4_0, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"blk.3.ffn_down.weight": Q41, "blk.4.ffn_down.weight": Q40, "output.weight": Q6K}},
		{"Q4_0", Q4_0, llama3, false, func() ([]string, [][]int64) { return dense(32, 1024) }, want{"blk.3.ffn_down.weight": Q40}},
		{"Q5_0 imatrix", Q5_0, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{"blk.0.ffn_down.weight": Q51, "blk.4.ffn_down.weight": Q50}},
		{"Q2_K_S", Q2_K_S, llama3, true, func() ([]string, [][]int64) { return dense(32, 1024) }, want{
			"token_embd.weight": Q2K, "output.weight": Q6K, "blk.0.attn_v.weight": Q4K, "blk.3.ffn_down.weight": Q4K, "blk.4.ffn_down.weight": Q2K,
			"blk.0.attn_output.weight": Q2K}},
		// Tied embeddings take the output's rule.
		{"IQ2_XXS tied", IQ2_XXS, ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, TiedOutput: true}, true,
			func() ([]string, [][]int64) { return modelTensors(32, 4096, 1024, 14336, 32000, 0, true) }, want{"token_embd.weight": Q5K}},
		{"IQ2_S tied", IQ2_S, ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, TiedOutput: true}, true,
			func() ([]string, [][]int64) { return modelTensors(32, 4096, 1024, 14336, 32000, 0, true) }, want{"token_embd.weight": Q5K}},
		{"IQ3_S tied", IQ3_S, ModelInfo{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, TiedOutput: true}, false,
			func() ([]string, [][]int64) { return modelTensors(32, 4096, 1024, 14336, 32000, 0, true) }, want{"token_embd.weight": Q6K}},
		// Rows the IQ blocks do not divide: the output matrix takes Q8_0,
		// the others IQ4_NL (or F16 when 32 does not divide them either);
		// IQ2_XXS's Q2_K token embeddings fall back to Q4_0.
		{"IQ2_XXS odd rows", IQ2_XXS, ModelInfo{Arch: "llama", Layers: 8, Heads: 8, KVHeads: 8}, true,
			func() ([]string, [][]int64) { return modelTensors(8, 96, 96, 100, 1000, 0, false) }, want{
				"output.weight": Q8, "token_embd.weight": Q40, "blk.0.attn_q.weight": I4NL, "blk.0.ffn_down.weight": tensor.F16, "blk.0.ffn_up.weight": I4NL}},
		{"TQ1_0 odd rows", TQ1_0, ModelInfo{Arch: "llama", Layers: 8, Heads: 8, KVHeads: 8}, false,
			func() ([]string, [][]int64) { return modelTensors(8, 96, 96, 100, 1000, 0, false) }, want{
				"output.weight": Q8, "token_embd.weight": Q50, "blk.0.attn_q.weight": Q40, "blk.0.ffn_down.weight": tensor.F16}},
		{"IQ3_S odd rows", IQ3_S, ModelInfo{Arch: "llama", Layers: 8, Heads: 8, KVHeads: 8}, false,
			func() ([]string, [][]int64) { return modelTensors(8, 96, 96, 100, 1000, 0, false) }, want{
				"output.weight": Q8, "token_embd.weight": I4NL, "blk.0.attn_v.weight": I4NL}},
	}
	for _, c := range cases {
		names, shapes := c.model()
		got := planModel(t, c.ft, c.info, c.imatrix, names, shapes)
		for name, w := range c.want {
			g, ok := got[name]
			if !ok {
				t.Fatalf("%s: no tensor %s", c.name, name)
			}
			if g != w {
				t.Errorf("%s: %s is %s, want %s", c.name, name, g, w)
			}
		}
	}
}

func TestRequiresImatrix(t *testing.T) {
	for _, c := range []struct {
		name string
		t    tensor.Type
		ft   FileType
		want bool
	}{
		{"blk.0.attn_q.weight", tensor.IQ2_XXS, IQ2_XXS, true},
		{"blk.0.attn_q.weight", tensor.IQ2_XS, IQ2_S, true},
		{"blk.0.attn_q.weight", tensor.IQ2_S, IQ3_XXS, true},
		{"blk.0.attn_q.weight", tensor.IQ3_XXS, IQ3_XS, true},
		{"blk.0.attn_q.weight", tensor.IQ1_S, IQ1_S, true},
		{"blk.0.attn_q.weight", tensor.IQ1_M, IQ1_M, true},
		{"blk.0.attn_q.weight", tensor.Q2_K, Q2_K_S, true},
		{"blk.0.attn_q.weight", tensor.Q2_K, Q2_K, false},
		{"blk.0.attn_v.weight", tensor.Q2_K, IQ2_XXS, false},
		{"blk.0.attn_q.weight", tensor.IQ3_S, IQ3_S, false},
		{"blk.0.attn_q.weight", tensor.IQ4_NL, IQ2_XXS, false},
		{"token_embd.weight", tensor.IQ2_XXS, IQ2_XXS, false},
		{"output.weight", tensor.IQ1_S, IQ1_S, false},
		{"token_embd.weight", tensor.Q2_K, Q2_K_S, false},
	} {
		if got := RequiresImatrix(c.name, c.t, c.ft); got != c.want {
			t.Errorf("RequiresImatrix(%s, %s, %s) = %v", c.name, c.t, c.ft, got)
		}
	}
}

func TestOrder(t *testing.T) {
	names := []string{"output.weight", "blk.10.attn_q.weight", "blk.2.ffn_up.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.x.y", "blk.-1.z"}
	var got []string
	for _, i := range Order(names) {
		got = append(got, names[i])
	}
	want := []string{"blk.-1.z", "blk.x.y", "output.weight", "token_embd.weight", "blk.2.attn_k.weight", "blk.2.ffn_up.weight", "blk.10.attn_q.weight"}
	if !slices.Equal(got, want) {
		t.Errorf("Order: %q, want %q", got, want)
	}
}

// TestPresetNames: every preset parses and prints as llama.cpp names it,
// with llama.cpp's default type.
func TestPresetNames(t *testing.T) {
	for _, c := range []struct {
		name string
		ft   FileType
		def  tensor.Type
	}{
		{"IQ2_XXS", 19, tensor.IQ2_XXS}, {"IQ2_XS", 20, tensor.IQ2_XS}, {"IQ3_XS", 22, tensor.IQ3_S}, {"IQ3_XXS", 23, tensor.IQ3_XXS},
		{"IQ1_S", 24, tensor.IQ1_S}, {"IQ3_S", 26, tensor.IQ3_S}, {"IQ3_M", 27, tensor.IQ3_S}, {"IQ2_S", 28, tensor.IQ2_XS},
		{"IQ2_M", 29, tensor.IQ2_S}, {"IQ4_XS", 30, tensor.IQ4_XS}, {"IQ1_M", 31, tensor.IQ1_M}, {"TQ1_0", 36, tensor.TQ1_0},
		{"TQ2_0", 37, tensor.TQ2_0}, {"MXFP4_MOE", 38, tensor.MXFP4},
	} {
		ft, err := ParseFileType(strings.ToLower(c.name))
		if err != nil || ft != c.ft || ft.String() != c.name || ft.DefaultType() != c.def {
			t.Errorf("%s: %v %v, %q, default %s", c.name, ft, err, ft.String(), ft.DefaultType())
		}
	}
}

// TestMoELayerFromName: with experts, the feed-forward rules read the
// layer from the name and refuse names without one, as llama.cpp does.
func TestMoELayerFromName(t *testing.T) {
	p := NewPlanner(Q4_K_M, ModelInfo{Arch: "llama", Layers: 4, Heads: 8, KVHeads: 8, Experts: 8})
	if _, err := p.Choose("ffn_down_exps.weight", tensor.F32, []int64{256, 256, 8}); err == nil || !strings.Contains(err.Error(), "failed to determine its layer") {
		t.Errorf("no layer: %v", err)
	}
	if _, err := p.Choose("blk.9.ffn_up_exps.weight", tensor.F32, []int64{256, 256, 8}); err == nil || !strings.Contains(err.Error(), "bad layer 9") {
		t.Errorf("layer out of range: %v", err)
	}
}

// flatMatrix writes a GGUF importance matrix with an entry for every
// weight matrix of f whose name passes keep, cols columns of ones each
// (per expert), with one entry's length changed by resize.
func flatMatrix(t *testing.T, f *gguf.File, keep func(string) bool, resize map[string]int64) *imatrix.Matrix {
	t.Helper()
	stats := map[string]imatrix.Stats{}
	for _, ti := range f.Tensors {
		if len(ti.Shape) < 2 || !keep(ti.Name) {
			continue
		}
		n := ti.Shape[0] + resize[ti.Name]
		s := imatrix.Stats{Sums: make([]float32, n), Counts: []int64{1}}
		for i := range s.Sums {
			s.Sums[i] = 1 + float32(i%7)
		}
		stats[ti.Name] = s
	}
	var b bytes.Buffer
	if err := imatrix.WriteGGUF(&b, stats, []string{"calibration.txt"}, 3, 512); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.imatrix.gguf")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := imatrix.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestImatrixRules: the refusals and checks llama.cpp applies around the
// importance matrix, and the metadata llama-quantize records about it.
func TestImatrixRules(t *testing.T) {
	in := testdata.Path(t, "llamacpp-quant", "synth-llama-f32.gguf")
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "out.gguf")
	blocks := func(n string) bool { return strings.HasPrefix(n, "blk.") }

	// Without a matrix: refused, naming the tensor, its type and the cure.
	for _, ft := range []FileType{IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, Q2_K_S} {
		err := File(in, out, ft, Options{})
		if err == nil || !strings.Contains(err.Error(), ft.String()+" requires an importance matrix") || !strings.Contains(err.Error(), "this quantization requires an imatrix!") ||
			!strings.Contains(err.Error(), "--imatrix") {
			t.Errorf("%s without a matrix: %v", ft, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused conversion left %s", out)
	}
	// A matrix lacking an entry a low-bit tensor needs.
	m := flatMatrix(t, f, func(n string) bool { return blocks(n) && n != "blk.1.ffn_up.weight" }, nil)
	if err := File(in, out, IQ2_XXS, Options{Imatrix: m}); err == nil || !strings.Contains(err.Error(), "missing importance matrix for tensor blk.1.ffn_up.weight in a very low-bit quantization") {
		t.Errorf("missing entry: %v", err)
	}
	// An entry of the wrong size.
	m = flatMatrix(t, f, blocks, map[string]int64{"blk.0.attn_q.weight": 32})
	if err := File(in, out, IQ3_S, Options{Imatrix: m}); err == nil || !strings.Contains(err.Error(), "size 288 is different from tensor size 256 for blk.0.attn_q.weight") {
		t.Errorf("wrong size: %v", err)
	}
	// A wrong-sized token embedding entry is ignored (with a note), and a
	// tensor without an entry that does not need one is quantized
	// without.
	m = flatMatrix(t, f, func(n string) bool { return n != "blk.0.attn_v.weight" }, map[string]int64{"token_embd.weight": 32})
	var notes []string
	if err := File(in, out, IQ2_XXS, Options{Imatrix: m, Warn: func(s string) { notes = append(notes, s) }}); err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "token_embd.weight") || !strings.Contains(notes[1], "no entry for blk.0.attn_v.weight") {
		t.Errorf("notes: %q", notes)
	}
	g, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	want := []gguf.KV{
		gguf.NewKV("general.quantization_version", uint32(2)),
		gguf.NewKV("general.file_type", uint32(IQ2_XXS)),
		gguf.NewKV("quantize.imatrix.file", m.Path),
		gguf.NewKV("quantize.imatrix.dataset", "calibration.txt"),
		gguf.NewKV("quantize.imatrix.entries_count", uint32(len(m.Entries))),
		gguf.NewKV("quantize.imatrix.chunks_count", uint32(3)),
	}
	if tail := g.KV[len(g.KV)-len(want):]; !slices.EqualFunc(tail, want, func(a, b gguf.KV) bool { return a.Key == b.Key && a.Value == b.Value }) {
		t.Errorf("last metadata %v, want %v", tail, want)
	}
}

// TestConvertWeightedExperts: stacked experts are quantized each under its
// own run of the importance matrix, whatever the chunking.
func TestConvertWeightedExperts(t *testing.T) {
	const cols, rows, experts = 256, 6, 3
	x := make([]float32, cols*rows*experts)
	w := make([]float32, cols*experts)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.37))
	}
	for i := range w {
		w[i] = float32(1 + (i*7919)%13)
	}
	raw := make([]byte, 4*len(x))
	for i, v := range x {
		bits := math.Float32bits(v)
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	rowSize, _ := tensor.IQ3_S.RowSize(cols)
	want := make([]byte, rowSize*rows*experts)
	for e := 0; e < experts; e++ {
		n := int64(cols * rows)
		if err := quant.QuantizeWeighted(tensor.IQ3_S, x[int64(e)*n:int64(e+1)*n], w[e*cols:(e+1)*cols], want[int64(e)*rowSize*rows:int64(e+1)*rowSize*rows]); err != nil {
			t.Fatal(err)
		}
	}
	for _, threads := range []int{1, 4} {
		var b bytes.Buffer
		if err := ConvertWeighted(&b, tensor.F32, tensor.IQ3_S, raw, cols, rows*experts, w, threads); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("threads %d: experts not quantized under their own weights", threads)
		}
	}
	for _, n := range []int{4 * cols, cols + 1} {
		if err := ConvertWeighted(&bytes.Buffer{}, tensor.F32, tensor.IQ3_S, raw, cols, rows*experts, make([]float32, n), 1); err == nil || !strings.Contains(err.Error(), "does not fit") {
			t.Errorf("a matrix of %d weights for 18 rows of %d: %v", n, cols, err)
		}
	}
}
