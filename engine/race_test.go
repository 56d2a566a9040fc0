//go:build race

package engine_test

// raceEnabled: the race detector slows the kernels tenfold or more, so the
// longest tests do less under it.
const raceEnabled = true
