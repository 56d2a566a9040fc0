//go:build unix

package gguf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/tensor"
)

// TestOpenLargeMapped opens a 1.5 GiB model whose data section is a hole
// (a sparse file: cheap on disk) and checks that Open neither reads nor
// copies the weights: it takes milliseconds and allocates almost nothing,
// and the tensor views point into a read-only mapping.
func TestOpenLargeMapped(t *testing.T) {
	const n, rows, cols = 6, 1024, 65536 // six 256 MiB F32 matrices
	specs := make([]TensorSpec, n)
	errStop := errors.New("header written")
	for i := range specs {
		specs[i] = TensorSpec{Name: "blk." + string(rune('0'+i)) + ".ffn_up.weight", Type: tensor.F32, Shape: []int64{cols, rows},
			Fill: func(io.Writer) error { return errStop }}
	}
	// Write streams: the header and its padding are out before the first
	// Fill is asked for data.
	var hdr bytes.Buffer
	if err := Write(&hdr, []KV{NewKV("general.architecture", "llama")}, specs); !errors.Is(err, errStop) {
		t.Fatalf("Write: %v", err)
	}
	path := filepath.Join(t.TempDir(), "large.gguf")
	if err := os.WriteFile(path, hdr.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const tensorBytes = int64(rows * cols * 4)
	size := int64(hdr.Len()) + n*tensorBytes
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int64(sys.Blocks)*512 > 64<<20 {
			t.Logf("file system did not make a sparse file (%d bytes on disk)", int64(sys.Blocks)*512)
		}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f, err := Open(path)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	alloc := after.TotalAlloc - before.TotalAlloc
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("Open of a %.2f GiB file: %v, %d bytes allocated, heap %+d bytes", float64(size)/(1<<30), elapsed, alloc, heap)
	if alloc > 1<<20 || heap > 4<<20 {
		t.Errorf("Open allocated %d bytes (heap %+d): the weights were copied", alloc, heap)
	}
	if elapsed > 500*time.Millisecond {
		t.Errorf("Open took %v for %d bytes of weights: it reads them", elapsed, n*tensorBytes)
	}
	if f.Size() != size || len(f.Tensors) != n {
		t.Fatalf("size %d, %d tensors", f.Size(), len(f.Tensors))
	}

	// Views reach the end of the file without copying.
	runtime.ReadMemStats(&before)
	last := &f.Tensors[n-1]
	data := f.TensorData(last)
	if int64(len(data)) != tensorBytes || f.DataOffset+int64(last.Offset)+last.Size != size {
		t.Fatalf("last tensor: %d bytes at %d", len(data), last.Offset)
	}
	if data[0] != 0 || data[len(data)-1] != 0 {
		t.Errorf("hole reads as %d, %d", data[0], data[len(data)-1])
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Errorf("TensorData allocated %d bytes", d)
	}

	// The mapping is read-only: a write faults instead of changing the file.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	faulted := func() (faulted bool) {
		defer func() { faulted = recover() != nil }()
		data[4096] = 1
		return false
	}()
	if !faulted {
		t.Error("writing to a tensor view did not fault: the mapping is writable")
	}
}
