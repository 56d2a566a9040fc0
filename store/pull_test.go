package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/store/hubtest"
)

// fastRetries makes failed downloads retry at once.
func fastRetries(t *testing.T) {
	old := retryDelay
	retryDelay = time.Millisecond
	t.Cleanup(func() { retryDelay = old })
}

const synthRepo = "test/synth-GGUF"

// quant returns a llama.cpp-quantized test model as a hub file.
func quant(t *testing.T, q string) hubtest.File {
	name := "synth-llama-" + q + ".gguf"
	return hubtest.ReadFile(t, name, testdata.Path(t, "llamacpp-quant", name))
}

// addSynth adds a repository like bartowski's: several quantizations of
// one model, a projector and a README.
func addSynth(t *testing.T, hub *hubtest.Server) {
	hub.AddRepo(synthRepo, hubtest.Repo{Files: []hubtest.File{
		{Path: "README.md", Data: []byte("# synth\n"), NoLFS: true},
		quant(t, "Q2_K"),
		quant(t, "Q4_K_M"),
		quant(t, "Q8_0"),
		{Path: "mmproj-synth-llama-F16.gguf", Data: []byte("GGUF not really")},
	}})
}

func opts(hub *hubtest.Server) PullOptions { return PullOptions{Endpoint: hub.URL} }

// recorder collects progress reports.
type recorder struct {
	mu     sync.Mutex
	events []PullProgress
}

func (r *recorder) add(p PullProgress) { r.mu.Lock(); r.events = append(r.events, p); r.mu.Unlock() }

func (r *recorder) statuses() []string {
	var out []string
	for _, e := range r.events {
		if len(out) == 0 || out[len(out)-1] != e.Status {
			out = append(out, e.Status)
		}
	}
	return out
}

