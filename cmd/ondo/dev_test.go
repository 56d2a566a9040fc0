package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDevSynth: synthetic models are reproducible from their seed, and a
// synthetic Q4_K_M model has the tensor types `ondo quantize` gives the
// same-shape F32 model.
func TestDevSynth(t *testing.T) {
	dir := t.TempDir()
	shape := []string{"--dim", "256", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "512", "--vocab", "300"}
	synth := func(name, typ, seed string) string {
		t.Helper()
		out := filepath.Join(dir, name)
		mustRun(t, append([]string{"dev", "synth", "--out", out, "--type", typ, "--seed", seed}, shape...)...)
		return out
	}
	a := synth("a.gguf", "Q4_K_M", "7")
	b := synth("b.gguf", "Q4_K_M", "7")
	c := synth("c.gguf", "Q4_K_M", "8")
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	cb, _ := os.ReadFile(c)
	if len(ab) == 0 || !bytes.Equal(ab, bb) {
		t.Errorf("same seed, different files (%d and %d bytes)", len(ab), len(bb))
	}
	if bytes.Equal(ab, cb) {
		t.Errorf("different seeds, same file")
	}

	sa := show(t, a)
	if sa.Architecture != "llama" || sa.FileType != "Q4_K_M" {
		t.Errorf("architecture %q, file type %q", sa.Architecture, sa.FileType)
	}
	if sa.Metadata["llama.embedding_length"] != 256.0 || sa.Metadata["llama.block_count"] != 2.0 || sa.Metadata["llama.feed_forward_length"] != 512.0 ||
		sa.Metadata["llama.attention.head_count"] != 4.0 || sa.Metadata["llama.attention.head_count_kv"] != 2.0 {
		t.Errorf("shape metadata: %v", sa.Metadata)
	}
	if v, ok := sa.Metadata["tokenizer.ggml.tokens"].(map[string]any); !ok || v["len"] != 300.0 {
		t.Errorf("tokens: %v", sa.Metadata["tokenizer.ggml.tokens"])
	}
	// 2 layers × 9 tensors + token_embd + output_norm (tied output).
	if len(sa.Tensors) != 20 || sa.TensorTypes["Q4_K"] == 0 || sa.TensorTypes["Q6_K"] == 0 || sa.TensorTypes["F32"] != 5 {
		t.Errorf("%d tensors, types %v", len(sa.Tensors), sa.TensorTypes)
	}

	f32 := synth("f32.gguf", "F32", "7")
	q := filepath.Join(dir, "q.gguf")
	mustRun(t, "quantize", f32, q, "Q4_K_M")
	sq := show(t, q)
	if len(sq.Tensors) != len(sa.Tensors) {
		t.Fatalf("quantized F32 synth has %d tensors, synth %d", len(sq.Tensors), len(sa.Tensors))
	}
	for i := range sa.Tensors {
		x, y := sa.Tensors[i], sq.Tensors[i]
		if x.Name != y.Name || x.Type != y.Type || jsonString(x.Shape) != jsonString(y.Shape) {
			t.Errorf("tensor %d: synth %s %s %v, quantize %s %s %v", i, x.Name, x.Type, x.Shape, y.Name, y.Type, y.Shape)
		}
	}
	if sq.FileType != "Q4_K_M" {
		t.Errorf("quantized file type %q", sq.FileType)
	}

	// Bad shapes are refused like any other error.
	checkFailure(t, runOndo(t, "dev", "synth", "--out", filepath.Join(dir, "x.gguf"), "--dim", "250", "--heads", "4"), "bad shape")
	checkFailure(t, runOndo(t, "dev", "synth"), "no --out")
	checkFailure(t, runOndo(t, "dev", "synth", "--out", filepath.Join(dir, "x.gguf"), "--type", "Q9"), "unknown type")
	if _, err := os.Stat(filepath.Join(dir, "x.gguf")); !os.IsNotExist(err) {
		t.Errorf("refused synth left a file: %v", err)
	}
}
