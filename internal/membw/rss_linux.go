//go:build linux

package membw

import (
	"bufio"
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PeakRSS returns the process's peak resident set size in bytes: VmHWM from
// /proc/self/status, or getrusage's ru_maxrss (KiB on Linux) if that cannot
// be read; 0 if neither can.
func PeakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		if v, ok := statusKiB(b, "VmHWM:"); ok {
			return v * 1024
		}
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		return int64(ru.Maxrss) * 1024
	}
	return 0
}

// statusKiB parses a "Key:   1234 kB" line of a /proc status file.
func statusKiB(status []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		f := bytes.Fields(line[len(key):])
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || len(f) > 1 && string(f[1]) != "kB" {
			return 0, false
		}
		return v, true
	}
	return 0, false
}
