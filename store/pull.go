package store

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PullOptions configures Pull.
type PullOptions struct {
	// Endpoint is the Hub's base URL; empty means DefaultEndpoint. The
	// command line takes it from HF_ENDPOINT.
	Endpoint string
	// Token, when set, is sent as "Authorization: Bearer TOKEN", which
	// gated and private repositories need. The command line takes it
	// from HF_TOKEN.
	Token string
	// Progress, when set, is called with each step of the pull, from the
	// calling goroutine.
	Progress func(PullProgress)
	// Client makes the requests; nil means a client with no overall
	// timeout (a stalled transfer is cut after a minute without data).
	Client *http.Client
}

// PullProgress is one step of a pull, shaped like a line of Ollama's
// /api/pull stream: "pulling manifest"; then for each file, "pulling
// <12 hex digits>" with Digest ("sha256:<hex>"), Total and Completed bytes;
// "verifying sha256 digest"; "writing manifest"; "success".
type PullProgress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// Tunables of downloads, variables so that tests can shorten them.
var (
	// maxFailures is how many failed attempts in a row, without a byte
	// of progress, end a download.
	maxFailures = 5
	// retryDelay is the wait after the first failure; it doubles after
	// each further one.
	retryDelay = time.Second
	// stallTimeout cuts a transfer that has received nothing this long.
	stallTimeout = time.Minute
	// progressEvery is the least time between two progress reports of a
	// file.
	progressEvery = 100 * time.Millisecond
)

