package kernels

import (
	"fmt"
	"sync"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// Matrix is a weight matrix in its stored encoding: Rows rows of Cols
// elements of type Type, row-major, Data holding exactly Rows row encodings.
// Data is usually a view into a memory-mapped GGUF file and is never
// modified. In GGUF terms Cols is the tensor's ne0 and Rows its ne1.
type Matrix struct {
	Type       tensor.Type
	Rows, Cols int
	Data       []byte

	rowBytes int

	// Repacking (pack.go): release hands Data's pages back once MatMul
	// has its packed copy.
	release  func([]byte)
	packOnce sync.Once
	packed   []byte
}

// SetRelease tells MatMul that m.Data lies in a read-only file mapping and
// that release(m.Data) hands its pages back to the operating system while
// leaving them readable (they are read from the file again if touched).
// MatMul may then, on first use, copy m into a layout its kernels read
// faster and release the original, so that the weights are not held
// twice. Row, GetRow and Vector keep reading m.Data. Without SetRelease m
// is always read as stored. Call it before m is first used.
func (m *Matrix) SetRelease(release func([]byte)) { m.release = release }

// Slice returns the view of rows [lo, lo+n) of m, which shares its data
// (and its release, so that it too may be repacked).
func (m *Matrix) Slice(lo, n int) (*Matrix, error) {
	if lo < 0 || n <= 0 || lo+n > m.Rows {
		return nil, fmt.Errorf("kernels: rows [%d, %d) of a matrix of %d", lo, lo+n, m.Rows)
	}
	rb := m.RowBytes()
	s, err := NewMatrix(m.Type, n, m.Cols, m.Data[lo*rb:(lo+n)*rb:(lo+n)*rb])
	if err != nil {
		return nil, err
	}
	s.release = m.release
	return s, nil
}

// NewMatrix checks that data holds rows×cols elements of type t and that t
// can be decoded, and returns the matrix view.
func NewMatrix(t tensor.Type, rows, cols int, data []byte) (*Matrix, error) {
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("kernels: matrix of %d×%d", rows, cols)
	}
	if !quant.DequantizeSupported(t) {
		return nil, fmt.Errorf("kernels: tensor type %v is not supported", t)
	}
	rb, err := t.RowSize(int64(cols))
	if err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	if want := rb * int64(rows); int64(len(data)) != want {
		return nil, fmt.Errorf("kernels: %v matrix %d×%d needs %d bytes, have %d", t, rows, cols, want, len(data))
	}
	return &Matrix{Type: t, Rows: rows, Cols: cols, Data: data, rowBytes: int(rb)}, nil
}

// RowBytes returns the encoded size of one row.
func (m *Matrix) RowBytes() int {
	if m.rowBytes == 0 {
		rb, _ := m.Type.RowSize(int64(m.Cols))
		m.rowBytes = int(rb)
	}
	return m.rowBytes
}

// Row returns the encoded bytes of row i.
func (m *Matrix) Row(i int) []byte {
	rb := m.RowBytes()
	return m.Data[i*rb : (i+1)*rb : (i+1)*rb]
}

// GetRow decodes row i of m into dst[:m.Cols]. Models use it for embedding
// lookups, where one row per token is all that is needed.
func GetRow(dst []float32, m *Matrix, i int) error {
	if i < 0 || i >= m.Rows {
		return fmt.Errorf("kernels: row %d out of range [0, %d)", i, m.Rows)
	}
	if len(dst) < m.Cols {
		return fmt.Errorf("kernels: row of %d elements into a buffer of %d", m.Cols, len(dst))
	}
	return quant.Dequantize(m.Type, m.Row(i), dst[:m.Cols])
}

// Vector decodes all of m (typically a 1-row norm weight or bias) into a new
// float32 slice.
func Vector(m *Matrix) ([]float32, error) {
	out := make([]float32, m.Rows*m.Cols)
	if err := quant.Dequantize(m.Type, m.Data, out); err != nil {
		return nil, fmt.Errorf("kernels: %w", err)
	}
	return out, nil
}
