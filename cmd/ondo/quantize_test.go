package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/quantize/imatrix"
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
	var srcNames, dstNames []string
	for _, tn := range src.Tensors {
		srcNames = append(srcNames, tn.Name)
	}
	for i, tn := range dst.Tensors {
		want := "Q8_0"
		switch {
		case len(tn.Shape) == 1:
			want = "F32"
		case tn.Shape[0]%32 != 0:
			want = "F16"
		}
		if tn.Type != want {
			t.Errorf("tensor %d %s %v: %s, want %s", i, tn.Name, tn.Shape, tn.Type, want)
		}
		count[tn.Type]++
		dstNames = append(dstNames, tn.Name)
	}
	// The tensors come in llama.cpp's order: those outside the blocks,
	// then block by block, by name within each.
	var want []string
	for _, i := range quantize.Order(srcNames) {
		want = append(want, srcNames[i])
	}
	if !slices.Equal(dstNames, want) || dstNames[0] != "output.weight" || dstNames[len(dstNames)-1] != "blk.4.ffn_up.weight" {
		t.Errorf("tensor order %q, want llama.cpp's %q", dstNames, want)
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

// TestQuantizeImatrix: the low-bit presets need --imatrix, as in
// llama.cpp, and take both forms of the file.
func TestQuantizeImatrix(t *testing.T) {
	dir := t.TempDir()
	in := testdata.Path(t, "llamacpp-quant", "synth-llama-f32.gguf")
	out := filepath.Join(dir, "out.gguf")
	msg := checkFailure(t, runOndo(t, "quantize", in, out, "IQ2_XXS"), "IQ2_XXS without a matrix")
	for _, w := range []string{"IQ2_XXS requires an importance matrix", "this quantization requires an imatrix!", "--imatrix"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	bad := filepath.Join(dir, "bad.dat")
	os.WriteFile(bad, []byte("not a matrix"), 0o644)
	msg = checkFailure(t, runOndo(t, "quantize", "--imatrix", bad, in, out, "IQ2_XXS"), "bad matrix")
	if !strings.Contains(msg, "not an importance matrix") {
		t.Errorf("bad matrix: %q", msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output created: %v", err)
	}
	// A flat matrix in both forms gives the same tensors.
	f, err := gguf.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]imatrix.Stats{}
	for _, ti := range f.Tensors {
		if len(ti.Shape) == 2 && strings.HasPrefix(ti.Name, "blk.") {
			stats[ti.Name] = imatrix.Stats{Sums: slices.Repeat([]float32{512}, int(ti.Shape[0])), Counts: []int64{512}}
		}
	}
	f.Close()
	var files []string
	for _, form := range []string{"gguf", "dat"} {
		var b bytes.Buffer
		if form == "gguf" {
			err = imatrix.WriteGGUF(&b, stats, []string{"x.txt"}, 1, 512)
		} else {
			err = imatrix.WriteDat(&b, stats, "x.txt", 1, 512)
		}
		if err != nil {
			t.Fatal(err)
		}
		m := filepath.Join(dir, "m."+form)
		os.WriteFile(m, b.Bytes(), 0o644)
		o := filepath.Join(dir, form+".gguf")
		r := mustRun(t, "quantize", "--imatrix", m, in, o, "IQ2_XXS")
		if !strings.Contains(r.stderr, "importance matrix "+m+": 14 entries") {
			t.Errorf("stderr %q", r.stderr)
		}
		if md := show(t, o).Metadata; md["quantize.imatrix.file"] != m || md["quantize.imatrix.entries_count"] != 14.0 {
			t.Errorf("%s: imatrix metadata %v %v", form, md["quantize.imatrix.file"], md["quantize.imatrix.entries_count"])
		}
		files = append(files, o)
	}
	a, err := gguf.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(files[1])
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range a.Tensors {
		ta, tb := &a.Tensors[i], &b.Tensors[i]
		if ta.Name != tb.Name || ta.Type != tb.Type || !bytes.Equal(a.TensorData(ta), b.TensorData(tb)) {
			t.Errorf("the two forms gave different tensors: %s %s, %s %s", ta.Name, ta.Type, tb.Name, tb.Type)
		}
	}
	if ti, _ := a.Tensor("blk.0.attn_q.weight"); ti.Type.String() != "IQ2_XXS" {
		t.Errorf("blk.0.attn_q.weight is %s", ti.Type)
	}
}
