package natstest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/mqcheck/mqcheck/internal/testenv"
)

// Secured is a private in-process nats-server with JetStream that wants
// one kind of credentials, and the files a client needs, as broker.nats
// fields: Good the server takes, Bad it refuses; GoodSecret and BadSecret
// are what in them must never show ("": nothing secret).
type Secured struct {
	URL                   string
	Good, Bad             map[string]string
	GoodSecret, BadSecret string
}

// NKeyServer wants an NKey user: Good and Bad are seed files, of the user
// and of a stranger.
func NKeyServer(t *testing.T) Secured {
	t.Helper()
	user, stranger := newKey(t, nkeys.CreateUser), newKey(t, nkeys.CreateUser)
	pub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	addr := Start(t, server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	dir := t.TempDir()
	return Secured{URL: "nats://" + addr, Good: map[string]string{"nkey_file": write(t, dir, "user.nk", seed(t, user))},
		Bad:        map[string]string{"nkey_file": write(t, dir, "stranger.nk", seed(t, stranger))},
		GoodSecret: seed(t, user), BadSecret: seed(t, stranger)}
}

// CredsServer runs in operator mode (JWTs) with one account, JetStream
// on: Good is a creds file of a user of that account, Bad one of a user
// signed by an account the operator never signed.
func CredsServer(t *testing.T) Secured {
	t.Helper()
	op, acct, rogue := newKey(t, nkeys.CreateOperator), newKey(t, nkeys.CreateAccount), newKey(t, nkeys.CreateAccount)
	opPub, _ := op.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	if _, err := oc.Encode(op); err != nil {
		t.Fatal(err)
	}
	acctPub, _ := acct.PublicKey()
	ac := jwt.NewAccountClaims(acctPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	acctJWT, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	// JetStream's internal subscriptions need a system account.
	sys := newKey(t, nkeys.CreateAccount)
	sysPub, _ := sys.PublicKey()
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	for pub, j := range map[string]string{acctPub: acctJWT, sysPub: sysJWT} {
		if err := resolver.Store(pub, j); err != nil {
			t.Fatal(err)
		}
	}
	addr := Start(t, server.Options{TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: sysPub})
	creds := func(signer nkeys.KeyPair) (string, string) {
		u := newKey(t, nkeys.CreateUser)
		pub, _ := u.PublicKey()
		uj, err := jwt.NewUserClaims(pub).Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		s := seed(t, u)
		b, err := jwt.FormatUserConfig(uj, []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return string(b), s
	}
	dir := t.TempDir()
	good, goodSeed := creds(acct)
	bad, badSeed := creds(rogue)
	return Secured{URL: "nats://" + addr, Good: map[string]string{"creds_file": write(t, dir, "user.creds", good)},
		Bad:        map[string]string{"creds_file": write(t, dir, "rogue.creds", bad)},
		GoodSecret: goodSeed, BadSecret: badSeed}
}

// TLSServer serves TLS only, with a certificate for 127.0.0.1 from a CA
// of its own: Good is that CA's certificate file, Bad another CA's. With
// mutual, the server also wants a client certificate from its CA: Good
// has one, Bad the CA file alone.
func TLSServer(t *testing.T, mutual bool) Secured {
	t.Helper()
	dir := t.TempDir()
	ca, other := testenv.NewCA(t, "mqcheck test CA"), testenv.NewCA(t, "mqcheck stranger CA")
	srvDER, srvKey := ca.Issue(t, x509.ExtKeyUsageServerAuth)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}}
	good := map[string]string{"ca_file": write(t, dir, "ca.pem", ca.PEM)}
	bad := map[string]string{"ca_file": write(t, dir, "stranger.pem", other.PEM)}
	var secret string
	if mutual {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		der, key := ca.Issue(t, x509.ExtKeyUsageClientAuth)
		secret = testenv.KeyPEM(t, key)
		good["cert_file"] = write(t, dir, "client.pem", testenv.CertPEM(der))
		good["key_file"] = write(t, dir, "client.key", secret)
		bad = map[string]string{"ca_file": good["ca_file"]}
	}
	addr := Start(t, server.Options{TLS: true, TLSVerify: mutual, TLSTimeout: 5, TLSConfig: cfg})
	return Secured{URL: "tls://" + addr, Good: good, Bad: bad, GoodSecret: secret}
}

func newKey(t *testing.T, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func seed(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	s, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(s)
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start runs a nats-server with JetStream and o's security in the test,
// on a free 127.0.0.1 port, stopped at the test's end; its host:port.
func Start(t *testing.T, o server.Options) string {
	t.Helper()
	o.Host, o.Port, o.JetStream, o.StoreDir, o.NoSigs, o.NoLog = "127.0.0.1", -1, true, t.TempDir(), true, true
	s, err := server.NewServer(&o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("test nats-server not ready")
	}
	return s.Addr().String()
}