// Pull downloads the model ref from the Hugging Face Hub into the store and
// returns its manifest. ref is hf.co/OWNER/REPO[:QUANT] or OWNER/REPO[:QUANT]
// (see ParseName); without a QUANT, the repository's only GGUF is taken, or
// its DefaultQuant one when it has several. Projector files (mmproj) are
// never chosen. The parts of a split GGUF are all downloaded and merged
// into one file.
//
// Each file is downloaded to blobs/sha256-<hex>-partial with HTTP range
// requests, so that a pull interrupted by a cut connection resumes where it
// stopped, within the call (up to five failures in a row) and in a later
// call; its sha256 is checked against the one the Hub publishes (the LFS
// oid, or the git blob id of a small file) before the model is made
// visible. A corrupt download is deleted; a pull that fails for any reason
// leaves no model behind, and an existing model of that name unchanged.
func (s *Store) Pull(ctx context.Context, ref string, opts PullOptions) (*Manifest, error) {
	n, err := ParseName(ref)
	if err != nil {
		return nil, err
	}
	if !n.Hub() {
		return nil, fmt.Errorf("store: pull %q: not a Hugging Face name; use hf.co/OWNER/REPO[:QUANT] or OWNER/REPO[:QUANT]", ref)
	}
	endpoint := strings.TrimRight(opts.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("store: pull %q: bad Hub endpoint %q: want http(s)://HOST", ref, opts.Endpoint)
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	p := &puller{
		s:        s,
		name:     n,
		progress: opts.Progress,
		hub:      &hub{endpoint: endpoint, repo: n.Repo(), revision: "main", token: opts.Token, client: client},
	}
	m, err := p.pull(ctx)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return m, nil
}

// puller is one pull in progress.
type puller struct {
	s        *Store
	name     Name
	hub      *hub
	progress func(PullProgress)
}

func (p *puller) report(pp PullProgress) {
	if p.progress != nil {
		p.progress(pp)
	}
}

func (p *puller) status(s string) { p.report(PullProgress{Status: s}) }

// fetched is a file of the model, downloaded or found in the store.
type fetched struct {
	file    hubFile
	partial string    // the downloaded file; "" when the blob was there
	fh      *os.File  // partial, open and locked
	sum     string    // its sha256, hex
	gitSum  string    // its git blob id, for files not in LFS
	reuse   *Manifest // the model, made by another pull meanwhile
}

func (p *puller) pull(ctx context.Context) (*Manifest, error) {
	p.status("pulling manifest")
	files, err := p.hub.list(ctx)
	if err != nil {
		return nil, err
	}
	set, err := selectGGUF(p.name, groupGGUF(files))
	if err != nil {
		return nil, err
	}
	if m := p.existing(set); m != nil {
		return p.reuse(ctx, set, m)
	}

	got := make([]*fetched, 0, len(set.parts))
	defer func() {
		for _, g := range got {
			if g.fh != nil {
				g.fh.Close()
			}
		}
	}()
	for i, f := range set.parts {
		if i > 0 {
			// Another pull may have finished the model meanwhile
			// and dropped the parts.
			if m := p.existing(set); m != nil {
				return p.reuse(ctx, set, m)
			}
		}
		g, err := p.fetch(ctx, f, set)
		if err != nil {
			return nil, err
		}
		if g.reuse != nil {
			return p.reuse(ctx, set, g.reuse)
		}
		got = append(got, g)
	}

	p.status("verifying sha256 digest")
	for _, g := range got {
		if err := p.verify(g); err != nil {
			return nil, err
		}
	}

	m := &Manifest{
		Quant: set.quant,
		Source: Source{
			Type:     SourceHub,
			Endpoint: p.hub.endpoint,
			Repo:     p.hub.repo,
			Revision: p.hub.revision,
			File:     set.parts[0].Path,
			URL:      p.hub.fileURL(set.parts[0].Path),
		},
	}
	paths := make([]string, len(got))
	for i, g := range got {
		m.Parts = append(m.Parts, Part{File: g.file.Path, URL: p.hub.fileURL(g.file.Path), Digest: "sha256:" + g.sum, Size: g.file.size()})
		paths[i] = g.partial
		if paths[i] == "" {
			paths[i] = p.s.blobFile(g.sum)
		}
	}
	var moves []move
	if len(got) == 1 {
		m.Digest, m.Size = "sha256:"+got[0].sum, got[0].file.size()
		if got[0].partial != "" {
			moves = append(moves, move{from: got[0].partial, sum: got[0].sum, f: got[0].fh})
		}
		if _, err := checkGGUF(paths[0]); err != nil {
			if got[0].partial != "" {
				got[0].fh.Close()
				os.Remove(got[0].partial) // no use keeping it
			}
			return nil, fmt.Errorf("%s is not a usable GGUF file: %w", got[0].file.Path, err)
		}
	} else {
		p.status(fmt.Sprintf("merging %d parts", len(got)))
		tmp, sum, size, err := p.s.mergeSplit(paths)
		if err != nil {
			return nil, fmt.Errorf("merging the parts of %s: %w", set.key, err)
		}
		defer os.Remove(tmp) // gone once moved into place
		if _, err := checkGGUF(tmp); err != nil {
			return nil, fmt.Errorf("merging the parts of %s: %w", set.key, err)
		}
		m.Digest, m.Size = "sha256:"+sum, size
		moves = append(moves, move{from: tmp, sum: sum})
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.status("writing manifest")
	if err := p.s.commit(ctx, p.name, m, moves); err != nil {
		return nil, err
	}
	if len(got) > 1 {
		// The parts live on in the merged file only.
		for _, g := range got {
			if g.partial != "" {
				g.fh.Close()
				os.Remove(g.partial)
			}
		}
	}
	p.status("success")
	return m, nil
}

// existing returns a manifest of the store made from the same files (same
// paths and LFS digests) as set, with its blob in place: the model's own
// when it is up to date, or another name's. It returns nil when there is
// none, and always for files not in LFS, whose sha256 is not known before
// they are downloaded.
func (p *puller) existing(set *ggufSet) *Manifest {
	for _, f := range set.parts {
		if f.LFS == nil {
			return nil
		}
	}
	same := func(m *Manifest) bool {
		if len(m.Parts) != len(set.parts) {
			return false
		}
		for i, f := range set.parts {
			if m.Parts[i].Digest != "sha256:"+strings.ToLower(f.LFS.Oid) || m.Parts[i].File != f.Path {
				return false
			}
		}
		st, err := os.Stat(p.s.blobFile(m.Hex()))
		return err == nil && st.Size() == m.Size
	}
	if m, err := p.s.readManifest(p.name, p.name.String()); err == nil && same(m) {
		return m
	}
	all, _ := p.s.List()
	for _, m := range all {
		if same(m) {
			return m
		}
	}
	return nil
}

// reuse finishes a pull whose model the store has already, as m: it
// reports the files as pulled and writes the manifest of the name pulled.
func (p *puller) reuse(ctx context.Context, set *ggufSet, m *Manifest) (*Manifest, error) {
	for _, f := range set.parts {
		d := "sha256:" + strings.ToLower(f.LFS.Oid)
		p.report(PullProgress{Status: "pulling " + d[7:19], Digest: d, Total: f.size(), Completed: f.size()})
	}
	p.status("verifying sha256 digest")
	p.status("writing manifest")
	c := *m
	c.Parts = append([]Part(nil), m.Parts...)
	if err := p.s.commit(ctx, p.name, &c, nil); err != nil {
		return nil, err
	}
	p.status("success")
	return &c, nil
}

// verify checks a downloaded file's digest against the one the Hub
// publishes; a file that does not match is deleted.
func (p *puller) verify(g *fetched) error {
	if g.partial == "" {
		return nil
	}
	want, got := "", ""
	if g.file.LFS != nil {
		want, got = strings.ToLower(g.file.LFS.Oid), g.sum
	} else {
		want, got = strings.ToLower(g.file.Oid), g.gitSum
	}
	if want == got {
		return nil
	}
	g.fh.Close()
	os.Remove(g.partial)
	return fmt.Errorf("%s is corrupt: its digest is %s, the Hub publishes %s; the download was deleted, pull again", g.file.Path, got, want)
}

// fetch gets one file of the model: from the store when its blob is there,
// else by downloading it, resuming a partial download.
func (p *puller) fetch(ctx context.Context, f hubFile, set *ggufSet) (*fetched, error) {
	total := f.size()
	if total < 0 {
		return nil, fmt.Errorf("%s: the Hub gives a negative size", f.Path)
	}
	var partial, digest string
	if f.LFS != nil {
		sum, err := parseDigest(f.LFS.Oid)
		if err != nil {
			return nil, fmt.Errorf("%s: the Hub gives a bad LFS oid %q", f.Path, f.LFS.Oid)
		}
		digest = "sha256:" + sum
		if p.haveBlob(sum, total) {
			p.report(PullProgress{Status: "pulling " + sum[:12], Digest: digest, Total: total, Completed: total})
			return &fetched{file: f, sum: sum}, nil
		}
		partial = filepath.Join(p.s.dir, "blobs", "sha256-"+sum+"-partial")
	} else {
		oid := strings.ToLower(f.Oid)
		if len(oid) != 40 || strings.Trim(oid, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("%s: the Hub gives a bad git oid %q", f.Path, f.Oid)
		}
		partial = filepath.Join(p.s.dir, "blobs", "sha1-"+oid+"-partial")
	}
	status := "pulling " + path12(f, digest)

	// The partial stays open, and so locked, until the model is
	// committed or the pull fails: another pull of the same file waits
	// for it, then finds the blob.
	fh, waited, err := p.lockPartial(ctx, partial, f.Path)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", f.Path, err)
	}
	keep := false
	defer func() {
		if !keep {
			fh.Close()
		}
	}()
	if f.LFS != nil && p.haveBlob(digest[7:], total) {
		// Another pull finished it while this one waited.
		fh.Close()
		os.Remove(partial)
		p.report(PullProgress{Status: status, Digest: digest, Total: total, Completed: total})
		return &fetched{file: f, sum: digest[7:]}, nil
	}
	if waited && len(set.parts) > 1 {
		// The pull waited for may have made the model and dropped
		// its parts.
		if m := p.existing(set); m != nil {
			if st, err := fh.Stat(); err == nil && st.Size() == 0 {
				fh.Close()
				os.Remove(partial) // made by this pull's open
			}
			return &fetched{file: f, reuse: m}, nil
		}
	}

	d := &download{fh: fh, total: total, gitOid: f.LFS == nil}
	d.reset()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", f.Path, err)
	}
	if st.Size() > total {
		if err := d.truncate(); err != nil {
			return nil, fmt.Errorf("downloading %s: %w", f.Path, err)
		}
	} else if st.Size() > 0 {
		// Resume: hash what is there already.
		n, err := io.Copy(d.hashes, io.NewSectionReader(fh, 0, st.Size()))
		if err != nil {
			return nil, fmt.Errorf("downloading %s: reading the partial download: %w", f.Path, err)
		}
		d.have = n
	}
	url := p.hub.fileURL(f.Path)
	var last time.Time
	show := func(force bool) {
		if force || time.Since(last) >= progressEvery {
			last = time.Now()
			p.report(PullProgress{Status: status, Digest: digest, Total: total, Completed: d.have})
		}
	}
	show(true)
	failures := 0
	for d.have < total || d.fresh() {
		before := d.have
		err := p.attempt(ctx, d, f, url, show)
		if err == nil {
			if d.have == total {
				break
			}
			err = errRetry{io.ErrUnexpectedEOF}
		}
		var r errRetry
		if !errors.As(err, &r) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("downloading %s: %w", f.Path, ctx.Err())
			}
			return nil, fmt.Errorf("downloading %s: %w", f.Path, err)
		}
		if d.have > before {
			failures = 0
		} else {
			failures++
		}
		if failures >= maxFailures {
			return nil, fmt.Errorf("downloading %s: %w (gave up after %d attempts; pull again to resume at byte %d)", f.Path, r.error, failures, d.have)
		}
		if failures == 0 {
			continue // it was moving: resume at once
		}
		t := time.NewTimer(retryDelay << (failures - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("downloading %s: %w", f.Path, ctx.Err())
		case <-t.C:
		}
	}
	show(true)
	if err := fh.Sync(); err != nil {
		return nil, fmt.Errorf("downloading %s: %w", f.Path, err)
	}
	keep = true
	return &fetched{file: f, partial: partial, fh: fh, sum: hex.EncodeToString(d.h256.Sum(nil)), gitSum: d.gitSum()}, nil
}

