//go:build !race

package containertest

const raceEnabled = false
