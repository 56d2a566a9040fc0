// Package store keeps the models ondo runs in a local, content-addressed
// store, the way Ollama does, and pulls them from the Hugging Face Hub.
//
// # Layout
//
// A store is a folder (DefaultDir: $ONDO_MODELS, else ~/.ondo/models):
//
//	blobs/sha256-<hex>            a model file (GGUF), named by its sha256
//	blobs/sha256-<hex>-partial    a download in progress or interrupted
//	manifests/hf.co/<owner>/<repo>/<tag>.json
//	manifests/<name>/<tag>.json   a name: which blob, where it came from
//	.lock                         taken while manifests and blobs change
//
// Manifest paths are the lower-cased name, so names are compared without
// regard to case; the manifest keeps the spelling it was made with. Several
// names may share one blob; Remove deletes a blob with the last name that
// uses it.
//
// # Safety
//
// Names are validated by ParseName, so no name reaches outside the store.
// Every file is written under a temporary name, synced and renamed into
// place, and a manifest is written only once its blob is complete and its
// sha256 verified, under the store's lock (an advisory file lock, so it
// holds between processes too): a crash, a full disk or a corrupt download
// leaves at most a "-partial" file or a dot-file behind, never a model that
// does not load. Downloads of the same file by several pulls at once are
// serialised by a lock on its partial file.
package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped) when a name has no model in the store.
var ErrNotFound = errors.New("model not found")

// notFoundError names the model that is missing and where it was looked for.
type notFoundError struct{ name, dir string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("model %q not found in %s", e.name, e.dir)
}

func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

// SchemaVersion is the version of the manifest format written.
const SchemaVersion = 1

// Manifest maps a name to the blob holding its model file and records where
// the model came from. It is stored as JSON.
type Manifest struct {
	SchemaVersion int `json:"schema_version"`
	// Name is the model's name as it was given, in canonical form
	// (Name.String).
	Name string `json:"name"`
	// Digest is "sha256:<hex>" of the model file, which is the blob
	// blobs/sha256-<hex>.
	Digest string `json:"digest"`
	// Size is the model file's size in bytes.
	Size int64 `json:"size"`
	// Quant is the quantization: the label chosen on the Hub (Q4_K_M), or
	// the file type of an imported file.
	Quant string `json:"quant,omitempty"`
	// Source says where the model came from.
	Source Source `json:"source"`
	// Parts lists, in order, the files the model was made from: the one
	// GGUF of a pull, or the parts of a split GGUF, which the pull merged
	// into the single file Digest names.
	Parts []Part `json:"parts,omitempty"`
	// Created is when the manifest was written.
	Created time.Time `json:"created"`
}

// Source types.
const (
	SourceHub  = "huggingface"
	SourceFile = "file"
)

// Source records where a model came from.
type Source struct {
	// Type is SourceHub or SourceFile.
	Type string `json:"type"`
	// Endpoint is the Hub it was pulled from.
	Endpoint string `json:"endpoint,omitempty"`
	// Repo is OWNER/REPO on the Hub.
	Repo string `json:"repo,omitempty"`
	// Revision is the branch or commit pulled.
	Revision string `json:"revision,omitempty"`
	// File is the path of the file in the repository (the first part of
	// a split model), or the local file imported by Create.
	File string `json:"file,omitempty"`
	// URL is the download URL of File.
	URL string `json:"url,omitempty"`
}

