// Package imatrix reads importance matrices, the per-column weights that
// steer llama.cpp's low-bit quantizers, in both forms llama.cpp writes:
//
//   - GGUF, what llama-imatrix writes today: metadata imatrix.datasets,
//     imatrix.chunk_count and imatrix.chunk_size, and for each weight NAME
//     two F32 tensors, NAME.in_sum2 (per-column sums of squared activations,
//     one row per expert) and NAME.counts (the number of activations each
//     expert's row summed);
//   - the legacy binary .dat form: an int32 entry count, then per entry an
//     int32 name length, the name, an int32 call count ncall, an int32 value
//     count and the values (means scaled by ncall), then optionally an int32
//     chunk count and an int32-length dataset name.
//
// Load and Parse turn either into the weights llama-quantize passes to the
// quantizers: the GGUF sums divided by their expert's count (1 for an expert
// that saw no activations), the legacy values divided by ncall.
package imatrix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tensor"
)

// Matrix is an importance matrix: for each weight tensor, the weights of
// its columns, one run of ne0 values per expert for stacked experts.
type Matrix struct {
	// Entries maps a tensor name (as in the model, "blk.0.attn_q.weight")
	// to its weights. Every value is finite and not negative.
	Entries map[string][]float32
	// Datasets names the text the matrix was computed on, when recorded.
	Datasets []string
	// Chunks is the number of chunks the matrix was computed on (0 when
	// not recorded).
	Chunks int
	// Legacy is true for the .dat form.
	Legacy bool
	// Path is the file the matrix was loaded from, as given to Load.
	Path string
}

// Load reads an importance matrix file in either form.
func Load(path string) (*Matrix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// Parse reads an importance matrix held in memory: GGUF when it starts
// with GGUF's magic, the legacy form otherwise.
func Parse(data []byte) (*Matrix, error) {
	if bytes.HasPrefix(data, []byte("GGUF")) {
		return parseGGUF(data)
	}
	return parseLegacy(data)
}

// Lookup returns the weights for a tensor of cols columns and the given
// number of stacked matrices (experts; 1 for a plain 2-D weight). ok is
// false when the matrix has no entry for name; an entry of the wrong size is
// an error, as in llama.cpp.
func (m *Matrix) Lookup(name string, cols, experts int64) (w []float32, ok bool, err error) {
	w, ok = m.Entries[name]
	if !ok {
		return nil, false, nil
	}
	if int64(len(w)) != cols*experts {
		return nil, true, fmt.Errorf("imatrix: size %d is different from tensor size %d for %s", len(w), cols*experts, name)
	}
	return w, true, nil
}

func parseGGUF(data []byte) (*Matrix, error) {
	f, err := gguf.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if len(f.Tensors) == 0 {
		return nil, fmt.Errorf("imatrix: no data in the GGUF file (no tensors)")
	}
	for _, key := range []string{"imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"} {
		if !f.Has(key) {
			return nil, fmt.Errorf("imatrix: missing imatrix metadata: no %s key (is this an importance matrix?)", key)
		}
	}
	m := &Matrix{Entries: map[string][]float32{}}
	if ds, err := f.Strings("imatrix.datasets"); err == nil {
		m.Datasets = ds
	}
	chunks, err := f.Int("imatrix.chunk_count")
	if err != nil || chunks < 0 || chunks > math.MaxInt32 {
		return nil, fmt.Errorf("imatrix: imatrix.chunk_count is not a count: %v", err)
	}
	m.Chunks = int(chunks)

	type pair struct{ sums, counts *gguf.TensorInfo }
	pairs := map[string]*pair{}
	var names []string
	for i := range f.Tensors {
		t := &f.Tensors[i]
		var name string
		var sums bool
		switch {
		case strings.HasSuffix(t.Name, ".in_sum2"):
			name, sums = strings.TrimSuffix(t.Name, ".in_sum2"), true
		case strings.HasSuffix(t.Name, ".counts"):
			name = strings.TrimSuffix(t.Name, ".counts")
		default:
			continue
		}
		if name == "" {
			continue
		}
		p := pairs[name]
		if p == nil {
			p = &pair{}
			pairs[name] = p
			names = append(names, name)
		}
		if sums {
			p.sums = t
		} else {
			p.counts = t
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("imatrix: no NAME.in_sum2 or NAME.counts tensors in the GGUF file")
	}
	slices.Sort(names)
	for _, name := range names {
		p := pairs[name]
		if p.sums == nil || p.counts == nil {
			return nil, fmt.Errorf("imatrix: mismatched sums and counts for %s: one of %s.in_sum2 and %s.counts is missing", name, name, name)
		}
		if p.sums.Type != tensor.F32 || p.counts.Type != tensor.F32 {
			return nil, fmt.Errorf("imatrix: sums and counts for %s must be F32, not %s and %s", name, p.sums.Type, p.counts.Type)
		}
		sums := floats(f.TensorData(p.sums))
		counts := floats(f.TensorData(p.counts))
		if len(counts) == 0 {
			return nil, fmt.Errorf("imatrix: %s.counts is empty", name)
		}
		if len(sums) == 0 || len(sums)%len(counts) != 0 {
			return nil, fmt.Errorf("imatrix: %s.in_sum2 has %d values, not a positive multiple of its %d counts", name, len(sums), len(counts))
		}
		per := len(sums) / len(counts)
		w := make([]float32, len(sums))
		for j, c := range counts {
			if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) || math.Abs(float64(c)) >= 1<<62 {
				return nil, fmt.Errorf("imatrix: %s.counts[%d] is %v, not a count", name, j, c)
			}
			// llama.cpp rounds the stored count to an integer, then
			// divides by it as a float.
			n := float32(math.Round(float64(c)))
			for i := j * per; i < (j+1)*per; i++ {
				if n > 0 {
					w[i] = sums[i] / n
				} else {
					w[i] = 1
				}
			}
		}
		if err := check(name, w); err != nil {
			return nil, fmt.Errorf("imatrix: %w", err)
		}
		m.Entries[name] = w
	}
	return m, nil
}

func floats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// check refuses weights llama.cpp would refuse (not finite) and those no
// importance matrix can hold (negative: they are sums of squares).
func check(name string, w []float32) error {
	for i, v := range w {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("contains non-finite value %v (%s, column %d)", v, name, i)
		}
		if v < 0 {
			return fmt.Errorf("contains negative value %v (%s, column %d); importance is a sum of squares", v, name, i)
		}
	}
	return nil
}

