package broker

import "testing"

func TestSharedWindow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                          string
		window, producers, size, want int
	}{
		{"one producer keeps its window", 50000, 1, 1024, 50000},
		{"few producers fit", 1000, 4, 1024, 1000},
		{"1,000 producers of 100 B share 32 MiB", 1000, 1000, 100, 147},
		{"one producer's window is the share when larger", 50000, 4, 1024, 12500},
		{"10,000 producers get the floor", 1000, 10000, 1024, 16},
		{"a window below the floor stays", 5, 10000, 1024, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SharedWindow(tc.window, tc.producers, tc.size); got != tc.want {
				t.Errorf("SharedWindow(%d, %d, %d) = %d, want %d", tc.window, tc.producers, tc.size, got, tc.want)
			}
		})
	}
}