// Part is one file a model was made from.
type Part struct {
	File   string `json:"file"`
	URL    string `json:"url,omitempty"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Hex returns the hexadecimal sha256 of the model file.
func (m *Manifest) Hex() string { return strings.TrimPrefix(m.Digest, "sha256:") }

// Store is a model store on disk. Its methods are safe for concurrent use,
// also by several processes sharing the folder.
type Store struct {
	dir string
}

// DefaultDir returns the store folder to use: $ONDO_MODELS when set, else
// ~/.ondo/models.
func DefaultDir() (string, error) {
	if d := os.Getenv("ONDO_MODELS"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: no home folder for the model store (set ONDO_MODELS): %w", err)
	}
	return filepath.Join(home, ".ondo", "models"), nil
}

// Open opens the store in dir, creating its folders when missing; an empty
// dir means DefaultDir.
func Open(dir string) (*Store, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	for _, sub := range []string{"blobs", "manifests"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return &Store{dir: abs}, nil
}

// Dir returns the store's folder.
func (s *Store) Dir() string { return s.dir }

// BlobPath returns the path of the blob with the digest "sha256:<hex>"
// (or just "<hex>"), whether or not it exists.
func (s *Store) BlobPath(digest string) (string, error) {
	h, err := parseDigest(digest)
	if err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "blobs", "sha256-"+h), nil
}

// parseDigest returns the hex of "sha256:<hex>" or "<hex>", lower-cased,
// checking that it is 64 hex digits.
func parseDigest(d string) (string, error) {
	h := strings.ToLower(strings.TrimPrefix(d, "sha256:"))
	if len(h) != 64 {
		return "", fmt.Errorf("store: bad digest %q: want sha256:<64 hex digits>", d)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("store: bad digest %q: want sha256:<64 hex digits>", d)
	}
	return h, nil
}

func (s *Store) manifestFile(n Name) string {
	return filepath.Join(s.dir, "manifests", filepath.FromSlash(n.manifestPath()))
}

func (s *Store) blobFile(hexDigest string) string {
	return filepath.Join(s.dir, "blobs", "sha256-"+hexDigest)
}

// Resolve returns the path of the model file called name and its manifest.
// A name with no model is an error wrapping ErrNotFound.
func (s *Store) Resolve(name string) (path string, m *Manifest, err error) {
	n, err := ParseName(name)
	if err != nil {
		return "", nil, err
	}
	m, err = s.readManifest(n, name)
	if err != nil {
		return "", nil, err
	}
	p := s.blobFile(m.Hex())
	st, err := os.Stat(p)
	if err != nil {
		return "", nil, fmt.Errorf("store: model %q: its file %s is missing (%v); pull or create it again", name, m.Digest, err)
	}
	if st.Size() != m.Size {
		return "", nil, fmt.Errorf("store: model %q: its file %s is %d bytes, the manifest says %d; pull or create it again", name, m.Digest, st.Size(), m.Size)
	}
	return p, m, nil
}

// Manifest returns the manifest of the model called name.
func (s *Store) Manifest(name string) (*Manifest, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	return s.readManifest(n, name)
}

// readManifest reads the manifest of n; asked is the name as the caller
// spelled it, for messages.
func (s *Store) readManifest(n Name, asked string) (*Manifest, error) {
	b, err := os.ReadFile(s.manifestFile(n))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notFoundError{name: asked, dir: s.dir}
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("store: manifest of %q: %w", asked, err)
	}
	return m, nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schema version %d, this ondo reads %d", m.SchemaVersion, SchemaVersion)
	}
	h, err := parseDigest(m.Digest)
	if err != nil {
		return nil, err
	}
	m.Digest = "sha256:" + h
	if m.Size < 0 {
		return nil, fmt.Errorf("negative size %d", m.Size)
	}
	return &m, nil
}

// List returns the manifests of all models, sorted by name. Files in the
// manifests folder that are not manifests, or whose name does not match
// their place, are skipped.
func (s *Store) List() ([]*Manifest, error) {
	root := filepath.Join(s.dir, "manifests")
	var out []*Manifest
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // removed meanwhile
		}
		m, err := decodeManifest(b)
		if err != nil {
			return nil
		}
		n, err := ParseName(m.Name)
		if err != nil || n.manifestPath() != filepath.ToSlash(rel) {
			return nil
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := strings.ToLower(out[i].Name), strings.ToLower(out[j].Name)
		if a != b {
			return a < b
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Remove deletes the model called name, and its blob when no other name
// uses it.
func (s *Store) Remove(name string) error {
	n, err := ParseName(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.readManifest(n, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		// An unreadable manifest is removed all the same.
		m = nil
	}
	mf := s.manifestFile(n)
	if err := os.Remove(mf); err != nil {
		return fmt.Errorf("store: remove %q: %w", name, err)
	}
	s.pruneDirs(filepath.Dir(mf))
	if m == nil {
		return nil
	}
	used, err := s.inUse(m.Digest)
	if err != nil {
		return err
	}
	if !used {
		if err := os.Remove(s.blobFile(m.Hex())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("store: remove %q: %w", name, err)
		}
	}
	return nil
}

// pruneDirs removes dir and its parents up to the manifests folder while
// they are empty.
func (s *Store) pruneDirs(dir string) {
	root := filepath.Join(s.dir, "manifests")
	for dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// inUse reports whether any manifest refers to digest.
func (s *Store) inUse(digest string) (bool, error) {
	all, err := s.List()
	if err != nil {
		return false, err
	}
	for _, m := range all {
		if m.Digest == digest {
			return true, nil
		}
	}
	return false, nil
}

// Copy makes dst another name for the model src, replacing any model
// called dst. The blob is shared, not copied.
func (s *Store) Copy(src, dst string) error {
	sn, err := ParseName(src)
	if err != nil {
		return err
	}
	dn, err := ParseName(dst)
	if err != nil {
		return err
	}
	if sn.manifestPath() == dn.manifestPath() {
		return fmt.Errorf("store: copy %q to %q: they are the same model", src, dst)
	}
	unlock, err := s.lock(context.Background())
	if err != nil {
		return err
	}
	defer unlock()
	m, err := s.readManifest(sn, src)
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.blobFile(m.Hex())); err != nil {
		return fmt.Errorf("store: copy %q: its file %s is missing: %w", src, m.Digest, err)
	}
	c := *m
	c.Name = dn.String()
	c.Parts = append([]Part(nil), m.Parts...)
	return s.writeManifest(dn, &c)
}

// writeManifest writes m as the manifest of n, atomically, and deletes the
// blob of the model it replaces when no name uses it any more. The caller
// holds the store lock and has checked that m's blob is in place.
func (s *Store) writeManifest(n Name, m *Manifest) error {
	old, _ := s.readManifest(n, n.String())
	m.SchemaVersion = SchemaVersion
	m.Name = n.String()
	m.Created = time.Now().UTC().Truncate(time.Millisecond)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	b = append(b, '\n')
	p := s.manifestFile(n)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("store: write manifest of %q: %w", m.Name, err)
	}
	if err := writeFileAtomic(p, b); err != nil {
		return fmt.Errorf("store: write manifest of %q: %w", m.Name, err)
	}
	if old != nil && old.Digest != m.Digest {
		if used, err := s.inUse(old.Digest); err == nil && !used {
			os.Remove(s.blobFile(old.Hex()))
		}
	}
	return nil
}

// writeFileAtomic writes b to a temporary file next to p, syncs it and
// renames it over p.
func writeFileAtomic(p string, b []byte) error {
	f, err := createTemp(filepath.Dir(p), filepath.Base(p))
	if err != nil {
		return err
	}
	_, err = writeHook(f).Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	syncDir(filepath.Dir(p))
	return nil
}

// createTemp creates a new dot-file in dir for base. Unlike os.CreateTemp,
// which makes files only their owner can read, it asks for mode 0666 and
// lets the umask decide, so a store can be shared the way the umask allows.
func createTemp(dir, base string) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		return f, err
	}
}

// syncDir flushes a folder's entries, so a rename survives a crash. It is
// best effort: some systems cannot sync folders.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeHook wraps every writer through which the store writes a file;
// tests replace it to simulate a full disk.
var writeHook = func(w io.Writer) io.Writer { return w }

// lock takes the store's lock, waiting for it, and returns its release.
func (s *Store) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	if err := waitLock(ctx, f, nil); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// waitLock takes an exclusive lock on f, polling until it is free or ctx
// ends; waiting, when not nil, is called once if the lock is busy.
func waitLock(ctx context.Context, f *os.File, waiting func()) error {
	for {
		ok, err := tryLock(f)
		if err != nil || ok {
			return err
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
