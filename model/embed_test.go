package model

import (
	"testing"
)

// TestPooling checks pooling names, the pooling of rows and the argument
// checks every Embed starts with.
func TestPooling(t *testing.T) {
	for i, name := range []string{"none", "mean", "cls", "last"} {
		p, err := ParsePooling(name)
		if err != nil || p != Pooling(i) || p.String() != name {
			t.Errorf("%s: %v %v %q", name, p, err, p.String())
		}
	}
	if _, err := ParsePooling("max"); err == nil {
		t.Error("max: no error")
	}
	if s := Pooling(7).String(); s != "pooling(7)" {
		t.Errorf("String of 7: %q", s)
	}

	hidden := []float32{1, 2, 3, 4, 5, 6} // 3 rows of 2
	dst := make([]float32, 2)
	for _, tc := range []struct {
		p    Pooling
		want [2]float32
	}{
		{PoolingMean, [2]float32{3, 4}}, {PoolingCLS, [2]float32{1, 2}},
		{PoolingLast, [2]float32{5, 6}}, {PoolingNone, [2]float32{5, 6}},
	} {
		PoolRows(dst, hidden, 3, 2, tc.p)
		if [2]float32(dst) != tc.want {
			t.Errorf("%v: %v, want %v", tc.p, dst, tc.want)
		}
	}

	info := Info{Arch: "x", VocabSize: 10, EmbeddingLength: 2}
	for _, tc := range []struct {
		toks []int32
		dst  int
		p    Pooling
		want string
	}{
		{[]int32{1}, 2, PoolingMean, ""},
		{nil, 2, PoolingMean, "x: nothing to embed: no tokens"},
		{[]int32{1, 2, 3}, 2, PoolingMean, "x: 3 tokens exceed the context length 2"},
		{[]int32{10}, 2, PoolingMean, "x: token 10 at index 0 out of range [0, 10)"},
		{[]int32{1}, 1, PoolingMean, "x: embedding buffer of 1 for 2 dimensions"},
		{[]int32{1}, 2, Pooling(-1), "x: unknown pooling -1"},
	} {
		err := CheckEmbed(info, tc.toks, tc.p, make([]float32, tc.dst), 2)
		if (err == nil) != (tc.want == "") || err != nil && err.Error() != tc.want {
			t.Errorf("%v: error %v, want %q", tc.toks, err, tc.want)
		}
	}
}
