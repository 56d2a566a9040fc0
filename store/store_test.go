package store

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/store/hubtest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stories(t *testing.T) string { return testdata.Path(t, "gguf", "stories260K.gguf") }

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return hubtest.SHA256(b)
}

// files lists the store's files (not folders), relative, with '/'.
func files(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != ".lock" {
			rel, _ := filepath.Rel(s.Dir(), p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// noModel checks that name is not a model and that the store holds no
// model file.
func noModel(t *testing.T, s *Store, name string) {
	t.Helper()
	if _, _, err := s.Resolve(name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(%q) after a failure: %v, want ErrNotFound", name, err)
	}
	if ms, err := s.List(); err != nil || len(ms) != 0 {
		t.Errorf("List after a failure: %d models, %v", len(ms), err)
	}
	for _, f := range files(t, s) {
		if strings.HasPrefix(f, "manifests/") || strings.HasPrefix(f, "blobs/sha256-") && !strings.HasSuffix(f, "-partial") {
			t.Errorf("left behind: %s", f)
		}
	}
}

func TestOpenDefaultDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "elsewhere")
	t.Setenv("ONDO_MODELS", dir)
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Open(\"\") with ONDO_MODELS=%s: dir %s", dir, s.Dir())
	}
	for _, sub := range []string{"blobs", "manifests"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err != nil || !st.IsDir() {
			t.Errorf("%s: %v", sub, err)
		}
	}
	t.Setenv("ONDO_MODELS", "")
	t.Setenv("HOME", "/home/someone")
	if d, err := DefaultDir(); err != nil || d != filepath.Join("/home/someone", ".ondo", "models") {
		t.Errorf("DefaultDir() = %q, %v", d, err)
	}
}

