//go:build !amd64

package membw

// sum is Sum: other architectures use the portable loop.
func sum(w []uint64) uint64 { return Sum(w) }