func TestPullDefaultQuant(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	var rec recorder
	o := opts(hub)
	o.Progress = rec.add
	m, err := s.Pull(context.Background(), "hf.co/"+synthRepo, o)
	if err != nil {
		t.Fatal(err)
	}
	want := quant(t, "Q4_K_M")
	sum := hubtest.SHA256(want.Data)
	if m.Name != "hf.co/test/synth-GGUF:latest" || m.Quant != "Q4_K_M" || m.Digest != "sha256:"+sum || m.Size != int64(len(want.Data)) {
		t.Errorf("manifest %+v", m)
	}
	wantSrc := Source{Type: SourceHub, Endpoint: hub.URL, Repo: synthRepo, Revision: "main", File: want.Path, URL: hub.URL + "/" + synthRepo + "/resolve/main/" + want.Path}
	if m.Source != wantSrc {
		t.Errorf("source %+v, want %+v", m.Source, wantSrc)
	}
	if len(m.Parts) != 1 || m.Parts[0] != (Part{File: want.Path, URL: wantSrc.URL, Digest: m.Digest, Size: m.Size}) {
		t.Errorf("parts %+v", m.Parts)
	}
	p, rm, err := s.Resolve("test/synth-GGUF")
	if err != nil || rm.Digest != m.Digest || fileSHA(t, p) != sum {
		t.Fatalf("Resolve: %s %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "manifests", "hf.co", "test", "synth-gguf", "latest.json")); err != nil {
		t.Errorf("manifest file: %v", err)
	}
	if d := hub.Downloads("mmproj-synth-llama-F16.gguf"); len(d) != 0 {
		t.Errorf("the projector was downloaded")
	}
	// Progress, as Ollama's /api/pull streams it.
	short := "pulling " + sum[:12]
	wantStatus := []string{"pulling manifest", short, "verifying sha256 digest", "writing manifest", "success"}
	if got := rec.statuses(); !reflect.DeepEqual(got, wantStatus) {
		t.Errorf("statuses %q, want %q", got, wantStatus)
	}
	var last int64 = -1
	for _, e := range rec.events {
		if e.Status != short {
			continue
		}
		if e.Digest != m.Digest || e.Total != m.Size || e.Completed < last {
			t.Errorf("progress %+v", e)
		}
		last = e.Completed
	}
	if last != m.Size {
		t.Errorf("last progress %d of %d", last, m.Size)
	}
	b, _ := json.Marshal(PullProgress{Status: short, Digest: m.Digest, Total: 10, Completed: 5})
	if string(b) != `{"status":"`+short+`","digest":"`+m.Digest+`","total":10,"completed":5}` {
		t.Errorf("JSON %s", b)
	}
	b, _ = json.Marshal(PullProgress{Status: "success"})
	if string(b) != `{"status":"success"}` {
		t.Errorf("JSON %s", b)
	}
}

func TestPullExplicitQuant(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	for _, c := range []struct{ ref, file, resolve string }{
		{"test/synth-GGUF:Q8_0", "synth-llama-Q8_0.gguf", "hf.co/test/synth-gguf:q8_0"},
		{"hf.co/test/synth-GGUF:q2_k", "synth-llama-Q2_K.gguf", "test/synth-GGUF:Q2_K"},
		{"huggingface.co/test/synth-GGUF:Q4_k_m", "synth-llama-Q4_K_M.gguf", "hf.co/test/synth-GGUF:Q4_K_M"},
	} {
		m, err := s.Pull(context.Background(), c.ref, opts(hub))
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		if m.Source.File != c.file {
			t.Errorf("%s: pulled %s, want %s", c.ref, m.Source.File, c.file)
		}
		if _, rm, err := s.Resolve(c.resolve); err != nil || rm.Source.File != c.file {
			t.Errorf("Resolve(%s): %v", c.resolve, err)
		}
	}
	if ms, _ := s.List(); len(ms) != 3 {
		t.Errorf("List: %d models", len(ms))
	}
}

func TestPullMissingQuant(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	_, err := s.Pull(context.Background(), "test/synth-GGUF:Q3_K_S", opts(hub))
	if err == nil {
		t.Fatal("pulled a quantization the repository does not have")
	}
	for _, w := range []string{`"Q3_K_S"`, "available: Q2_K, Q4_K_M, Q8_0", "hf.co/test/synth-GGUF:Q2_K"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "F16") {
		t.Errorf("error %q offers the projector", err)
	}
	noModel(t, s, "test/synth-GGUF:Q3_K_S")
}

func TestPullDefaultWithoutQ4KM(t *testing.T) {
	hub := hubtest.New(t)
	hub.AddRepo("test/two", hubtest.Repo{Files: []hubtest.File{quant(t, "Q8_0"), quant(t, "Q2_K")}})
	hub.AddRepo("test/one", hubtest.Repo{Files: []hubtest.File{quant(t, "Q8_0"), {Path: "mmproj-model-f16.gguf", Data: []byte("x")}}})
	s := newStore(t)
	_, err := s.Pull(context.Background(), "test/two", opts(hub))
	if err == nil || !strings.Contains(err.Error(), "none is Q4_K_M") || !strings.Contains(err.Error(), "Q2_K, Q8_0") {
		t.Errorf("default pull without Q4_K_M: %v", err)
	}
	// A repository with one model needs no quantization named.
	m, err := s.Pull(context.Background(), "test/one", opts(hub))
	if err != nil || m.Quant != "Q8_0" {
		t.Fatalf("pull of the only GGUF: %v", err)
	}
}

func TestPullNoGGUF(t *testing.T) {
	hub := hubtest.New(t)
	hub.AddRepo("test/none", hubtest.Repo{Files: []hubtest.File{{Path: "model.safetensors", Data: []byte("x")}}})
	s := newStore(t)
	_, err := s.Pull(context.Background(), "test/none", opts(hub))
	if err == nil || !strings.Contains(err.Error(), "no GGUF model files") {
		t.Errorf("pull from a repository without GGUF: %v", err)
	}
}

func TestPullNotGGUF(t *testing.T) {
	hub := hubtest.New(t)
	hub.AddRepo("test/fake", hubtest.Repo{Files: []hubtest.File{{Path: "model-Q4_K_M.gguf", Data: []byte("GGUF but not really a model file")}}})
	s := newStore(t)
	_, err := s.Pull(context.Background(), "test/fake", opts(hub))
	if err == nil || !strings.Contains(err.Error(), "model-Q4_K_M.gguf is not a usable GGUF file") {
		t.Errorf("pull of a file that is not GGUF: %v", err)
	}
	noModel(t, s, "test/fake")
	if fs := files(t, s); len(fs) != 0 {
		t.Errorf("left behind: %v", fs)
	}
}

func TestPullSplit(t *testing.T) {
	hub := hubtest.New(t)
	src := stories(t)
	parts := splitGGUF(t, src, 3)
	var hf []hubtest.File
	for i, b := range parts {
		hf = append(hf, hubtest.File{Path: "Q8_0/stories-Q8_0-0000" + string(rune('1'+i)) + "-of-00003.gguf", Data: b})
	}
	hub.AddRepo("test/split", hubtest.Repo{Files: append(hf, quant(t, "Q4_K_M"))})
	s := newStore(t)
	m, err := s.Pull(context.Background(), "test/split:Q8_0", opts(hub))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Parts) != 3 || m.Quant != "Q8_0" || m.Source.File != hf[0].Path {
		t.Fatalf("manifest %+v", m)
	}
	for i, p := range m.Parts {
		if p.File != hf[i].Path || p.Digest != "sha256:"+hubtest.SHA256(hf[i].Data) || p.Size != int64(len(hf[i].Data)) {
			t.Errorf("part %d: %+v", i, p)
		}
	}
	path, _, err := s.Resolve("test/split:Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if fileSHA(t, path) != m.Hex() {
		t.Errorf("merged blob does not hash to its digest")
	}
	// The merged file holds the original's metadata and tensors.
	orig, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	merged, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer merged.Close()
	if !reflect.DeepEqual(merged.KV, orig.KV) {
		t.Errorf("merged metadata differs from the original")
	}
	if len(merged.Tensors) != len(orig.Tensors) {
		t.Fatalf("merged %d tensors, original %d", len(merged.Tensors), len(orig.Tensors))
	}
	for i := range orig.Tensors {
		a, b := &orig.Tensors[i], &merged.Tensors[i]
		if a.Name != b.Name || a.Type != b.Type || !reflect.DeepEqual(a.Shape, b.Shape) || !bytes.Equal(orig.TensorData(a), merged.TensorData(b)) {
			t.Errorf("tensor %d: %s differs", i, a.Name)
		}
	}
	if sum := fileSHA(t, src); sum == m.Hex() {
		t.Logf("the merge reproduces the original byte for byte")
	}
	// Only the merged blob stays.
	if fs := files(t, s); len(fs) != 2 {
		t.Errorf("store files %v, want the merged blob and the manifest", fs)
	}

	// Pulling again downloads nothing.
	before := len(hub.Requests())
	if _, err := s.Pull(context.Background(), "test/split:Q8_0", opts(hub)); err != nil {
		t.Fatal(err)
	}
	for _, r := range hub.Requests()[before:] {
		if strings.HasPrefix(r.Path, "/cdn/") {
			t.Errorf("second pull downloaded %s", r.Path)
		}
	}
}

