package membw

import "testing"

func TestStatusKiB(t *testing.T) {
	st := []byte("Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t   2048 kB\n")
	if v, ok := statusKiB(st, "VmHWM:"); !ok || v != 2048 {
		t.Errorf("VmHWM = %d, %v", v, ok)
	}
	if _, ok := statusKiB(st, "VmRSS:"); ok {
		t.Error("missing key found")
	}
}
