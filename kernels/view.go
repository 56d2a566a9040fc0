package kernels

import (
	"encoding/binary"
	"unsafe"
)

// littleEndian reports whether float32 in memory has GGUF's byte order, so
// that F32 weights can be read in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// nativeF32 reports whether b can be viewed as []float32 in place: native
// little-endian order and 4-byte alignment (GGUF aligns tensor data to 32
// bytes, so mapped weights always are).
func nativeF32(b []byte) bool {
	return littleEndian && (len(b) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0)
}

// f32View returns b as float32s without copying; b must satisfy nativeF32
// and hold a multiple of 4 bytes.
func f32View(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}