func TestPullSplitIncomplete(t *testing.T) {
	hub := hubtest.New(t)
	parts := splitGGUF(t, stories(t), 3)
	hub.AddRepo("test/broken", hubtest.Repo{Files: []hubtest.File{
		{Path: "m-Q8_0-00001-of-00003.gguf", Data: parts[0]},
		{Path: "m-Q8_0-00003-of-00003.gguf", Data: parts[2]},
	}})
	s := newStore(t)
	_, err := s.Pull(context.Background(), "test/broken:Q8_0", opts(hub))
	if err == nil || !strings.Contains(err.Error(), "part 2 of 3 (m-Q8_0-00002-of-00003.gguf) is missing") {
		t.Errorf("pull of an incomplete split: %v", err)
	}
	noModel(t, s, "test/broken:Q8_0")
}

func TestPullResumesAfterCut(t *testing.T) {
	fastRetries(t)
	hub := hubtest.New(t)
	addSynth(t, hub)
	const file, n = "synth-llama-Q4_K_M.gguf", 100000
	hub.CutAfter(file, n)
	s := newStore(t)
	m, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if err != nil {
		t.Fatal(err)
	}
	d := hub.Downloads(file)
	if len(d) != 2 || d[0].Range != "" || d[1].Range != "bytes=100000-" {
		t.Fatalf("downloads %+v, want a whole request then Range: bytes=100000-", d)
	}
	p, _, err := s.Resolve(synthRepo)
	if err != nil || fileSHA(t, p) != m.Hex() || m.Hex() != hubtest.SHA256(quant(t, "Q4_K_M").Data) {
		t.Errorf("resumed blob does not verify: %v", err)
	}
}

