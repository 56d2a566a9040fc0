package gguf

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// TestReleaser checks that a mapped file offers a releaser where the
// platform has one, that released tensor data reads back unchanged (odd
// offsets and lengths included, so partial pages are kept), and that a
// file parsed from memory offers none.
func TestReleaser(t *testing.T) {
	const cols, rows = 4099, 3 // F32 rows of an odd size: not page aligned
	data := make([]byte, cols*rows*4)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	specs := []TensorSpec{
		{Name: "a", Type: tensor.F32, Shape: []int64{cols, rows}, Fill: func(w io.Writer) error { _, err := w.Write(data); return err }},
	}
	var buf bytes.Buffer
	if err := Write(&buf, []KV{NewKV("general.architecture", "llama")}, specs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rel := f.Releaser()
	if (rel != nil) != (runtime.GOOS == "linux" || runtime.GOOS == "darwin") {
		t.Fatalf("Releaser on %s: %v", runtime.GOOS, rel != nil)
	}
	ti, _ := f.Tensor("a")
	td := f.TensorData(ti)
	if rel != nil {
		rel(td[1 : len(td)-3])
		rel(td)
		rel(td[:0])
	}
	if !bytes.Equal(td, data) {
		t.Fatal("tensor data changed after release")
	}
	mem, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if mem.Releaser() != nil {
		t.Fatal("a file parsed from memory offers a releaser")
	}
}
