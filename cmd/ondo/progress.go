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
		p.bar.Describe(p.desc + " " + detail)
		p.bar.Set64(done)
		return
	}
	if done < p.total && time.Since(p.last) < time.Second {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "%s %d/%d %s\n", p.desc, done, p.total, detail)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
