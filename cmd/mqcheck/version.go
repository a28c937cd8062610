package main

import (
	"runtime/debug"
	"strings"
)

// toolVersion is mqcheck's version: what -ldflags set (release builds, the
// Dockerfile), else what the Go toolchain stamped into the binary, so that
// `go install ...@v1.2.3` says v1.2.3 and a build from a clone names its
// commit.
func toolVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return versionOf(version, bi)
}

// versionOf is the version for an -ldflags value and build information
// (nil when there is none): the module version (a pseudo-version such as
// v0.0.0-20261128161500-0123456789ab+dirty for a build in a clone), else
// "dev" with the VCS revision and whether the tree was modified.
func versionOf(set string, bi *debug.BuildInfo) string {
	if set != "" && set != "dev" {
		return set
	}
	if bi == nil {
		return "dev"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var notes []string
	if rev != "" && !strings.Contains(v, rev) {
		notes = append(notes, "commit "+rev)
	}
	if modified && !strings.Contains(v, "+dirty") {
		notes = append(notes, "modified")
	}
	if len(notes) > 0 {
		v += " (" + strings.Join(notes, ", ") + ")"
	}
	return v
}
