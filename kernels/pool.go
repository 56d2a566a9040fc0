package kernels

import (
	"runtime"
	"sync"
)

// Pool runs the kernels' work on several goroutines. It carries the thread
// count the model was configured with; today each parallel call starts its
// goroutines afresh, and a later version keeps persistent workers behind the
// same methods.
//
// A nil *Pool is valid and runs everything on the calling goroutine. A Pool
// may be used by several goroutines at once.
type Pool struct {
	threads int
}

// NewPool returns a pool of the given number of threads; threads <= 0 means
// one per CPU the Go scheduler may use (GOMAXPROCS).
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Pool{threads: threads}
}

// Threads returns the number of goroutines parallel calls use (1 for nil).
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// Close releases the pool's workers. It exists so callers manage a Pool's
// life now, before workers become persistent; today it does nothing.
func (p *Pool) Close() error { return nil }

// minWork is the least work (in multiply-adds) worth handing to another
// goroutine: starting and joining one costs about a microsecond.
const minWork = 1 << 15

// Parallel splits [0, n) into contiguous ranges and calls fn on each, on up
// to Threads goroutines, returning when all are done. cost is the work of one
// index in multiply-adds; small jobs stay on the calling goroutine.
func (p *Pool) Parallel(n, cost int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	parts := p.Threads()
	if cost < 1 {
		cost = 1
	}
	if byWork := n * cost / minWork; byWork < parts {
		parts = max(byWork, 1)
	}
	parts = min(parts, n)
	if parts == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	wg.Add(parts - 1)
	for i := 0; i < parts-1; i++ {
		lo, hi := i*n/parts, (i+1)*n/parts
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn((parts-1)*n/parts, n)
	wg.Wait()
}

// rowBuf holds per-worker float32 scratch rows, reused across calls.
var rowBuf = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(n int) *[]float32 {
	b := rowBuf.Get().(*[]float32)
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

func putBuf(b *[]float32) { rowBuf.Put(b) }