func TestCreateResolveListRemove(t *testing.T) {
	s := newStore(t)
	src := stories(t)
	m, err := s.Create("tiny", src)
	if err != nil {
		t.Fatal(err)
	}
	sum := fileSHA(t, src)
	st, _ := os.Stat(src)
	if m.Digest != "sha256:"+sum || m.Size != st.Size() || m.Name != "tiny:latest" || m.Source.Type != SourceFile || m.Source.File != src {
		t.Errorf("manifest %+v", m)
	}
	for _, name := range []string{"tiny", "tiny:latest", "TINY:Latest"} {
		p, rm, err := s.Resolve(name)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", name, err)
		}
		if p != filepath.Join(s.Dir(), "blobs", "sha256-"+sum) || rm.Digest != m.Digest {
			t.Errorf("Resolve(%q) = %s, %s", name, p, rm.Digest)
		}
		if fileSHA(t, p) != sum {
			t.Errorf("blob content differs from the source")
		}
	}
	// The manifest on disk.
	b, err := os.ReadFile(filepath.Join(s.Dir(), "manifests", "tiny", "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "name", "digest", "size", "source", "created"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("manifest has no %q: %s", k, b)
		}
	}
	ms, err := s.List()
	if err != nil || len(ms) != 1 || ms[0].Name != "tiny:latest" {
		t.Fatalf("List = %v, %v", ms, err)
	}
	if err := s.Remove("tiny"); err != nil {
		t.Fatal(err)
	}
	noModel(t, s, "tiny")
	if fs := files(t, s); len(fs) != 0 {
		t.Errorf("files left after rm: %v", fs)
	}
	if err := s.Remove("tiny"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"tiny"`) {
		t.Errorf("second Remove: %v", err)
	}
}

func TestCreateHardLinks(t *testing.T) {
	s := newStore(t)
	src := filepath.Join(t.TempDir(), "m.gguf")
	b, err := os.ReadFile(stories(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, b, 0o644)
	if _, err := s.Create("linked", src); err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Resolve("linked")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(src)
	c, _ := os.Stat(p)
	if !os.SameFile(a, c) {
		t.Logf("the blob is a copy, not a hard link (different file systems?)")
	}
}

// noLinks makes Create copy files instead of hard-linking them.
func noLinks(t *testing.T) {
	old := linkFile
	linkFile = func(string, string) error { return syscall.EXDEV }
	t.Cleanup(func() { linkFile = old })
}

func TestCreateCopiesWhenLinkFails(t *testing.T) {
	s := newStore(t)
	noLinks(t)
	src := stories(t)
	m, err := s.Create("copied", src)
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := s.Resolve("copied")
	a, _ := os.Stat(src)
	c, _ := os.Stat(p)
	if os.SameFile(a, c) || fileSHA(t, p) != m.Hex() || m.Hex() != fileSHA(t, src) {
		t.Errorf("the blob is not a verified copy")
	}
}

func TestCreateRejects(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.gguf")
	os.WriteFile(junk, []byte("this is not a GGUF file at all"), 0o644)
	_, err := s.Create("junk", junk)
	if err == nil || !strings.Contains(err.Error(), "not a usable GGUF") {
		t.Errorf("Create from junk: %v", err)
	}
	_, err = s.Create("missing", filepath.Join(dir, "missing.gguf"))
	if err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Errorf("Create from a missing file: %v", err)
	}
	if _, err := s.Create("../x", stories(t)); err == nil || !strings.Contains(err.Error(), "invalid model name") {
		t.Errorf("Create with a bad name: %v", err)
	}
	noModel(t, s, "junk")
	for _, f := range files(t, s) {
		t.Errorf("left behind: %s", f)
	}
}

func TestCreateDiskFull(t *testing.T) {
	for _, c := range []struct {
		name  string
		link  bool
		limit int64
	}{
		{"copy", false, 100000}, // the copy of the model fails
		{"manifest", true, 10},  // the model is linked, its manifest fails
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if !c.link {
				noLinks(t)
			}
			failWrites(t, c.limit)
			_, err := s.Create("full", stories(t))
			if err == nil || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Create on a full disk: %v", err)
			}
			noModel(t, s, "full")
			if fs := files(t, s); len(fs) != 0 {
				t.Errorf("left behind: %v", fs)
			}
		})
	}
}

// failWrites makes the files the store writes fail with ENOSPC once n
// bytes in all have been written, until the test ends.
func failWrites(t *testing.T, n int64) {
	old := writeHook
	d := &fullDisk{left: n}
	writeHook = func(w io.Writer) io.Writer { return &diskWriter{d, w} }
	t.Cleanup(func() { writeHook = old })
}

// fullDisk is the room left on a pretend disk.
type fullDisk struct {
	mu   sync.Mutex
	left int64
}

type diskWriter struct {
	d *fullDisk
	w io.Writer
}

func (f *diskWriter) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	room := min(int64(len(p)), f.d.left)
	n, err := f.w.Write(p[:room])
	f.d.left -= int64(n)
	if err == nil && n < len(p) {
		err = &os.PathError{Op: "write", Path: "blob", Err: syscall.ENOSPC}
	}
	return n, err
}

func TestCopyAndSharedBlobs(t *testing.T) {
	s := newStore(t)
	m, err := s.Create("a", stories(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("a", "b:v2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("a", "owner/repo:Q8_0"); err != nil {
		t.Fatal(err)
	}
	ms, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range ms {
		names = append(names, x.Name)
		if x.Digest != m.Digest {
			t.Errorf("%s has digest %s, want %s", x.Name, x.Digest, m.Digest)
		}
	}
	if strings.Join(names, " ") != "a:latest b:v2 hf.co/owner/repo:Q8_0" {
		t.Errorf("List names %v", names)
	}
	blob := filepath.Join(s.Dir(), "blobs", "sha256-"+m.Hex())
	for i, name := range []string{"a", "hf.co/owner/repo:Q8_0", "b:v2"} {
		if err := s.Remove(name); err != nil {
			t.Fatal(err)
		}
		_, err := os.Stat(blob)
		if last := i == 2; last != errors.Is(err, os.ErrNotExist) {
			t.Errorf("after removing %s (last %v): blob stat %v", name, last, err)
		}
	}
	// Folders of removed names go too.
	if fs := files(t, s); len(fs) != 0 {
		t.Errorf("left: %v", fs)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "manifests")); len(ents) != 0 {
		t.Errorf("manifest folders left: %v", ents)
	}
}

func TestCopyErrors(t *testing.T) {
	s := newStore(t)
	if err := s.Copy("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Copy of a missing model: %v", err)
	}
	if _, err := s.Create("a", stories(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("a", "a:latest"); err == nil || !strings.Contains(err.Error(), "same model") {
		t.Errorf("Copy onto itself: %v", err)
	}
	if err := s.Copy("a", "../b"); err == nil || !strings.Contains(err.Error(), "invalid model name") {
		t.Errorf("Copy to a bad name: %v", err)
	}
	// Replacing a model frees its old blob.
	other := testdata.Path(t, "llamacpp-quant", "synth-llama-Q2_K.gguf")
	old, err := s.Create("b", other)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256-"+old.Hex())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the replaced model's blob is still there: %v", err)
	}
}

func TestResolveErrors(t *testing.T) {
	s := newStore(t)
	if _, _, err := s.Resolve("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `model "nope" not found`) {
		t.Errorf("Resolve missing: %v", err)
	}
	if _, _, err := s.Resolve("../../etc/passwd"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve of a bad name: %v", err)
	}
	m, err := s.Create("a", stories(t))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(s.Dir(), "blobs", "sha256-"+m.Hex()))
	if _, _, err := s.Resolve("a"); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Resolve with the blob gone: %v", err)
	}
}

func TestListSkipsStrays(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("a", stories(t)); err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(s.Dir(), "manifests")
	os.WriteFile(filepath.Join(man, "junk.json"), []byte("{"), 0o644)
	os.WriteFile(filepath.Join(man, "a", ".latest.json.tmp-123"), []byte("{}"), 0o644)
	// A manifest whose name does not match its place is not trusted.
	b, _ := os.ReadFile(filepath.Join(man, "a", "latest.json"))
	os.MkdirAll(filepath.Join(man, "c"), 0o755)
	os.WriteFile(filepath.Join(man, "c", "latest.json"), b, 0o644)
	ms, err := s.List()
	if err != nil || len(ms) != 1 || ms[0].Name != "a:latest" {
		t.Errorf("List = %v, %v", ms, err)
	}
}

func TestReadOnlyStore(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to read-only folders")
	}
	s := newStore(t)
	blobs := filepath.Join(s.Dir(), "blobs")
	os.Chmod(blobs, 0o555)
	t.Cleanup(func() { os.Chmod(blobs, 0o755) })
	_, err := s.Create("ro", stories(t))
	if err == nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("Create in a read-only store: %v", err)
	}
	noModel(t, s, "ro")
}

func TestConcurrentCreateRemove(t *testing.T) {
	s := newStore(t)
	src := stories(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{"x", "y"}[i%2]
			if _, err := s.Create(name, src); err != nil {
				t.Error(err)
			}
			if i%4 == 0 {
				if err := s.Remove(name); err != nil && !errors.Is(err, ErrNotFound) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// Whatever is listed resolves.
	ms, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, _, err := s.Resolve(m.Name); err != nil {
			t.Errorf("listed but does not resolve: %v", err)
		}
	}
}

// splitGGUF splits the GGUF file at src into n parts the way llama.cpp's
// gguf-split does: the first part has all metadata, every part the split.*
// keys and its share of the tensors.
func splitGGUF(t *testing.T, src string, n int) [][]byte {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	var out [][]byte
	per := (len(f.Tensors) + n - 1) / n
	for i := range n {
		kvs := []gguf.KV{}
		if i == 0 {
			kvs = append(kvs, f.KV...)
		}
		kvs = append(kvs,
			gguf.NewKV(keySplitNo, uint16(i)),
			gguf.NewKV(keySplitCount, uint16(n)),
			gguf.NewKV(keySplitTensors, int32(len(f.Tensors))))
		var specs []gguf.TensorSpec
		for j := i * per; j < min((i+1)*per, len(f.Tensors)); j++ {
			ti := &f.Tensors[j]
			specs = append(specs, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: f.TensorData(ti)})
		}
		p := filepath.Join(dir, "part.gguf")
		if err := gguf.WriteFile(p, kvs, specs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
