// Package hubtest is a fake Hugging Face Hub for tests: an httptest server
// that speaks the part of the Hub's HTTP API that ondo's store uses, and
// that can be told to misbehave.
//
//	GET /api/models/{owner}/{repo}/tree/{rev}?recursive=true
//	    JSON list of {"type","oid","size","path","lfs":{"oid","size","pointerSize"}},
//	    paginated with Link: <…>; rel="next" when PageSize is set
//	GET /{owner}/{repo}/resolve/{rev}/{path}
//	    the file; LFS files are redirected (302) to /cdn/sha256/{hex} as the
//	    Hub redirects to its CDN; both honour Range: bytes=N- (206)
//
// Errors follow the Hub: 404 with X-Error-Code RepoNotFound or
// EntryNotFound; 401 (no token) or 403 (wrong token) with GatedRepo for a
// repository with a Token.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// File is a file of a fake repository.
type File struct {
	// Path is the file's path in the repository, e.g. "Q4_K_M/m.gguf".
	Path string
	// Data is its contents.
	Data []byte
	// NoLFS makes it a small file kept in git rather than in LFS: the
	// listing gives no lfs entry, only the git blob id.
	NoLFS bool
}

// Repo is a fake repository.
type Repo struct {
	Files []File
	// Token, when set, makes the repository gated: requests need
	// "Authorization: Bearer Token".
	Token string
}

// Request is a request the server received.
type Request struct {
	Method        string
	Path          string // URL path, unescaped
	Range         string // the Range header
	Authorization string
}

// Server is a fake Hub. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	repos    map[string]*Repo
	log      []Request
	pageSize int
	actions  map[string][]action
	corrupt  map[string]int64
	hide     bool
}

// New starts a fake Hub, closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		repos:   map[string]*Repo{},
		actions: map[string][]action{},
		corrupt: map[string]int64{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddRepo adds (or replaces) the repository OWNER/REPO.
func (s *Server) AddRepo(name string, r Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := r
	s.repos[name] = &c
}

// ReadFile returns a File with the contents of the file at src, failing the
// test if it cannot be read.
func ReadFile(t testing.TB, repoPath, src string) File {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	return File{Path: repoPath, Data: b}
}

// SetPageSize makes tree listings paginated, n entries a page (0: one page).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// HideMissing makes a request without a token for a repository that does
// not exist get 401 with RepoNotFound, as the real Hub answers (it does
// not tell a missing repository from a private one), instead of 404.
func (s *Server) HideMissing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hide = true
}

// action is a misbehaviour queued for one download of a file: cut the
// body after cut bytes (when status is 0), or answer status.
type action struct {
	cut    int64
	status int
}

// CutAfter makes a download of the file whose repository path is file stop
// after n bytes of its body, the connection closed mid-transfer. Calls to
// CutAfter and FailNext queue up, in order, one download each.
func (s *Server) CutAfter(file string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.actions[file] = append(s.actions[file], action{cut: n})
}

// FailNext makes the next times downloads of file (after those already
// queued) answer status.
func (s *Server) FailNext(file string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range times {
		s.actions[file] = append(s.actions[file], action{status: status})
	}
}

// Corrupt makes every download of file carry a flipped byte at offset.
func (s *Server) Corrupt(file string, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corrupt[file] = offset
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Downloads returns the requests that fetched file's bytes: CDN requests
// for an LFS file, resolve requests for a file kept in git (the resolve
// requests of an LFS file only redirect).
func (s *Server) Downloads(file string) []Request {
	s.mu.Lock()
	git := false
	for _, r := range s.repos {
		for _, f := range r.Files {
			if f.Path == file && f.NoLFS {
				git = true
			}
		}
	}
	s.mu.Unlock()
	var out []Request
	for _, r := range s.Requests() {
		if git && strings.HasSuffix(r.Path, "/resolve/main/"+file) || !git && strings.HasPrefix(r.Path, "/cdn/") && strings.HasSuffix(r.Path, "/"+file) {
			out = append(out, r)
		}
	}
	return out
}

// SHA256 returns the hex sha256 of b.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GitOID returns the git blob id of b.
func GitOID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Range: r.Header.Get("Range"), Authorization: r.Header.Get("Authorization")})
	s.mu.Unlock()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/models/"):
		s.tree(w, r, strings.TrimPrefix(p, "/api/models/"))
	case strings.HasPrefix(p, "/cdn/"):
		s.cdn(w, r, strings.TrimPrefix(p, "/cdn/"))
	default:
		s.resolve(w, r, strings.TrimPrefix(p, "/"))
	}
}

// repo finds the repository OWNER/REPO and checks the request's token,
// answering the error when it fails.
func (s *Server) repo(w http.ResponseWriter, r *http.Request, name string) (*Repo, bool) {
	s.mu.Lock()
	repo := s.repos[name]
	hide := s.hide
	s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if repo == nil {
		status := http.StatusNotFound
		if hide && auth == "" {
			status = http.StatusUnauthorized
		}
		hubError(w, status, "RepoNotFound", "Repository not found")
		return nil, false
	}
	if repo.Token != "" {
		switch auth {
		case "Bearer " + repo.Token:
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+name+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
			return nil, false
		default:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+name+" is restricted and you are not in the authorized list.")
			return nil, false
		}
	}
	return repo, true
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

