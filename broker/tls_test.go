package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := TLSConfig("broker.x.tls", TLSFiles{InsecureSkipVerify: true})
	if err != nil || !c.InsecureSkipVerify || c.MinVersion == 0 {
		t.Fatalf("plain config: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		files TLSFiles
		want  string
	}{
		{TLSFiles{CAFile: filepath.Join(dir, "missing.pem")}, "broker.x.tls.ca_file"},
		{TLSFiles{CAFile: notPEM}, "holds no PEM certificate"},
		{TLSFiles{CertFile: notPEM, KeyFile: notPEM}, "broker.x.tls.cert_file and key_file"},
	} {
		if _, err := TLSConfig("broker.x.tls", tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.files, err, tc.want)
		}
	}
}
