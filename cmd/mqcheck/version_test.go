package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionOf: a binary says which mqcheck it is without -ldflags:
// go install's module version, or the commit it was built from.
func TestVersionOf(t *testing.T) {
	vcs := func(v string, kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/mqcheck/mqcheck", Version: v}}
		for i := 0; i < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, tt := range []struct {
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"v1.0.0", vcs("v0.9.0"), "v1.0.0"}, // -ldflags wins
		{"dev", vcs("v1.2.3"), "v1.2.3"},    // go install ...@v1.2.3
		{"dev", vcs("v0.0.0-20261128161500-0123456789ab+dirty", "vcs.revision", "0123456789abcdef", "vcs.modified", "true"),
			"v0.0.0-20261128161500-0123456789ab+dirty"},
		{"dev", vcs("(devel)", "vcs.revision", "0123456789abcdef", "vcs.modified", "true"), "dev (commit 0123456789ab, modified)"},
		{"dev", vcs("(devel)", "vcs.revision", "0123456789abcdef", "vcs.modified", "false"), "dev (commit 0123456789ab)"},
		{"dev", vcs("(devel)"), "dev"},
		{"dev", nil, "dev"},
	} {
		if got := versionOf(tt.set, tt.bi); got != tt.want {
			t.Errorf("versionOf(%q, %v) = %q, want %q", tt.set, tt.bi, got, tt.want)
		}
	}
}

// TestVersionFlag: --version works as `mqcheck version` does.
func TestVersionFlag(t *testing.T) {
	code, out, errOut := mqcheck(t, "--version")
	_, want, _ := mqcheck(t, "version")
	if code != 0 || out != want || !strings.HasPrefix(out, "mqcheck ") {
		t.Errorf("--version: exit %d, %q (version says %q)%s", code, out, want, errOut)
	}
}
