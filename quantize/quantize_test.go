package quantize

import (
	"bytes"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/quant"
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
