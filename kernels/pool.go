package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs the kernels' work on a fixed set of goroutines: the caller of a
// parallel operation plus Threads-1 persistent workers, started on first
// use. Between operations the workers spin for a while (a decode step
// issues a parallel operation every few hundred microseconds, and waking a
// sleeping thread costs tens of microseconds) and then park until the next
// one, so an idle model burns no CPU.
//
// Work is handed out in chunks that the participants claim as they go, so
// a thread that the operating system delays (another process on the
// machine, a garbage collection) holds up only the chunk it has claimed,
// never a fixed share. Which thread computes a chunk never changes its
// result: every kernel's output depends only on its inputs.
//
// A nil *Pool is valid and runs everything on the calling goroutine. A Pool
// may be used by several goroutines at once.
type Pool struct {
	threads int
	s       *poolState
	once    sync.Once
}

// poolState is what the workers share; it is separate from Pool so that a
// Pool nobody closed can be collected, which stops its workers.
type poolState struct {
	cur     atomic.Pointer[job]
	closed  atomic.Bool
	workers []*worker
}

type worker struct {
	parked atomic.Bool
	wake   chan struct{} // capacity 1: a token from the publisher
}

// job is one parallel operation; a new one is published per call, so a
// worker arriving late can only find it exhausted, never confuse it with
// the next.
type job struct {
	fn    func(lo, hi int)
	n     int
	chunk int
	next  atomic.Int64 // first index not yet claimed
	done  atomic.Int64 // indices completed
}

// spinFor is how long an idle worker polls for new work before parking.
const spinFor = 2 * time.Millisecond

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

// start launches the workers.
func (p *Pool) start() {
	s := &poolState{}
	for i := 0; i < p.threads-1; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		s.workers = append(s.workers, w)
		go s.run(w)
	}
	p.s = s
	runtime.AddCleanup(p, func(s *poolState) { s.close() }, s)
}

// Close stops the pool's workers. Parallel calls after Close run on the
// calling goroutine.
func (p *Pool) Close() error {
	if p != nil {
		p.once.Do(func() {}) // a pool never started stays stopped
		if p.s != nil {
			p.s.close()
		}
	}
	return nil
}

func (s *poolState) close() {
	if s.closed.Swap(true) {
		return
	}
	s.wakeAll()
}

// wakeAll hands a wake-up token to every parked worker.
func (s *poolState) wakeAll() {
	for _, w := range s.workers {
		if w.parked.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}

// run is a worker's loop: take part in each new job, spin while idle, park
// when idle too long.
func (s *poolState) run(w *worker) {
	var last *job
	idleSince := time.Now()
	for spins := 0; ; spins++ {
		if j := s.cur.Load(); j != last && j != nil {
			last = j
			j.work()
			idleSince, spins = time.Now(), 0
			continue
		}
		if s.closed.Load() {
			return
		}
		if spins%64 != 63 {
			runtime.Gosched()
			continue
		}
		if time.Since(idleSince) < spinFor {
			continue
		}
		// Park. The publisher stores the job before looking at parked, and
		// we set parked before looking at the job again, so one of us sees
		// the other: either we find the job, or it sends a token.
		w.parked.Store(true)
		if j := s.cur.Load(); j != last || s.closed.Load() {
			if w.parked.CompareAndSwap(true, false) {
				continue // cancelled our own park
			}
		}
		<-w.wake
		idleSince, spins = time.Now(), 0
	}
}

// work claims and runs chunks of j until none are left.
func (j *job) work() {
	for {
		lo := int(j.next.Add(int64(j.chunk))) - j.chunk
		if lo >= j.n {
			return
		}
		hi := min(lo+j.chunk, j.n)
		j.fn(lo, hi)
		j.done.Add(int64(hi - lo))
	}
}

// minWork is the least work (in multiply-adds) worth handing to another
// thread: publishing a job and joining costs about a microsecond.
const minWork = 1 << 15

// Parallel calls fn on disjoint contiguous ranges that together cover
// [0, n), on up to Threads goroutines, and returns when all are done. cost
// is the work of one index in multiply-adds; small jobs stay on the
// calling goroutine. fn may be called several times per goroutine.
func (p *Pool) Parallel(n, cost int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	threads := p.Threads()
	if cost < 1 {
		cost = 1
	}
	if threads == 1 || n == 1 || n*cost < 2*minWork {
		fn(0, n)
		return
	}
	p.once.Do(p.start)
	s := p.s
	if s == nil || s.closed.Load() {
		fn(0, n)
		return
	}
	// Chunks: about eight per thread, for balance, but none smaller than
	// minWork, so that claiming stays cheap relative to the work.
	chunk := max(n/(8*threads), (minWork+cost-1)/cost, 1)
	j := &job{fn: fn, n: n, chunk: chunk}
	s.cur.Store(j)
	s.wakeAll()
	j.work()
	for spins := 0; j.done.Load() < int64(n); spins++ {
		if spins > 16 {
			runtime.Gosched()
		}
	}
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