// lockPartial opens the partial download at path, creating it, and locks
// it, waiting for any other pull that holds it. When the pull it waited for
// has moved or deleted the file meanwhile, it starts over with the file now
// at path.
func (p *puller) lockPartial(ctx context.Context, path, file string) (fh *os.File, waited bool, err error) {
	told := false
	for try := 0; ; try++ {
		fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return nil, told, err
		}
		err = waitLock(ctx, fh, func() {
			if !told {
				told = true
				p.status("waiting for another pull of " + file)
			}
		})
		if err != nil {
			fh.Close()
			return nil, told, err
		}
		a, err1 := fh.Stat()
		b, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(a, b) || try == 100 {
			return fh, told, nil
		}
		fh.Close()
	}
}

// haveBlob reports whether the blob with sha256 sum is in the store with
// the given size.
func (p *puller) haveBlob(sum string, size int64) bool {
	st, err := os.Stat(p.s.blobFile(sum))
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// path12 is what the progress calls a file: the first 12 hex digits of its
// sha256 as Ollama does, or its path when the Hub gives none.
func path12(f hubFile, digest string) string {
	if digest != "" {
		return digest[7:19]
	}
	return f.Path
}

// errRetry marks a failure that trying again may cure: a network error, a
// cut transfer, a 5xx answer.
type errRetry struct{ error }

func (e errRetry) Unwrap() error { return e.error }

// download is the state of one file's download: the partial file, how much
// of it is there and the hashes of that much.
type download struct {
	fh     *os.File
	total  int64
	have   int64
	gitOid bool
	h256   hash.Hash
	hgit   hash.Hash
	hashes io.Writer
	empty  bool // a file of 0 bytes, not fetched yet
}

// reset starts the hashes over.
func (d *download) reset() {
	d.h256 = sha256.New()
	d.hashes = d.h256
	if d.gitOid {
		d.hgit = sha1.New()
		fmt.Fprintf(d.hgit, "blob %d\x00", d.total)
		d.hashes = io.MultiWriter(d.h256, d.hgit)
	}
	d.empty = d.total == 0
}

// fresh reports whether an empty file still has to be asked for, so that
// its existence and access rights are checked like any other's.
func (d *download) fresh() bool { return d.empty }

// truncate throws away what was downloaded.
func (d *download) truncate() error {
	if err := d.fh.Truncate(0); err != nil {
		return err
	}
	d.have = 0
	d.reset()
	return nil
}

func (d *download) gitSum() string {
	if d.hgit == nil {
		return ""
	}
	return hex.EncodeToString(d.hgit.Sum(nil))
}

// attempt makes one request for the rest of the file and appends what
// arrives. A failure worth retrying is an errRetry.
func (p *puller) attempt(ctx context.Context, d *download, f hubFile, url string, show func(bool)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errStalled := fmt.Errorf("no data for %v", stallTimeout)
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()

	req, err := p.hub.request(ctx, url)
	if err != nil {
		return err
	}
	if d.have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(d.have, 10)+"-")
	}
	resp, err := p.hub.client.Do(req)
	if err != nil {
		if c := context.Cause(ctx); c == errStalled {
			return errRetry{c}
		}
		return errRetry{err}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, ok := rangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != d.have {
			// Not the range asked for: start over.
			if err := d.truncate(); err != nil {
				return err
			}
			return errRetry{fmt.Errorf("the server sent the range %q for bytes=%d-", resp.Header.Get("Content-Range"), d.have)}
		}
	case http.StatusOK:
		if d.have > 0 {
			// The server ignores ranges: start over.
			if err := d.truncate(); err != nil {
				return err
			}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if err := d.truncate(); err != nil {
			return err
		}
		return errRetry{fmt.Errorf("the server refused the range bytes=%d-", d.have)}
	default:
		err := p.hub.error(resp, f.Path)
		if he, ok := err.(*HubError); ok && he.retryable() {
			return errRetry{err}
		}
		return err
	}
	d.empty = false

	buf := make([]byte, 256<<10)
	w := writeHook(io.NewOffsetWriter(d.fh, d.have))
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(stallTimeout)
			if d.have+int64(n) > d.total {
				d.truncate()
				return fmt.Errorf("the server sent more than the %d bytes the Hub lists; the download was deleted", d.total)
			}
			wn, werr := w.Write(buf[:n])
			d.hashes.Write(buf[:wn])
			d.have += int64(wn)
			if werr != nil {
				return fmt.Errorf("writing %s: %w", filepath.Base(d.fh.Name()), werr)
			}
			show(d.have == d.total)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			if c := context.Cause(ctx); c == errStalled {
				return errRetry{c}
			}
			return errRetry{rerr}
		}
	}
}

// rangeStart returns the first byte of a Content-Range "bytes a-b/n".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
	return n, err == nil && n >= 0
}
