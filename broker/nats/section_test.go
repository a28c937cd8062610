package nats_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/units"
)

func intp(n int) *int { return &n }

// TestValidate: each bad value is reported naming its field; defaults are
// valid.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    nats.Config
		want string // field named; "" means valid
	}{
		{nats.Config{}, ""},
		{nats.Config{MaxDeliver: intp(0)}, "broker.nats.max_deliver"},
		{nats.Config{MaxDeliver: intp(-2)}, "broker.nats.max_deliver"},
		{nats.Config{MaxDeliver: intp(3)}, ""},
		{nats.Config{AckPolicy: "maybe"}, "broker.nats.ack_policy"},
		{nats.Config{Mode: "fast"}, "broker.nats.mode"},
		{nats.Config{Storage: "disk"}, "broker.nats.storage"},
		{nats.Config{Retention: "forever"}, "broker.nats.retention"},
		{nats.Config{Discard: "newest"}, "broker.nats.discard"},
		{nats.Config{Consumer: "poll"}, "broker.nats.consumer"},
		{nats.Config{Replicas: 6}, "broker.nats.replicas"},
		{nats.Config{MaxMsgs: -1}, "broker.nats.max_msgs"},
		{nats.Config{DuplicateWindow: units.Duration(120e9), MaxAge: units.Duration(60e9)}, "broker.nats.duplicate_window"},
		{nats.Config{AckWait: units.Duration(1e6)}, "broker.nats.ack_wait"},
		{nats.Config{SyncInterval: "sometimes"}, "broker.nats.sync_interval"},
		{nats.Config{SyncInterval: "always"}, ""},
		{nats.Config{SyncInterval: "1s"}, ""},
		{nats.Config{Cluster: 2}, "broker.nats.cluster"},
		{nats.Config{Mode: "core", Storage: "file"}, "broker.nats.storage"},
		{nats.Config{Mode: "core", MaxDeliver: intp(3)}, "broker.nats.max_deliver"},
		{nats.Config{Reject: "ignore"}, "broker.nats.reject"},
		{nats.Config{Reject: "no-ack"}, ""},
		{nats.Config{Mode: "core", Reject: "no-ack"}, "broker.nats.reject"},
		{nats.Config{CertFile: "c.pem"}, "broker.nats.cert_file"},
		{nats.Config{Password: "x"}, "broker.nats.password"},
	} {
		c := tc.c
		for _, defaults := range []bool{false, true} {
			if defaults {
				c.ApplyDefaults()
			}
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%+v (defaults %v): %v, want valid", tc.c, defaults, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("%+v (defaults %v): %v, want a problem with %s", tc.c, defaults, err, tc.want)
			}
			var fe *broker.FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("%+v: %v is no FieldError", tc.c, err)
			}
		}
	}
}