func TestPullResumesInALaterPull(t *testing.T) {
	fastRetries(t)
	hub := hubtest.New(t)
	addSynth(t, hub)
	const file, n = "synth-llama-Q4_K_M.gguf", 200000
	hub.CutAfter(file, n)
	hub.FailNext(file, 503, maxFailures)
	s := newStore(t)
	_, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if err == nil || !strings.Contains(err.Error(), "resume at byte 200000") {
		t.Fatalf("pull with the server down: %v", err)
	}
	noModel(t, s, synthRepo)
	sum := hubtest.SHA256(quant(t, "Q4_K_M").Data)
	partial := filepath.Join(s.Dir(), "blobs", "sha256-"+sum+"-partial")
	if st, err := os.Stat(partial); err != nil || st.Size() != n {
		t.Fatalf("partial download: %v (size %v)", err, st)
	}

	before := len(hub.Downloads(file))
	if _, err := s.Pull(context.Background(), synthRepo, opts(hub)); err != nil {
		t.Fatal(err)
	}
	d := hub.Downloads(file)[before:]
	if len(d) != 1 || d[0].Range != "bytes=200000-" {
		t.Fatalf("second pull's downloads %+v, want one with Range: bytes=200000-", d)
	}
	if p, _, err := s.Resolve(synthRepo); err != nil || fileSHA(t, p) != sum {
		t.Errorf("resumed blob does not verify: %v", err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial left: %v", err)
	}
}

func TestPullCorrupt(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	hub.Corrupt("synth-llama-Q4_K_M.gguf", 123456)
	s := newStore(t)
	_, err := s.Pull(context.Background(), synthRepo, opts(hub))
	sum := hubtest.SHA256(quant(t, "Q4_K_M").Data)
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), sum) {
		t.Fatalf("pull of a corrupt file: %v", err)
	}
	noModel(t, s, synthRepo)
	if fs := files(t, s); len(fs) != 0 {
		t.Errorf("left behind: %v", fs)
	}
}

func TestPullGitFile(t *testing.T) {
	hub := hubtest.New(t)
	b, err := os.ReadFile(stories(t))
	if err != nil {
		t.Fatal(err)
	}
	hub.AddRepo("test/small", hubtest.Repo{Files: []hubtest.File{{Path: "stories-F32.gguf", Data: b, NoLFS: true}}})
	s := newStore(t)
	m, err := s.Pull(context.Background(), "test/small", opts(hub))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hex() != hubtest.SHA256(b) || m.Quant != "F32" {
		t.Errorf("manifest %+v", m)
	}
	// A corrupt git file is caught by its git blob id.
	s2 := newStore(t)
	hub.Corrupt("stories-F32.gguf", 1000)
	_, err = s2.Pull(context.Background(), "test/small", opts(hub))
	if err == nil || !strings.Contains(err.Error(), hubtest.GitOID(b)) {
		t.Errorf("pull of a corrupt git file: %v", err)
	}
	noModel(t, s2, "test/small")
}

