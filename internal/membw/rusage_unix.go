//go:build unix

package membw

import "golang.org/x/sys/unix"

// CPUSeconds returns the user and system CPU time the process has used, all
// threads together (getrusage), or 0 if it is unavailable.
func CPUSeconds() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