// TestCheckSpec: combinations with the rest of the scenario that cannot
// give an answer are refused naming the field.
func TestCheckSpec(t *testing.T) {
	old, current := fakeServer(t, "2.9.10"), fakeServer(t, "2.10.0")
	for _, tc := range []struct {
		c    nats.Config
		spec broker.Spec
		want string
	}{
		{nats.Config{}, broker.Spec{}, ""},
		{nats.Config{Mode: "core"}, broker.Spec{Claims: []string{"at-most-once", "jetstream-dedupe"}}, "claims.1"},
		{nats.Config{}, broker.Spec{Claims: []string{"jetstream-dedupe"}}, "broker.nats.duplicate_sends"},
		{nats.Config{DuplicateSends: 10}, broker.Spec{Claims: []string{"jetstream-dedupe"}}, ""},
		{nats.Config{DuplicateSends: 10, DuplicateWindow: units.Duration(time.Second), DuplicateDelay: units.Duration(2 * time.Second)},
			broker.Spec{Claims: []string{"jetstream-dedupe"}}, "broker.nats.duplicate_delay"},
		{nats.Config{DuplicateSends: 10, DuplicateWindow: units.Duration(time.Second), DuplicateDelay: units.Duration(2 * time.Second)},
			broker.Spec{Claims: []string{"exactly-once"}}, ""},
		{nats.Config{Replicas: 3}, broker.Spec{}, "broker.nats.replicas"},
		{nats.Config{Replicas: 3, Cluster: 3}, broker.Spec{}, ""},
		{nats.Config{Replicas: 3}, broker.Spec{Target: broker.TargetURL}, ""},
		{nats.Config{Replicas: 3, Cluster: 3}, broker.Spec{Target: broker.TargetExec}, "broker.nats.replicas"},
		{nats.Config{SyncInterval: "always", Server: old}, broker.Spec{Target: broker.TargetExec}, "broker.nats.sync_interval"},
		{nats.Config{SyncInterval: "1s", Server: old}, broker.Spec{Target: broker.TargetExec}, "it came in 2.10.0"},
		{nats.Config{Server: old}, broker.Spec{Target: broker.TargetExec}, ""},
		{nats.Config{SyncInterval: "always", Server: current}, broker.Spec{Target: broker.TargetExec}, ""},
		{nats.Config{SyncInterval: "always", Server: filepath.Join(t.TempDir(), "none")}, broker.Spec{Target: broker.TargetExec}, "broker.nats.server"},
		{nats.Config{SyncInterval: "always", Server: t.TempDir()}, broker.Spec{Target: broker.TargetExec}, "broker.nats.server"},
		{nats.Config{Server: current}, broker.Spec{}, "broker.nats.server"},
		{nats.Config{SyncInterval: "always"}, broker.Spec{}, ""},
		{nats.Config{Retention: "workqueue"}, broker.Spec{Subscriptions: 2}, "consumers.subscriptions"},
		{nats.Config{Retention: "interest"}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailDeadLetter}, "consumers.fail_action"},
		{nats.Config{AckPolicy: "none"}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailRequeue}, "consumers.fail_fraction"},
		{nats.Config{Mode: "core"}, broker.Spec{FailFraction: 0.1}, "consumers.fail_fraction"},
		{nats.Config{Reject: "no-ack"}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailDeadLetter}, "broker.nats.reject"},
		{nats.Config{Reject: "no-ack", MaxDeliver: intp(3)}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailDeadLetter}, ""},
		{nats.Config{Reject: "no-ack"}, broker.Spec{FailFraction: 0.1, FailAction: broker.FailRequeue}, ""},
		{nats.Config{}, broker.Spec{Destination: "a.b"}, "broker.destination"},
	} {
		c := tc.c
		c.ApplyDefaults()
		err := c.CheckSpec(tc.spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v %+v: %v, want accepted", tc.c, tc.spec, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v %+v: %v, want a problem with %s", tc.c, tc.spec, err, tc.want)
		}
	}
}

// fakeServer is a script that answers --version as nats-server v.
func fakeServer(t *testing.T, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats-server")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho 'nats-server: v"+v+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDebianServerHasNoSync: Debian's nats-server says it is 2.9.10, and
// sync_interval on it is refused naming the version.
func TestDebianServerHasNoSync(t *testing.T) {
	_, err := os.Stat(nats.ExecServer)
	testenv.Require(t, "nats", err)
	c := nats.Config{SyncInterval: "always", Server: nats.ExecServer}
	c.ApplyDefaults()
	err = c.CheckSpec(broker.Spec{Target: broker.TargetExec})
	if err == nil || !strings.Contains(err.Error(), "nats-server 2.9.10 (/usr/sbin/nats-server) has no sync_interval") {
		t.Errorf("%v: want sync_interval refused on 2.9.10", err)
	}
}

// TestFindServer: the exec target runs broker.nats.server when set, else
// the one `make nats-server` put in the user cache dir, else nats-server
// on PATH, else Debian's.
func TestFindServer(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	own := fakeServer(t, "2.11.0")
	if p, err := nats.FindServer(own); p != own || err != nil {
		t.Errorf("FindServer(%s) = %s, %v", own, p, err)
	}
	t.Setenv("PATH", filepath.Dir(own))
	if p, err := nats.FindServer("nats-server"); p != own || err != nil {
		t.Errorf("FindServer(nats-server) = %s, %v; want the one on PATH, %s", p, err, own)
	}
	if _, err := nats.FindServer(filepath.Join(cache, "none")); err == nil {
		t.Error("FindServer of a missing file: no error")
	}
	built := filepath.Join(cache, "mqcheck", "nats-server-"+nats.ServerVersion)
	if nats.CachedServer() != built {
		t.Fatalf("CachedServer() = %s, want %s", nats.CachedServer(), built)
	}
	onPath := fakeServer(t, "2.9.10")
	t.Setenv("PATH", filepath.Dir(onPath))
	if p, err := nats.FindServer(""); p != onPath || err != nil {
		t.Errorf("FindServer() with nothing built = %s, %v; want the one on PATH, %s", p, err, onPath)
	}
	if err := os.MkdirAll(filepath.Dir(built), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(built, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := nats.FindServer(""); p != built || err != nil {
		t.Errorf("FindServer() = %s, %v; want the one built, %s", p, err, built)
	}
}
