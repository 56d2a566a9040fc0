package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/quantize"
)

// Create imports the GGUF file at file as the model called name, replacing
// any model of that name. The file is checked to be a GGUF that parses,
// then hard-linked into the blobs folder when it is on the same file system
// (no copy, no extra space) or else copied, and hashed; the manifest is
// written once the blob is in place.
//
// A hard link shares the file's data: a blob made from a file that is later
// modified in place changes with it (tools that write a new file and rename
// it, as ondo quantize does, are harmless).
func (s *Store) Create(name, file string) (*Manifest, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("store: create %q: %w", name, err)
	}
	quant, err := checkGGUF(abs)
	if err != nil {
		return nil, fmt.Errorf("store: create %q: %s is not a usable GGUF file: %w", name, file, err)
	}
	tmp, sum, size, err := s.importFile(abs)
	if err != nil {
		return nil, fmt.Errorf("store: create %q from %s: %w", name, file, err)
	}
	defer os.Remove(tmp) // gone already once renamed
	m := &Manifest{
		Digest: "sha256:" + sum,
		Size:   size,
		Quant:  quant,
		Source: Source{Type: SourceFile, File: abs},
	}
	if err := s.commit(context.Background(), n, m, []move{{from: tmp, sum: sum}}); err != nil {
		return nil, err
	}
	return m, nil
}

// checkGGUF parses the GGUF file at p and returns its file type's name
// (general.file_type), or "" when it has none.
func checkGGUF(p string) (string, error) {
	f, err := gguf.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if ft, err := f.Int("general.file_type"); err == nil && ft >= 0 {
		if name := quantize.FileType(ft).String(); name != "" {
			return name, nil
		}
	}
	return "", nil
}

// importFile puts the contents of file into a temporary file in the blobs
// folder, by hard link or copy, and returns its path, sha256 and size.
func (s *Store) importFile(file string) (tmp, sum string, size int64, err error) {
	blobs := filepath.Join(s.dir, "blobs")
	f, err := createTemp(blobs, "import")
	if err != nil {
		return "", "", 0, err
	}
	name := f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(name)
		}
	}()
	tmp = name
	// The link replaces the empty file just made; os.Link refuses to
	// overwrite, so remove it first (its name stays ours: dot-files in
	// blobs are only ever made with random names).
	os.Remove(tmp)
	if linkFile(file, tmp) == nil {
		sum, size, err = hashFile(tmp)
		return tmp, sum, size, err
	}
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return "", "", 0, err
	}
	in, err := os.Open(file)
	if err != nil {
		out.Close()
		return "", "", 0, err
	}
	defer in.Close()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(writeHook(out), h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", 0, err
	}
	return tmp, hex.EncodeToString(h.Sum(nil)), size, nil
}

// linkFile is os.Link; tests replace it to force a copy.
var linkFile = os.Link

// hashFile returns the sha256 and size of the file at p.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// move is a verified file to move into the blobs folder: its path, its
// sha256, and the open file that holds its lock, if any.
type move struct {
	from string
	sum  string
	f    *os.File
}

// commit makes a model visible: under the store lock, it moves each
// verified file to its blob, checks that m's blob is there with m's size,
// and writes m as the manifest of n. Blobs it added are removed again if
// the manifest cannot be written.
func (s *Store) commit(ctx context.Context, n Name, m *Manifest, moves []move) (err error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var moved []string // blobs new to the store
	defer func() {
		if err == nil {
			return
		}
		for _, sum := range moved {
			if used, uerr := s.inUse("sha256:" + sum); uerr == nil && !used {
				os.Remove(s.blobFile(sum))
			}
		}
	}()
	for _, mv := range moves {
		blob := s.blobFile(mv.sum)
		if mv.f != nil && runtime.GOOS == "windows" {
			mv.f.Close() // Windows renames no open file
		}
		if _, err := os.Stat(blob); err == nil {
			if mv.f != nil {
				mv.f.Close()
			}
			os.Remove(mv.from) // the same bytes are there already
			continue
		}
		if err := os.Rename(mv.from, blob); err != nil {
			if _, serr := os.Stat(blob); serr == nil {
				continue // another pull moved the same file meanwhile
			}
			return fmt.Errorf("store: %q: %w", n.String(), err)
		}
		moved = append(moved, mv.sum)
	}
	syncDir(filepath.Join(s.dir, "blobs"))
	st, err := os.Stat(s.blobFile(m.Hex()))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %q: its file %s was removed meanwhile; try again", n.String(), m.Digest)
	}
	if err != nil {
		return fmt.Errorf("store: %q: %w", n.String(), err)
	}
	if st.Size() != m.Size {
		return fmt.Errorf("store: %q: blob %s is %d bytes, want %d", n.String(), m.Digest, st.Size(), m.Size)
	}
	return s.writeManifest(n, m)
}
