//go:build !amd64 && !arm64

package kernels

// selectKernels keeps the portable kernels: there is no assembly for this
// architecture yet.
func selectKernels() {}