type lfsInfo struct {
	Oid         string `json:"oid"`
	Size        int    `json:"size"`
	PointerSize int    `json:"pointerSize"`
}

type entry struct {
	Type string   `json:"type"`
	Oid  string   `json:"oid"`
	Size int      `json:"size"`
	Path string   `json:"path"`
	LFS  *lfsInfo `json:"lfs,omitempty"`
}

// tree answers /api/models/{owner}/{repo}/tree/{rev}.
func (s *Server) tree(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 4 || parts[2] != "tree" {
		hubError(w, http.StatusNotFound, "", "Not found")
		return
	}
	repo, ok := s.repo(w, r, parts[0]+"/"+parts[1])
	if !ok {
		return
	}
	if parts[3] != "main" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Revision Not Found")
		return
	}
	var entries []entry
	dirs := map[string]bool{}
	for _, f := range repo.Files {
		for d := path.Dir(f.Path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			entries = append(entries, entry{Type: "directory", Oid: GitOID([]byte(d)), Path: d})
		}
		e := entry{Type: "file", Oid: GitOID(f.Data), Size: len(f.Data), Path: f.Path}
		if !f.NoLFS {
			// Git holds the pointer file; its size is what "size"
			// gives for an LFS file on the real Hub too.
			e.Oid = GitOID([]byte("version https://git-lfs.github.com/spec/v1\n"))
			e.LFS = &lfsInfo{Oid: SHA256(f.Data), Size: len(f.Data), PointerSize: 134}
			e.Size = len(f.Data)
		}
		entries = append(entries, e)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	s.mu.Lock()
	size := s.pageSize
	s.mu.Unlock()
	if size > 0 {
		start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		start = min(max(start, 0), len(entries))
		end := min(start+size, len(entries))
		if end < len(entries) {
			q := r.URL.Query()
			q.Set("cursor", strconv.Itoa(end))
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, s.URL, r.URL.Path, q.Encode()))
		}
		entries = entries[start:end]
	}
	if entries == nil {
		entries = []entry{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(entries)
}

// resolve answers /{owner}/{repo}/resolve/{rev}/{path}.
func (s *Server) resolve(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 5)
	if len(parts) < 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	repo, ok := s.repo(w, r, parts[0]+"/"+parts[1])
	if !ok {
		return
	}
	if parts[3] != "main" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Revision Not Found")
		return
	}
	for _, f := range repo.Files {
		if f.Path != parts[4] {
			continue
		}
		if f.NoLFS {
			s.send(w, r, f)
			return
		}
		http.Redirect(w, r, "/cdn/"+SHA256(f.Data)+"/"+f.Path, http.StatusFound)
		return
	}
	hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
}

// cdn answers /cdn/{sha256}/{path}, the target of LFS redirects.
func (s *Server) cdn(w http.ResponseWriter, r *http.Request, rest string) {
	sum, file, _ := strings.Cut(rest, "/")
	s.mu.Lock()
	var found *File
	for _, repo := range s.repos {
		for i := range repo.Files {
			if f := &repo.Files[i]; f.Path == file && SHA256(f.Data) == sum {
				found = f
			}
		}
	}
	s.mu.Unlock()
	if found == nil {
		http.NotFound(w, r)
		return
	}
	s.send(w, r, *found)
}

// send writes a file, honouring Range and the misbehaviour asked for.
func (s *Server) send(w http.ResponseWriter, r *http.Request, f File) {
	s.mu.Lock()
	cut, fail := int64(-1), 0
	if q := s.actions[f.Path]; len(q) > 0 {
		s.actions[f.Path] = q[1:]
		if q[0].status != 0 {
			fail = q[0].status
		} else {
			cut = q[0].cut
		}
	}
	bad, corrupt := s.corrupt[f.Path]
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, http.StatusText(fail), fail)
		return
	}
	data := f.Data
	if corrupt && bad >= 0 && bad < int64(len(data)) {
		data = append([]byte(nil), data...)
		data[bad] ^= 0xff
	}
	size := int64(len(data))
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		a, b, ok := parseRange(rg)
		if !ok || a >= size || (b >= 0 && b < a) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		end := size - 1
		if b >= 0 && b < end {
			end = b
		}
		data, status = data[a:end+1], http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, end, size))
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if cut >= 0 && cut < int64(len(data)) {
		w.Write(data[:cut])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	w.Write(data)
}

// parseRange parses "bytes=a-" or "bytes=a-b"; b is -1 when absent.
func parseRange(h string) (a, b int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	as, bs, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	a, err := strconv.ParseInt(as, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false
	}
	if bs == "" {
		return a, -1, true
	}
	b, err = strconv.ParseInt(bs, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return a, b, true
}