// legacyReader reads the .dat form, naming what it was reading when the
// data ends early.
type legacyReader struct {
	b   []byte
	off int
}

func (r *legacyReader) int32(what string) (int32, error) {
	if len(r.b)-r.off < 4 {
		return 0, fmt.Errorf("truncated: %s at byte %d needs 4 bytes, %d left", what, r.off, len(r.b)-r.off)
	}
	v := int32(binary.LittleEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v, nil
}

func (r *legacyReader) bytes(n int, what string) ([]byte, error) {
	if n < 0 || len(r.b)-r.off < n {
		return nil, fmt.Errorf("truncated: %s at byte %d needs %d bytes, %d left", what, r.off, n, len(r.b)-r.off)
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

// cString is a name as llama.cpp reads it: up to the first NUL.
func cString(b []byte) string {
	if k := bytes.IndexByte(b, 0); k >= 0 {
		b = b[:k]
	}
	return string(b)
}

func parseLegacy(data []byte) (*Matrix, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("imatrix: empty file")
	}
	m, whole, err := readLegacy(data)
	if err == nil {
		return m, nil
	}
	if !whole {
		// Not even one entry made sense: most likely not an importance
		// matrix at all.
		return nil, fmt.Errorf("imatrix: not an importance matrix: no GGUF magic, and not the legacy .dat form either: %w", err)
	}
	return nil, fmt.Errorf("imatrix: legacy .dat file: %w", err)
}

// readLegacy reads the .dat form; whole reports whether the first entry's
// name and counts were read, so that the data looked like the form.
func readLegacy(data []byte) (m *Matrix, whole bool, err error) {
	r := &legacyReader{b: data}
	n, err := r.int32("the entry count")
	if err != nil {
		return nil, false, err
	}
	if n < 1 {
		return nil, false, fmt.Errorf("the entry count is %d", n)
	}
	m = &Matrix{Entries: map[string][]float32{}, Legacy: true}
	for i := 0; i < int(n); i++ {
		entry := fmt.Sprintf("entry %d of %d", i+1, n)
		ln, err := r.int32(entry + ": name length")
		if err != nil {
			return nil, whole, err
		}
		if ln < 0 {
			return nil, whole, fmt.Errorf("%s: negative name length %d", entry, ln)
		}
		nb, err := r.bytes(int(ln), entry+": name")
		if err != nil {
			return nil, whole, err
		}
		name := cString(nb)
		entry += " (" + name + ")"
		ncall, err := r.int32(entry + ": call count")
		if err != nil {
			return nil, whole, err
		}
		nval, err := r.int32(entry + ": value count")
		if err != nil {
			return nil, whole, err
		}
		if nval < 1 {
			return nil, whole, fmt.Errorf("%s: value count %d, want at least 1", entry, nval)
		}
		whole = true
		vb, err := r.bytes(4*int(nval), fmt.Sprintf("%s: %d values", entry, nval))
		if err != nil {
			return nil, whole, err
		}
		w := floats(vb)
		if ncall > 0 {
			for j := range w {
				w[j] /= float32(ncall)
			}
		}
		if err := check(name, w); err != nil {
			return nil, whole, err
		}
		m.Entries[name] = w
	}
	// The trailer (chunk count, then the dataset's name) is optional.
	if r.off < len(data) {
		chunks, err := r.int32("the chunk count after the entries")
		if err != nil {
			return nil, whole, err
		}
		m.Chunks = max(0, int(chunks))
		if r.off < len(data) {
			ln, err := r.int32("the dataset name's length")
			if err != nil {
				return nil, whole, err
			}
			if ln > 0 {
				nb, err := r.bytes(int(ln), "the dataset name")
				if err != nil {
					return nil, whole, err
				}
				m.Datasets = []string{cString(nb)}
			}
		}
	}
	return m, whole, nil
}
