package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// machineRedis is the machine's own Redis, for url-target tests only: the
// tests use streams named for themselves and delete them, and never stop,
// flush or flood it.
const machineRedis = "redis://127.0.0.1:6379/0"

func requireMachineRedis(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err == nil {
		c.Close()
	}
	if err != nil {
		err = fmt.Errorf("no Redis on 127.0.0.1:6379 for url-target tests: %w", err)
	}
	testenv.Require(t, "redis", err)
}

// TestConformanceURL runs the conformance suite on the machine's Redis by
// URL, each check on a stream of its own, deleted at the end.
func TestConformanceURL(t *testing.T) {
	t.Parallel()
	requireMachineRedis(t)
	open := func(ctx context.Context, spec broker.Spec, env broker.Env) (*broker.Target, error) {
		spec.Target, spec.URL = broker.TargetURL, machineRedis
		spec.Destination = "mqcheck-test-" + spec.Destination
		return redis.Open(ctx, fast(), spec, env)
	}
	brokertest.Run(t, brokertest.Harness{
		Open:           open,
		OpenWithSecret: openWithSecret,
		Caps: brokertest.Caps{Unsupported: map[string]string{
			brokertest.CapRestart: "the machine's Redis is never restarted by tests (target exec is)",
		}},
	})
}

// startAuthServer starts a redis-server of the test's own that wants a
// password for the default user and has an ACL user alice.
func startAuthServer(t *testing.T) string {
	t.Helper()
	port, _ := startTestServer(t, "--port", "--requirepass", "defaultpw")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := goredis.NewClient(&goredis.Options{Addr: addr, Password: "defaultpw", MaxRetries: -1, DisableIdentity: true})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, "ACL", "SETUSER", "alice", "on", ">alicepw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestURLAuth: a url target with the default user's password or an ACL
// user publishes and consumes; a wrong password is refused (not
// unreachable), and no error shows it.
func TestURLAuth(t *testing.T) {
	t.Parallel()
	addr := startAuthServer(t)
	for _, tc := range []struct {
		name, userinfo string
		ok             bool
	}{
		{"password", ":defaultpw", true},
		{"acl user", "alice:alicepw", true},
		{"wrong password", "alice:wrongpw-7f3a", false},
		{"no password", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			u := "redis://" + addr + "/0"
			if tc.userinfo != "" {
				u = "redis://" + tc.userinfo + "@" + addr + "/0"
			}
			tgt, err := redis.Open(ctx, fast(), broker.Spec{Target: broker.TargetURL, URL: u, Destination: "auth-" + strings.ReplaceAll(tc.name, " ", "-")},
				broker.Env{RunID: "auth", Dir: t.TempDir()})
			if !tc.ok {
				switch {
				case err == nil:
					t.Fatal("opened with a wrong password")
				case errors.Is(err, broker.ErrUnreachable):
					t.Errorf("a refusal reported as unreachable: %v", err)
				case strings.Contains(err.Error(), "wrongpw"):
					t.Errorf("the password shows: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			closeTarget(t, tgt)
			if strings.Contains(tgt.Description, "defaultpw") || strings.Contains(tgt.Description, "alicepw") {
				t.Errorf("the description shows the password: %s", tgt.Description)
			}
			if err := tgt.Driver.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(ctx, t, tgt.Driver, 20); got != 20 {
				t.Errorf("received %d of 20", got)
			}
		})
	}
}

// roundTrip publishes n messages and returns how many one consumer
// received within the context.
func roundTrip(ctx context.Context, t *testing.T, d broker.Driver, n int) int {
	t.Helper()
	acked := make(chan broker.Outcome, n)
	p, err := d.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, _ error) { acked <- o }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		if err := p.Publish(ctx, &broker.Message{Seq: uint64(i), Payload: []byte("payload-" + strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if o := <-acked; o != broker.Acked {
			t.Fatalf("outcome %v", o)
		}
	}
	c, err := d.NewConsumer(ctx, broker.ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_ = c.Run(rctx, func(*broker.Delivery) error {
		got++
		if got == n {
			cancel()
		}
		return nil
	})
	_ = c.Close()
	return got
}