func TestPullErrors(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	hub.AddRepo("test/gated", hubtest.Repo{Token: "hf_secret", Files: []hubtest.File{quant(t, "Q4_K_M")}})
	s := newStore(t)
	pull := func(ref string, o PullOptions) error {
		_, err := s.Pull(context.Background(), ref, o)
		return err
	}
	o := opts(hub)
	withToken := func(tok string) PullOptions { o := opts(hub); o.Token = tok; return o }

	err := pull("nobody/nothing", o)
	if !errors.Is(err, ErrRepoNotFound) || !strings.Contains(err.Error(), "repository nobody/nothing not found") {
		t.Errorf("404: %v", err)
	}
	err = pull("test/gated", o)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "test/gated is gated or private: set HF_TOKEN") {
		t.Errorf("401: %v", err)
	}
	err = pull("test/gated", withToken("hf_wrong"))
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("403: %v", err)
	}
	if err := pull("test/gated", withToken("hf_secret")); err != nil {
		t.Errorf("gated repository with its token: %v", err)
	}
	sawAuth := false
	for _, r := range hub.Requests() {
		if strings.Contains(r.Path, "/resolve/") && r.Authorization == "Bearer hf_secret" {
			sawAuth = true
		}
	}
	if !sawAuth {
		t.Errorf("the token was not sent")
	}

	// The real Hub answers 401 for a missing repository without a token.
	hub.HideMissing()
	err = pull("nobody/nothing", o)
	if !errors.Is(err, ErrRepoNotFound) || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "set HF_TOKEN") {
		t.Errorf("401 RepoNotFound: %v", err)
	}

	hub.FailNext("synth-llama-Q8_0.gguf", 404, 1)
	err = pull(synthRepo+":Q8_0", o)
	if err == nil || !strings.Contains(err.Error(), "file synth-llama-Q8_0.gguf not found in repository "+synthRepo) {
		t.Errorf("file 404: %v", err)
	}
	if err := pull("mymodel", o); err == nil || !strings.Contains(err.Error(), "not a Hugging Face name") {
		t.Errorf("local name: %v", err)
	}
	if err := pull("a/../b", o); err == nil || !strings.Contains(err.Error(), "invalid model name") {
		t.Errorf("bad name: %v", err)
	}
	if err := pull(synthRepo, PullOptions{Endpoint: "ftp://x"}); err == nil || !strings.Contains(err.Error(), "bad Hub endpoint") {
		t.Errorf("bad endpoint: %v", err)
	}
	ms, _ := s.List()
	if len(ms) != 1 || ms[0].Name != "hf.co/test/gated:latest" {
		t.Errorf("models after the failures: %v", ms)
	}
}

func TestPullServerErrorsRetried(t *testing.T) {
	fastRetries(t)
	hub := hubtest.New(t)
	addSynth(t, hub)
	hub.FailNext("synth-llama-Q4_K_M.gguf", 503, maxFailures-1)
	s := newStore(t)
	if _, err := s.Pull(context.Background(), synthRepo, opts(hub)); err != nil {
		t.Fatalf("pull after %d failures: %v", maxFailures-1, err)
	}
}

func TestPullDiskFull(t *testing.T) {
	fastRetries(t)
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	failWrites(t, 300000)
	_, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("pull on a full disk: %v", err)
	}
	noModel(t, s, synthRepo)
	// With room again, the pull resumes after what was written.
	writeHook = func(w io.Writer) io.Writer { return w }
	before := len(hub.Downloads("synth-llama-Q4_K_M.gguf"))
	if _, err := s.Pull(context.Background(), synthRepo, opts(hub)); err != nil {
		t.Fatal(err)
	}
	if d := hub.Downloads("synth-llama-Q4_K_M.gguf")[before:]; len(d) != 1 || d[0].Range != "bytes=300000-" {
		t.Errorf("downloads after the disk filled: %+v", d)
	}
}

func TestPullManifestWriteFails(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	// Room for the model but not for its manifest.
	failWrites(t, int64(len(quant(t, "Q4_K_M").Data)))
	if _, err := s.Pull(context.Background(), synthRepo, opts(hub)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("pull without room for the manifest: %v", err)
	}
	noModel(t, s, synthRepo)
}

func TestPullReadOnlyStore(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only folders")
	}
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	blobs := filepath.Join(s.Dir(), "blobs")
	os.Chmod(blobs, 0o555)
	t.Cleanup(func() { os.Chmod(blobs, 0o755) })
	_, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("pull into a read-only store: %v", err)
	}
	noModel(t, s, synthRepo)
}

