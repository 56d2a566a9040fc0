//go:build !unix

package membw

// PeakRSS returns 0: this platform has no peak resident set size that the
// package reads (on Windows it would be the job's PeakWorkingSetSize).
func PeakRSS() int64 { return 0 }

// CPUSeconds returns 0: this platform's process CPU time is not read.
func CPUSeconds() float64 { return 0 }
