package redis_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mqcheck test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestURLTLS: a rediss:// url target with the server's CA in tls.ca_file
// publishes and consumes; without the CA the certificate is refused.
func TestURLTLS(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	cert, key := writeCert(t, certDir)
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
