package container

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
)

func TestCheckImage(t *testing.T) {
	for image, ok := range map[string]bool{
		"rabbitmq:4": true, "localhost/mqcheck-test/redis:7.0": true, "ghcr.io/a/b@sha256:" + strings.Repeat("a", 64): true,
		"": false, "Not A/valid::image": false, "UPPER:1": false,
	} {
		err := CheckImage("broker.image", image)
		var fe *broker.FieldError
		if (err == nil) != ok || (err != nil && (!errors.As(err, &fe) || fe.Field != "broker.image")) {
			t.Errorf("CheckImage(%q) = %v, want ok %v (a broker.image problem otherwise)", image, err, ok)
		}
	}
}

func TestCheckPorts(t *testing.T) {
	want := []string{"5672/tcp"}
	for _, tc := range []struct {
		ports []string
		fixed bool
		err   string
	}{
		{nil, false, ""},
		{nil, true, ""},
		{[]string{"5673/tcp"}, false, ""},
		{[]string{"5673"}, false, ""},
		{[]string{"5673/udp"}, false, "only tcp"},
		{[]string{"0/tcp"}, false, "not a TCP port"},
		{[]string{"1/tcp", "2/tcp"}, false, "listens on 1"},
		{[]string{"5673/tcp"}, true, "sets its listeners itself"},
	} {
		err := CheckPorts("broker.ports", tc.ports, want, tc.fixed)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckPorts(%v, fixed %v) = %v, want %q", tc.ports, tc.fixed, err, tc.err)
		}
	}
}

func TestCheckMounts(t *testing.T) {
	if err := CheckMounts("broker.mounts", []string{"/usr:/usr:ro", "/a:/b", "/a:/b:rw"}); err != nil {
		t.Errorf("good mounts: %v", err)
	}
	for _, m := range []string{"usr:/usr", "/usr", "/usr:/usr:xx", "/a:b"} {
		if err := CheckMounts("broker.mounts", []string{m}); err == nil || !strings.Contains(err.Error(), "broker.mounts") {
			t.Errorf("CheckMounts(%q) = %v, want a problem naming broker.mounts", m, err)
		}
	}
}

// TestFindEngine: without an engine the error is ErrNoEngine (exit 3) and
// names DOCKER_HOST and what it looked at.
func TestFindEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, err := findEngine()
	if !errors.Is(err, ErrNoEngine) || !errors.Is(err, broker.ErrUnreachable) || !strings.Contains(err.Error(), "DOCKER_HOST=unix:///nonexistent/docker.sock") {
		t.Errorf("DOCKER_HOST at nothing: %v", err)
	}
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	host, err := findEngine()
	if err == nil {
		// A machine with a Docker socket finds it.
		if !strings.HasPrefix(host, "unix://") {
			t.Errorf("found %q", host)
		}
		return
	}
	// Every socket looked at, or the Podman socket found and the line to
	// export.
	named := strings.Contains(err.Error(), "/var/run/docker.sock") || strings.Contains(err.Error(), "export DOCKER_HOST=unix:///run/podman/podman.sock")
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "DOCKER_HOST") || !named {
		t.Errorf("no socket: %v", err)
	}
}
