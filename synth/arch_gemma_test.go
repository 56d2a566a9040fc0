package synth_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/gemma2"
	"github.com/ondo-ai/ondo/model/gemma3"
	"github.com/ondo-ai/ondo/synth"
)

// TestGemma writes Gemma 2 and 3 models in several types and checks that
// the files are deterministic, hold each family's distinctive tensors and
// metadata, and load and run.
func TestGemma(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range []string{"gemma2", "gemma3"} {
		for _, typ := range []string{"F32", "Q4_K_M"} {
			cfg, _ := synth.Preset("tiny")
			cfg.Arch, cfg.Type, cfg.HeadDim, cfg.Seed = arch, typ, 128, 3
			cfg.Layers, cfg.FFN, cfg.Vocab = 6, 256, 300 // layer 5 is Gemma 3's first global one
			paths := []string{""}
			if typ == "Q4_K_M" && arch == "gemma3" {
				paths = append(paths, "") // and check the bytes are the same
			}
			for i := range paths {
				paths[i] = filepath.Join(dir, arch+typ+string(rune('a'+i))+".gguf")
				if err := synth.Write(paths[i], cfg); err != nil {
					t.Fatal(err)
				}
			}
			if len(paths) == 2 {
				a, _ := os.ReadFile(paths[0])
				b, _ := os.ReadFile(paths[1])
				if !bytes.Equal(a, b) {
					t.Errorf("%s %s: two writes differ", arch, typ)
				}
			}
			f, err := gguf.Open(paths[0])
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"blk.5.post_attention_norm.weight", "blk.5.post_ffw_norm.weight"}
			if arch == "gemma3" {
				want = append(want, "blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight")
			}
			for _, name := range want {
				if _, ok := f.Tensor(name); !ok {
					t.Errorf("%s %s: no tensor %q", arch, typ, name)
				}
			}
			if ti, _ := f.Tensor("blk.0.attn_q.weight"); ti.Shape[1] != 4*128 {
				t.Errorf("%s: attn_q shape %v, want 4 heads of 128", arch, ti.Shape)
			}
			if _, ok := f.Tensor("output.weight"); ok {
				t.Errorf("%s: untied output", arch)
			}
			if w, _ := f.Int(arch + ".attention.sliding_window"); w != 8 {
				t.Errorf("%s: sliding window %d, want 8", arch, w)
			}
			m, err := model.Load(f, model.Config{Threads: 2})
			if err != nil {
				t.Fatalf("%s %s: %v", arch, typ, err)
			}
			switch mm := m.(type) {
			case *gemma2.Model:
				hp := mm.Hyper()
				if hp.AttnSoftcap != 2 || hp.FinalSoftcap != 10 || hp.Window != 8 || !hp.Sliding[0] || hp.Sliding[1] {
					t.Errorf("gemma2 hyperparameters %+v", hp)
				}
			case *gemma3.Model:
				hp := mm.Hyper()
				if hp.Rope.FreqScale != 0.125 || hp.RopeLocal.Base != 10000 || hp.Sliding[5] || !hp.Sliding[4] {
					t.Errorf("gemma3 hyperparameters %+v", hp)
				}
			}
			c, _ := m.NewCache(64, true)
			logits := make([]float32, m.Info().VocabSize)
			toks := []int32{1, 280, 281, 282, 283, 284, 285, 286, 287, 288, 289, 290}
			if err := m.Forward(context.Background(), model.SeqBatch(c, toks, 0, false), logits); err != nil {
				t.Fatal(err)
			}
			m.Close()
			f.Close()
		}
	}
	cfg, _ := synth.Preset("tiny")
	cfg.Arch, cfg.Untied = "gemma2", true
	if err := synth.Write(filepath.Join(dir, "x.gguf"), cfg); err == nil || !strings.Contains(err.Error(), "untied is not supported") {
		t.Errorf("untied gemma2: error %v", err)
	}
}
