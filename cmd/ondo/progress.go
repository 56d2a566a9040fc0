package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports the advance of a long job: a bar on a terminal, plain
// lines (at most one a second, plus the last) when output is redirected.
type progress struct {
	bar   *progressbar.ProgressBar
	w     io.Writer
	desc  string
	total int64
	last  time.Time

	// Byte progress (newByteProgress) shows sizes, speed and time left.
	bytes     bool
	start     time.Time // first set
	startDone int64     // done at start: a resumed download's head start
	printed   bool
	lastDone  int64
}

// newByteProgress is newProgress for a transfer of total bytes: the bar
// shows sizes, speed and time left, and so do the plain lines, e.g.
//
//	pulling 00fd62564b65 640.00 KiB/1.27 MiB 50% 12.50 MiB/s ETA 1s
func newByteProgress(desc string, total int64) *progress {
	p := &progress{w: os.Stderr, desc: desc, total: total, bytes: true}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	return p
}

func newProgress(desc string, total int64) *progress {
	p := &progress{w: os.Stderr, desc: desc, total: total}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

// set moves the progress to done and shows what is being worked on.
func (p *progress) set(done int64, detail string) {
	if p.bar != nil {
		if p.bar.IsFinished() {
			return // a finished bar would draw itself again
		}
		if detail != "" || !p.bytes {
			p.bar.Describe(p.desc + " " + detail)
		}
		p.bar.Set64(done)
		return
	}
	if done < p.total && time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	if p.bytes {
		p.byteLine(done)
		return
	}
	fmt.Fprintf(p.w, "%s %d/%d %s\n", p.desc, done, p.total, detail)
}

// byteLine prints a plain line of byte progress, once for each amount.
func (p *progress) byteLine(done int64) {
	if p.start.IsZero() {
		p.start, p.startDone = time.Now(), done
	}
	if p.printed && done == p.lastDone {
		return
	}
	p.printed, p.lastDone = true, done
	pct := int64(100)
	if p.total > 0 {
		pct = done * 100 / p.total
	}
	line := fmt.Sprintf("%s %s/%s %d%%", p.desc, humanBytes(done), humanBytes(p.total), pct)
	if secs := time.Since(p.start).Seconds(); secs > 0 && done > p.startDone {
		rate := float64(done-p.startDone) / secs
		line += fmt.Sprintf(" %s/s", humanBytes(int64(rate)))
		if done < p.total {
			eta := time.Duration(float64(p.total-done) / rate * float64(time.Second))
			line += " ETA " + eta.Round(time.Second).String()
		}
	}
	fmt.Fprintln(p.w, line)
}

func (p *progress) finish() {
	if p.bar != nil && !p.bar.IsFinished() {
		p.bar.Finish()
	}
}

// stop ends the progress where it is, for a job that failed.
func (p *progress) stop() {
	if p.bar != nil && !p.bar.IsFinished() {
		p.bar.Exit()
	}
}
