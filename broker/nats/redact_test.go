package nats

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedactServers: whatever the server list, the password or token in
// it never shows in what redactServers returns.
func FuzzRedactServers(f *testing.F) {
	for _, s := range []string{"nats://u:pw@h:4222", "nats://tok@h:1,tls://a:b@h2:2", "nats://h:4222", "%zz", "nats://u:p%40w@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := redactServers(s)
		for _, part := range strings.Split(s, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			if err != nil || u.User == nil {
				continue
			}
			// What is left of the input without its user info may hold
			// the same characters by chance (a host, a fragment).
			u.User = nil
			rest := u.String() + s
			rest = strings.Replace(rest, part, "", 1)
			for _, secret := range []string{u2(part).Username(), func() string { p, _ := u2(part).Password(); return p }()} {
				if len(secret) >= 4 && !strings.Contains("xxxxx", secret) && strings.Contains(out, secret) && !strings.Contains(rest, secret) {
					t.Fatalf("redactServers(%q) = %q shows %q", s, out, secret)
				}
			}
		}
	})
}

func u2(part string) *url.Userinfo {
	u, _ := url.Parse(strings.TrimSpace(part))
	return u.User
}

// TestRedactServers: passwords and tokens go, the rest stays.
func TestRedactServers(t *testing.T) {
	for in, want := range map[string]string{
		"nats://u:pw@h:4222":              "nats://xxxxx@h:4222",
		"nats://tok@h:1,tls://a:b@h2:2":   "nats://xxxxx@h:1,tls://xxxxx@h2:2",
		"nats://127.0.0.1:4222":           "nats://127.0.0.1:4222",
		"nats://h:1,nats://x:secret@h2:2": "nats://h:1,nats://xxxxx@h2:2",
	} {
		if got := redactServers(in); got != want {
			t.Errorf("redactServers(%q) = %q, want %q", in, got, want)
		}
	}
}
