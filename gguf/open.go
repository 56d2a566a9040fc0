package gguf

import (
	"fmt"
	"os"
)

// Open memory-maps the file at path read-only and parses it.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("gguf: %s is a directory", path)
	}
	data, unmap, mapped, err := mapFile(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf: map %s: %w", path, err)
	}
	size := st.Size()
	f, err := Parse(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	f.closer = unmap
	f.mapped = size > 0 && canRelease && mapped
	return f, nil
}

// Releaser returns a function that hands the resident pages of a part of
// f's tensor data back to the operating system, for a caller that has
// copied that part elsewhere (a repacked weight matrix), or nil when f's
// data is not a file mapping whose pages can be dropped and read back
// again (a file parsed from memory, or a platform without madvise). The
// released bytes stay readable: touching them reads them from the file
// again.
func (f *File) Releaser() func([]byte) {
	if !f.mapped {
		return nil
	}
	return releasePages
}
