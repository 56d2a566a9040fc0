package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrModelNotFound is returned (wrapped) by a Resolver for a name that
// names no model; the server answers it with 404.
var ErrModelNotFound = errors.New("model not found")

// Resolver maps the model names requests use to GGUF files. The server
// needs nothing else of where models live, so a content-addressed store can
// replace DirResolver without touching the handlers.
type Resolver interface {
	// Resolve returns the path of the GGUF file for name, or an error
	// wrapping ErrModelNotFound.
	Resolve(name string) (path string, err error)
	// List returns the models there are, sorted by name.
	List() ([]ModelEntry, error)
	// Delete removes the model called name.
	Delete(name string) error
}

// ModelEntry describes one model a Resolver knows.
type ModelEntry struct {
	Name       string
	Path       string
	Size       int64
	ModifiedAt time.Time
	// Digest identifies the model's version. DirResolver makes it from the
	// path, size and modification time (hashing gigabytes on every listing
	// would be too slow), so it changes when the file does but is not the
	// file's sha256.
	Digest string
}

// DirResolver finds models in one folder: the name "tiny" is the file
// Dir/tiny.gguf. An Ollama-style tag is accepted and ":latest" ignored, so
// "tiny:latest" is tiny.gguf too, while "tiny:q4" is the file tiny:q4.gguf.
// A name that is a path to a .gguf file (absolute, or containing a path
// separator) is that file: it can be loaded but not listed or deleted.
type DirResolver struct {
	Dir string
}

// Resolve implements Resolver.
func (d DirResolver) Resolve(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: the model name is empty", ErrModelNotFound)
	}
	if isPathName(name) {
		if !strings.HasSuffix(name, ".gguf") {
			return "", fmt.Errorf("%w: %s: a model given by path must be a .gguf file", ErrModelNotFound, name)
		}
		st, err := os.Stat(name)
		if err != nil || !st.Mode().IsRegular() {
			return "", fmt.Errorf("%w: no GGUF file at %s", ErrModelNotFound, name)
		}
		return filepath.Clean(name), nil
	}
	for _, n := range candidates(name) {
		if !validName(n) {
			continue
		}
		p := filepath.Join(d.Dir, n+".gguf")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	if !validName(strings.TrimSuffix(name, ":latest")) {
		return "", fmt.Errorf("%w: %q is not a valid model name", ErrModelNotFound, name)
	}
	return "", fmt.Errorf("%w: %q (no %s in %s)", ErrModelNotFound, name, strings.TrimSuffix(name, ":latest")+".gguf", d.Dir)
}

// List implements Resolver.
func (d DirResolver) List() ([]ModelEntry, error) {
	ents, err := os.ReadDir(d.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ModelEntry
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".gguf")
		if !ok || !validName(name) {
			continue
		}
		p := filepath.Join(d.Dir, e.Name())
		st, err := os.Stat(p) // follows links, unlike e.Info
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		out = append(out, entryFor(name, p, st))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements Resolver. Only files in Dir are deleted; a model given
// by path is refused.
func (d DirResolver) Delete(name string) error {
	if isPathName(name) {
		return fmt.Errorf("%w: %s is not in the models folder; only models there can be deleted", ErrModelNotFound, name)
	}
	p, err := d.Resolve(name)
	if err != nil {
		return err
	}
	return os.Remove(p)
}

// entryFor describes the file p, called name. A file of a model store
// (blobs/sha256-<hex>) is named by its sha256, which is then its Digest,
// as Ollama reports it; other files get a digest made from the path, size
// and modification time.
func entryFor(name, p string, st fs.FileInfo) ModelEntry {
	digest, ok := blobDigest(p)
	if !ok {
		h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", p, st.Size(), st.ModTime().UnixNano()))
		digest = hex.EncodeToString(h[:])
	}
	return ModelEntry{Name: name, Path: p, Size: st.Size(), ModifiedAt: st.ModTime(), Digest: digest}
}

// blobDigest returns the hex sha256 in the name of a store blob,
// sha256-<64 hex digits>.
func blobDigest(p string) (string, bool) {
	h, ok := strings.CutPrefix(filepath.Base(p), "sha256-")
	if !ok || len(h) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return strings.ToLower(h), true
}

// isPathName reports whether a model name is a file path rather than a
// name in the models folder.
func isPathName(name string) bool {
	return filepath.IsAbs(name) || strings.ContainsAny(name, `/\`)
}

// candidates lists the file names name may stand for, most specific first.
func candidates(name string) []string {
	if base, ok := strings.CutSuffix(name, ":latest"); ok {
		return []string{name, base}
	}
	return []string{name}
}

// validName reports whether name can be a file name in the models folder:
// no separators, no dot files, nothing that climbs out of the folder.
func validName(name string) bool {
	if name == "" || len(name) > 255 || name[0] == '.' || strings.ContainsAny(name, "/\\\x00") {
		return false
	}
	return true
}

// Chain is a Resolver that asks several in turn, so that one server can
// serve the models of a model store and the GGUF files of a folder:
// ondo serve uses Chain{resolver.New(store), DirResolver{Dir: dir}} (see
// package store/resolver).
//
// Resolve returns the first resolver's answer that is not ErrModelNotFound;
// when every one says not found, the error is the first one's. List merges
// the lists, sorted by name, leaving out an entry whose name an earlier
// resolver resolves (it could not be reached by that name). Delete deletes
// the model from the resolver that Resolve would use.
type Chain []Resolver

var _ Resolver = Chain(nil)

// Resolve implements Resolver.
func (c Chain) Resolve(name string) (string, error) {
	_, p, err := c.find(name)
	return p, err
}

// find returns the index of the resolver that has name, and its path.
func (c Chain) find(name string) (int, string, error) {
	var first error
	for i, r := range c {
		p, err := r.Resolve(name)
		if err == nil {
			return i, p, nil
		}
		if !errors.Is(err, ErrModelNotFound) {
			return i, "", err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%w: %q (no models are configured)", ErrModelNotFound, name)
	}
	return -1, "", first
}

// List implements Resolver.
func (c Chain) List() ([]ModelEntry, error) {
	var out []ModelEntry
	for i, r := range c {
		es, err := r.List()
		if err != nil {
			return nil, err
		}
	entries:
		for _, e := range es {
			for _, earlier := range c[:i] {
				if _, err := earlier.Resolve(e.Name); err == nil {
					continue entries // shadowed
				}
			}
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements Resolver.
func (c Chain) Delete(name string) error {
	i, _, err := c.find(name)
	if err != nil {
		return err
	}
	return c[i].Delete(name)
}
