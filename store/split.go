package store

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ondo-ai/ondo/gguf"
)

// The metadata keys llama.cpp's gguf-split writes into every part.
const (
	keySplitNo      = "split.no"
	keySplitCount   = "split.count"
	keySplitTensors = "split.tensors.count"
)

// mergeSplit joins the parts of a split GGUF, in order, into one GGUF file
// in the blobs folder, since ondo's reader (package gguf) maps one file.
// The result has the first part's metadata without the split.* keys and
// every part's tensors, in order. It returns the temporary file's path, its
// sha256 and size; the caller moves it into place.
func (s *Store) mergeSplit(parts []string) (tmp, sum string, size int64, err error) {
	files := make([]*gguf.File, 0, len(parts))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var kvs []gguf.KV
	var specs []gguf.TensorSpec
	for i, p := range parts {
		f, err := gguf.Open(p)
		if err != nil {
			return "", "", 0, fmt.Errorf("part %d of %d: %w", i+1, len(parts), err)
		}
		files = append(files, f)
		if no, err := f.Int(keySplitNo); err == nil && no != int64(i) {
			return "", "", 0, fmt.Errorf("part %d of %d says it is part %d (%s)", i+1, len(parts), no+1, keySplitNo)
		}
		if n, err := f.Int(keySplitCount); err == nil && n != int64(len(parts)) {
			return "", "", 0, fmt.Errorf("part %d says the model has %d parts, the repository has %d", i+1, n, len(parts))
		}
		if i == 0 {
			for _, kv := range f.KV {
				if !strings.HasPrefix(kv.Key, "split.") {
					kvs = append(kvs, kv)
				}
			}
		}
		for j := range f.Tensors {
			t := &f.Tensors[j]
			data := f.TensorData(t)
			specs = append(specs, gguf.TensorSpec{
				Name:  t.Name,
				Type:  t.Type,
				Shape: t.Shape,
				Fill:  func(w io.Writer) error { _, err := w.Write(data); return err },
			})
		}
	}
	if n, err := files[0].Int(keySplitTensors); err == nil && n != int64(len(specs)) {
		return "", "", 0, fmt.Errorf("the parts hold %d tensors, the first says %d (%s)", len(specs), n, keySplitTensors)
	}
	out, err := createTemp(filepath.Join(s.dir, "blobs"), "merge")
	if err != nil {
		return "", "", 0, err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(out.Name())
		}
	}()
	h := sha256.New()
	cw := &counter{}
	bw := bufio.NewWriterSize(io.MultiWriter(writeHook(out), h, cw), 1<<20)
	if err = gguf.Write(bw, kvs, specs); err != nil {
		return "", "", 0, err
	}
	if err = bw.Flush(); err != nil {
		return "", "", 0, err
	}
	if err = out.Sync(); err != nil {
		return "", "", 0, err
	}
	if err = out.Close(); err != nil {
		return "", "", 0, err
	}
	return out.Name(), hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// counter counts the bytes written through it.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
