package db

import "testing"

func TestIDSet(t *testing.T) {
	for _, c := range []struct {
		ids  []int64
		want string
	}{{[]int64{7}, "(7)"}, {[]int64{1, 22, -3}, "(1,22,-3)"}} {
		if got := IDSet(c.ids); got != c.want {
			t.Errorf("IDSet(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
}
