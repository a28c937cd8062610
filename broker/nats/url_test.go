package nats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/nats"
	"github.com/mqcheck/mqcheck/broker/nats/natstest"
)

// TestURLAuth: a url target reaches a server that wants a token, or a
// user and password (in the section or in the URL), and is refused with
// wrong ones, without the secret in the error.
func TestURLAuth(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-url-auth"
	tokenSrv := natstest.Start(t, server.Options{Authorization: secret})
	userSrv := natstest.Start(t, server.Options{Username: "mq", Password: secret})
	for _, tc := range []struct {
		name string
		url  string
		cfg  nats.Config
		ok   bool
	}{
		{"token", "nats://" + tokenSrv, nats.Config{Token: secret}, true},
		{"token in the url", "nats://" + secret + "@" + tokenSrv, nats.Config{}, true},
		{"wrong token", "nats://" + tokenSrv, nats.Config{Token: secret + "x"}, false},
		{"user and password", "nats://" + userSrv, nats.Config{User: "mq", Password: secret}, true},
		{"user and password in the url", "nats://mq:" + secret + "@" + userSrv, nats.Config{}, true},
		{"wrong password", "nats://" + userSrv, nats.Config{User: "mq", Password: secret + "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tgt, err := nats.Open(ctx, &tc.cfg, broker.Spec{Target: broker.TargetURL, URL: tc.url}, broker.Env{RunID: "auth", Dir: t.TempDir()})
			if err == nil {
				defer func() {
					tgt.Driver.Close(ctx)
					tgt.Close(ctx)
				}()
				err = tgt.Driver.Setup(ctx)
				if strings.Contains(tgt.Description, secret) {
					t.Errorf("description %q shows the secret", tgt.Description)
				}
			}
			switch {
			case tc.ok && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Error("accepted wrong credentials")
			case err != nil && strings.Contains(err.Error(), secret):
				t.Errorf("the error shows the secret: %v", err)
			case !tc.ok && !errors.Is(err, broker.ErrUnreachable):
				t.Errorf("%v: want ErrUnreachable", err)
			}
		})
	}
}

// TestURLKeepsAStreamThatWasThere: a run on a stream that existed before
// uses it and leaves it, deleting only its own consumers; a stream the
// run created goes at the end unless kept.
func TestURLKeepsAStreamThatWasThere(t *testing.T) {
	t.Parallel()
	addr := natstest.Start(t, server.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(run string, keep bool) *broker.Target {
		tgt, err := nats.Open(ctx, &nats.Config{}, broker.Spec{Target: broker.TargetURL, URL: "nats://" + addr, Destination: "pre", Keep: keep},
			broker.Env{RunID: run, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := tgt.Driver.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		return tgt
	}
	first := open("first", true)
	first.Driver.Close(ctx)
	second := open("second", false)
	if err := second.Driver.Close(ctx); err != nil {
		t.Fatal(err)
	}
	nc, err := natsgo.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "pre")
	if err != nil {
		t.Fatalf("the stream that was there is gone: %v", err)
	}
	var names []string
	for n := range s.ConsumerNames(ctx).Name() {
		names = append(names, n)
	}
	if len(names) != 1 || names[0] != "mqcheck-first-s0" {
		t.Errorf("consumers %v: want the kept run's only", names)
	}
}
