package redis_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// TestURLTLS: a rediss:// url target with the server's CA in tls.ca_file
// publishes and consumes; without the CA the certificate is refused.
func TestURLTLS(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	cert, key := testenv.WriteCert(t, certDir)
	port, _ := startTestServer(t, "--tls-port", "--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", cert,
		"--tls-auth-clients", "no")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := "rediss://" + addr + "/0"
	if _, err := redis.Open(ctx, fast(), broker.Spec{Target: broker.TargetURL, URL: url, Destination: "tls-noca"},
		broker.Env{RunID: "tls", Dir: t.TempDir()}); err == nil {
		t.Error("a self-signed certificate was accepted without its CA")
	}
	c := fast()
	c.TLS = &redis.TLS{CAFile: cert}
	tgt, err := redis.Open(ctx, c, broker.Spec{Target: broker.TargetURL, URL: url, Destination: "tls"}, broker.Env{RunID: "tls", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	closeTarget(t, tgt)
	if err := tgt.Driver.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(ctx, t, tgt.Driver, 20); got != 20 {
		t.Errorf("received %d of 20 over TLS", got)
	}
}
