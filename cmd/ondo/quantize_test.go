package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestQuantizeRefusesInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	copyFile(t, testdata.Path(t, "gguf", "stories260K.gguf"), in)
	orig, _ := os.ReadFile(in)
	link := filepath.Join(dir, "link.gguf")
	if err := os.Symlink(in, link); err != nil {
		t.Logf("no symlink: %v", err)
		link = ""
	}
	hard := filepath.Join(dir, "hard.gguf")
	if err := os.Link(in, hard); err != nil {
		t.Logf("no hard link: %v", err)
		hard = ""
	}
	for _, out := range []string{in, filepath.Join(dir, "sub", "..", "in.gguf"), link, hard} {
		if out == "" {
			continue
		}
		if strings.Contains(out, "sub") {
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		}
		msg := checkFailure(t, runOndo(t, "quantize", in, out, "Q8_0"), "output "+out)
		if !strings.Contains(msg, "refusing to overwrite") {
			t.Errorf("output %s: error %q", out, msg)
		}
		if now, _ := os.ReadFile(in); !bytes.Equal(now, orig) {
			t.Fatalf("output %s: the input changed", out)
		}
	}
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}

func TestQuantizeUnknownType(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.gguf")
	msg := checkFailure(t, runOndo(t, "quantize", testdata.Path(t, "gguf", "stories260K.gguf"), out, "Q4_K_X"), "unknown type")
	for _, w := range []string{`"Q4_K_X"`, "known:", "F32", "F16", "Q8_0", "Q4_0", "Q4_K_M", "Q6_K"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output created: %v", err)
	}
	checkFailure(t, runOndo(t, "quantize", filepath.Join(dir, "missing.gguf"), out, "Q8_0"), "missing input")
	checkFailure(t, runOndo(t, "quantize", "only-one-arg"), "too few arguments")
}

// TestQuantizeQ8_0 converts stories260K and checks the result's tensor
// types through show --json: 2-D weights become Q8_0 (including output.weight:
// llama.cpp's Q6_K rule for the output matrix leaves Q8_0 files alone), 1-D
// norms stay F32. stories260K's ffn_down rows are 172 long, which Q8_0's
// 32-element blocks do not divide; ondo stores those as F16.
func TestQuantizeQ8_0(t *testing.T) {
	in := testdata.Path(t, "gguf", "stories260K.gguf")
	out := filepath.Join(t.TempDir(), "q8.gguf")
	r := mustRun(t, "quantize", in, out, "Q8_0")
	if !strings.Contains(r.stderr, "wrote") {
		t.Errorf("stderr %q", r.stderr)
	}
	src, dst := show(t, in), show(t, out)
	if dst.FileType != "Q8_0" || dst.Metadata["general.file_type"] != 7.0 || dst.Metadata["general.quantization_version"] != 2.0 {
		t.Errorf("file_type %q, general.file_type %v, quantization_version %v", dst.FileType, dst.Metadata["general.file_type"], dst.Metadata["general.quantization_version"])
	}
	if len(dst.Tensors) != len(src.Tensors) {
		t.Fatalf("%d tensors, want %d", len(dst.Tensors), len(src.Tensors))
	}
	count := map[string]int{}
	for i, tn := range dst.Tensors {
		want := "Q8_0"
		switch {
		case len(tn.Shape) == 1:
			want = "F32"
		case tn.Shape[0]%32 != 0:
			want = "F16"
		}
		if tn.Name != src.Tensors[i].Name || tn.Type != want {
			t.Errorf("tensor %d %s %v: %s, want %s", i, tn.Name, tn.Shape, tn.Type, want)
		}
		count[tn.Type]++
	}
	if count["Q8_0"] != 32 || count["F32"] != 11 || count["F16"] != 5 {
		t.Errorf("types %v, want 32 Q8_0, 11 F32, 5 F16", count)
	}
	for k, v := range src.Metadata {
		if k == "general.file_type" || k == "general.quantization_version" {
			continue
		}
		if got, ok := dst.Metadata[k]; !ok || !equalJSON(got, v) {
			t.Errorf("metadata %s changed: %v -> %v", k, v, got)
		}
	}
	// Quantizing the quantized file to Q8_0 again changes nothing and
	// needs no requantization.
	again := filepath.Join(t.TempDir(), "q8q8.gguf")
	mustRun(t, "quantize", out, again, "Q8_0")
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("Q8_0 → Q8_0 is not the identity")
	}
}

func equalJSON(a, b any) bool {
	return strings.TrimSpace(jsonString(a)) == strings.TrimSpace(jsonString(b))
}