func TestPullAgainDownloadsNothing(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	if _, err := s.Pull(context.Background(), synthRepo, opts(hub)); err != nil {
		t.Fatal(err)
	}
	// Another name for the same file reuses the blob too.
	for _, ref := range []string{synthRepo, synthRepo + ":Q4_K_M"} {
		var rec recorder
		o := opts(hub)
		o.Progress = rec.add
		if _, err := s.Pull(context.Background(), ref, o); err != nil {
			t.Fatal(err)
		}
		if d := hub.Downloads("synth-llama-Q4_K_M.gguf"); len(d) != 1 {
			t.Errorf("%s: %d downloads", ref, len(d))
		}
		if st := rec.statuses(); st[len(st)-1] != "success" {
			t.Errorf("%s: statuses %q", ref, st)
		}
	}
	if fs := files(t, s); len(fs) != 3 {
		t.Errorf("files %v, want one blob and two manifests", fs)
	}
}

func TestPullReplacesModel(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	old, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if err != nil {
		t.Fatal(err)
	}
	// The repository's Q4_K_M file changes.
	f := quant(t, "Q2_K")
	f.Path = "synth-llama-Q4_K_M.gguf"
	hub.AddRepo(synthRepo, hubtest.Repo{Files: []hubtest.File{f, quant(t, "Q8_0")}})
	m, err := s.Pull(context.Background(), synthRepo, opts(hub))
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest == old.Digest || m.Hex() != hubtest.SHA256(f.Data) {
		t.Errorf("the model was not updated")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256-"+old.Hex())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old blob was kept: %v", err)
	}
}

func TestPullConcurrent(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := []string{synthRepo, synthRepo + ":Q4_K_M"}[i%2]
			if _, err := s.Pull(context.Background(), ref, opts(hub)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if d := hub.Downloads("synth-llama-Q4_K_M.gguf"); len(d) != 1 {
		t.Errorf("%d downloads of one file by concurrent pulls", len(d))
	}
	for _, ref := range []string{synthRepo, synthRepo + ":Q4_K_M"} {
		if p, m, err := s.Resolve(ref); err != nil || fileSHA(t, p) != m.Hex() {
			t.Errorf("Resolve(%s): %v", ref, err)
		}
	}
}

func TestPullConcurrentSplit(t *testing.T) {
	hub := hubtest.New(t)
	parts := splitGGUF(t, stories(t), 3)
	var hf []hubtest.File
	for i, b := range parts {
		hf = append(hf, hubtest.File{Path: fmt.Sprintf("stories-Q8_0-%05d-of-00003.gguf", i+1), Data: b})
	}
	hub.AddRepo("test/split", hubtest.Repo{Files: hf})
	s := newStore(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := []string{"test/split", "test/split:Q8_0"}[i%2]
			if _, err := s.Pull(context.Background(), ref, opts(hub)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, f := range hf {
		if d := hub.Downloads(f.Path); len(d) != 1 {
			t.Errorf("%s downloaded %d times", f.Path, len(d))
		}
	}
	if fs := files(t, s); len(fs) != 3 {
		t.Errorf("files %v, want the merged blob and two manifests", fs)
	}
}

func TestPullPaginated(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	hub.SetPageSize(2)
	s := newStore(t)
	m, err := s.Pull(context.Background(), synthRepo+":Q8_0", opts(hub))
	if err != nil || m.Quant != "Q8_0" {
		t.Fatalf("paginated listing: %v", err)
	}
	pages := 0
	for _, r := range hub.Requests() {
		if strings.Contains(r.Path, "/tree/") {
			pages++
		}
	}
	if pages != 3 { // 5 files, 2 a page
		t.Errorf("%d tree pages requested, want 3", pages)
	}
}

func TestPullCanceled(t *testing.T) {
	hub := hubtest.New(t)
	addSynth(t, hub)
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	o := opts(hub)
	o.Progress = func(p PullProgress) {
		if p.Completed > 0 {
			cancel()
		}
	}
	_, err := s.Pull(ctx, synthRepo, o)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled pull: %v", err)
	}
	noModel(t, s, synthRepo)
}
