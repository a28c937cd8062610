package plural

import "testing"

func TestOf(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "0 examples"}, {1, "1 example"}, {2, "2 examples"}, {-1, "-1 example"}} {
		if got := Of(tt.n, "example"); got != tt.want {
			t.Errorf("Of(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := Word(1, "subscription"); got != "subscription" {
		t.Errorf("Word(1) = %q", got)
	}
}
