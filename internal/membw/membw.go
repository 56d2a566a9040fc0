// Package membw measures the two memory figures a CPU inference benchmark
// needs: how fast the machine streams memory into its cores, which bounds
// token generation (each generated token reads every weight once), and the
// process's peak resident set.
//
// [Read] is a streaming-read test in the spirit of STREAM's "sum" kernel: a
// large buffer, much bigger than any cache, is split into one contiguous
// slice per goroutine and each goroutine adds up its uint64s in an unrolled
// loop with independent accumulators (AVX2 on amd64, as the inference kernels
// read, portable Go elsewhere). Nothing is written during the timed
// passes, so the figure is read bandwidth only, the kind a matrix-vector
// product over quantized weights consumes.
package membw

import (
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"
)

// Result is one bandwidth measurement.
type Result struct {
	Goroutines  int       `json:"goroutines"`
	BufferBytes int64     `json:"buffer_bytes"`
	Passes      int       `json:"passes"`
	PassGBps    []float64 `json:"pass_gb_per_s"` // every pass, in order
	// GBps is the best pass, in 10⁹ bytes per second: the bandwidth the
	// machine can deliver, less the noise of other processes.
	GBps float64 `json:"gb_per_s"`
	// MedianGBps is the median pass.
	MedianGBps float64 `json:"median_gb_per_s"`
}

// Buffer is memory to read, allocated and touched once so that several
// measurements share it and page faults stay out of the timings.
type Buffer struct {
	words []uint64
}

// NewBuffer allocates size bytes (rounded down to a multiple of 64) and
// writes every page.
func NewBuffer(size int64) (*Buffer, error) {
	if size < 64 {
		return nil, fmt.Errorf("membw: buffer of %d bytes, want at least 64", size)
	}
	n := size / 8 &^ 7
	if int64(int(n)) != n {
		return nil, fmt.Errorf("membw: buffer of %d bytes is too large for this platform", size)
	}
	w := make([]uint64, n)
	for i := range w {
		w[i] = uint64(i)
	}
	return &Buffer{words: w}, nil
}

// Bytes returns the buffer's size.
func (b *Buffer) Bytes() int64 { return int64(len(b.words)) * 8 }

// Read measures b's streaming-read bandwidth with the given number of
// goroutines (each locked to an OS thread), over passes passes of the whole
// buffer.
func (b *Buffer) Read(goroutines, passes int) (Result, error) {
	if goroutines < 1 || passes < 1 {
		return Result{}, errors.New("membw: need at least one goroutine and one pass")
	}
	if len(b.words)/8 < goroutines {
		return Result{}, fmt.Errorf("membw: buffer of %d bytes is too small for %d goroutines", b.Bytes(), goroutines)
	}
	// Each goroutine gets a contiguous chunk, a multiple of 8 words.
	chunks := make([][]uint64, goroutines)
	per := len(b.words) / 8 / goroutines * 8
	for g := range chunks {
		lo, hi := g*per, (g+1)*per
		if g == goroutines-1 {
			hi = len(b.words)
		}
		chunks[g] = b.words[lo:hi]
	}
	var (
		start, done sync.WaitGroup
		sums        = make([]uint64, goroutines*8) // one cache line apart
	)
	res := Result{Goroutines: goroutines, BufferBytes: b.Bytes(), Passes: passes}
	// Persistent workers: each pass hands every worker a gate, opens it
	// once all hold it, and ends when the last worker has read its chunk.
	work := make([]chan chan struct{}, goroutines)
	for g := range work {
		work[g] = make(chan chan struct{})
		start.Add(1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start.Done()
			for gate := range work[g] {
				<-gate
				sums[g*8] += sum(chunks[g])
				done.Done()
			}
		}()
	}
	start.Wait()
	defer func() {
		for _, w := range work {
			close(w)
		}
	}()
	for range passes {
		done.Add(goroutines)
		gate := make(chan struct{})
		for _, w := range work {
			w <- gate
		}
		t := time.Now()
		close(gate)
		done.Wait()
		el := time.Since(t)
		res.PassGBps = append(res.PassGBps, float64(b.Bytes())/el.Seconds()/1e9)
	}
	sorted := append([]float64(nil), res.PassGBps...)
	sort.Float64s(sorted)
	res.GBps = sorted[len(sorted)-1]
	res.MedianGBps = median(sorted)
	var keep uint64
	for _, s := range sums {
		keep += s
	}
	sink = keep
	return res, nil
}

// sink keeps the sums alive so the reads cannot be optimised away.
var sink uint64

// Read allocates a buffer of size bytes and measures it with goroutines
// goroutines over passes passes; see [Buffer.Read].
func Read(size int64, goroutines, passes int) (Result, error) {
	b, err := NewBuffer(size)
	if err != nil {
		return Result{}, err
	}
	return b.Read(goroutines, passes)
}

// Sum adds up w's elements, eight independent accumulators at a time, so
// that the loop is bound by loads rather than by the adds' latency. len(w)
// must be a multiple of 8; the rest is ignored.
func Sum(w []uint64) uint64 {
	var s0, s1, s2, s3, s4, s5, s6, s7 uint64
	n := len(w) &^ 7
	for i := 0; i < n; i += 8 {
		v := (*[8]uint64)(w[i : i+8])
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
