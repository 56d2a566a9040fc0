package imatrix

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tensor"
)

// Stats is what llama-imatrix collects for one weight tensor: per-column
// sums of squared activations, one run of len(Sums)/len(Counts) columns per
// expert, and how many activations each expert's run summed.
type Stats struct {
	Sums   []float32
	Counts []int64
}

func (s Stats) valid(name string) error {
	if len(s.Counts) == 0 || len(s.Sums) == 0 || len(s.Sums)%len(s.Counts) != 0 {
		return fmt.Errorf("imatrix: %s: %d sums are not a positive multiple of %d counts", name, len(s.Sums), len(s.Counts))
	}
	return nil
}

func sortedNames(stats map[string]Stats) []string {
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// WriteGGUF writes stats in the GGUF form llama-imatrix writes: raw sums
// and counts, entries in name order, with the datasets, the number of
// chunks and the chunk size (tokens per chunk) as metadata.
func WriteGGUF(w io.Writer, stats map[string]Stats, datasets []string, chunks, chunkSize int) error {
	kvs := []gguf.KV{
		gguf.NewKV("general.type", "imatrix"),
		gguf.NewKV("imatrix.datasets", append([]string{}, datasets...)),
		gguf.NewKV("imatrix.chunk_count", uint32(chunks)),
		gguf.NewKV("imatrix.chunk_size", uint32(chunkSize)),
	}
	var specs []gguf.TensorSpec
	for _, name := range sortedNames(stats) {
		s := stats[name]
		if err := s.valid(name); err != nil {
			return err
		}
		nmat := int64(len(s.Counts))
		counts := make([]float32, nmat)
		for i, c := range s.Counts {
			counts[i] = float32(c)
		}
		specs = append(specs,
			gguf.TensorSpec{Name: name + ".in_sum2", Type: tensor.F32, Shape: []int64{int64(len(s.Sums)) / nmat, nmat}, Data: f32bytes(s.Sums)},
			gguf.TensorSpec{Name: name + ".counts", Type: tensor.F32, Shape: []int64{1, nmat}, Data: f32bytes(counts)})
	}
	return gguf.Write(w, kvs, specs)
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// WriteDat writes stats in the legacy .dat form as llama-imatrix does:
// entries with no activations at all are left out; each entry's call count
// is its largest count over chunkSize, rounded up, and each value is its
// sum over its expert's count (1 for an expert with none) times that call
// count; the chunk count and the dataset's name close the file.
func WriteDat(w io.Writer, stats map[string]Stats, dataset string, chunks, chunkSize int) error {
	if chunkSize <= 0 {
		return fmt.Errorf("imatrix: chunk size %d, want a positive number of tokens", chunkSize)
	}
	bw := bufio.NewWriter(w)
	put := func(v int32) { binary.Write(bw, binary.LittleEndian, v) }
	var names []string
	for _, name := range sortedNames(stats) {
		s := stats[name]
		if err := s.valid(name); err != nil {
			return err
		}
		if slices.Max(s.Counts) > 0 {
			names = append(names, name)
		}
	}
	put(int32(len(names)))
	for _, name := range names {
		s := stats[name]
		put(int32(len(name)))
		bw.WriteString(name)
		ncall := int32((slices.Max(s.Counts) + int64(chunkSize) - 1) / int64(chunkSize))
		put(ncall)
		put(int32(len(s.Sums)))
		per := len(s.Sums) / len(s.Counts)
		for i, v := range s.Sums {
			c := float32(s.Counts[i/per])
			if c == 0 {
				v, c = 1, 1
			}
			binary.Write(bw, binary.LittleEndian, v/c*float32(ncall))
		}
	}
	put(int32(chunks))
	put(int32(len(dataset)))
	bw.WriteString(dataset)
	return bw.Flush()
}
