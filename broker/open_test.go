package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mqcheck/mqcheck/broker"
)

type openCfg struct{ N int }

func (c *openCfg) Validate() error {
	if c.N < 0 {
		return broker.Problem("broker.x.n", "must not be negative")
	}
	return nil
}

func (c *openCfg) ApplyDefaults() {
	if c.N == 0 {
		c.N = 7
	}
}

func (c *openCfg) CheckSpec(s broker.Spec) error {
	if s.Subscriptions > 1 {
		return broker.Problem("consumers.subscriptions", "one only")
	}
	return nil
}

// TestOpenTarget: the first opener is the default, a named target gets its
// own, the opener sees a copy with defaults (the caller's is left alone),
// and a bad configuration or an unknown target is a configuration error.
func TestOpenTarget(t *testing.T) {
	var seen string
	var got int
	opener := func(name string) broker.Opener[*openCfg] {
		return func(_ context.Context, c *openCfg, _ broker.Spec, _ broker.Env) (*broker.Target, error) {
			seen, got = name, c.N
			return &broker.Target{Description: name}, nil
		}
	}
	open := func(c *openCfg, spec broker.Spec) error {
		seen, got = "", 0
		_, err := broker.OpenTarget(context.Background(), "x", c, spec, broker.Env{},
			broker.TargetOpener[*openCfg]{Target: broker.TargetExec, Open: opener("exec")},
			broker.TargetOpener[*openCfg]{Target: broker.TargetURL, Open: opener("url")})
		return err
	}
	mine := &openCfg{}
	for _, tc := range []struct {
		name    string
		c       *openCfg
		spec    broker.Spec
		want    string
		wantN   int
		problem string
	}{
		{"default target", nil, broker.Spec{}, "exec", 7, ""},
		{"named target", mine, broker.Spec{Target: broker.TargetURL}, "url", 7, ""},
		{"set value kept", &openCfg{N: 3}, broker.Spec{}, "exec", 3, ""},
		{"invalid", &openCfg{N: -1}, broker.Spec{}, "", 0, "broker.x.n"},
		{"spec misfit", nil, broker.Spec{Subscriptions: 2}, "", 0, "consumers.subscriptions"},
		{"unknown target", nil, broker.Spec{Target: broker.TargetEmbedded}, "", 0, `target "embedded" is not supported (exec, url)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := open(tc.c, tc.spec)
			switch {
			case tc.problem == "" && err != nil:
				t.Fatalf("OpenTarget: %v", err)
			case tc.problem != "" && (!errors.Is(err, broker.ErrConfig) || !strings.Contains(err.Error(), tc.problem)):
				t.Fatalf("OpenTarget: %v, want a configuration error naming %s", err, tc.problem)
			}
			if seen != tc.want || got != tc.wantN {
				t.Errorf("opened %q with n %d, want %q with %d", seen, got, tc.want, tc.wantN)
			}
		})
	}
	if mine.N != 0 {
		t.Errorf("the caller's configuration was changed: n %d", mine.N)
	}
}
