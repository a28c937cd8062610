package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"amqp://user:pass@host:5672/vhost", "amqp://user:***@host:5672/vhost"},
		{"amqps://user:p%40ss@host/", "amqps://user:***@host/"},
		{"amqp://guest@host", "amqp://guest@host"},
		{"amqp://host:5672", "amqp://host:5672"},
		{"kafka1:9092,kafka2:9092", "kafka1:9092,kafka2:9092"},
		{`dial "amqp://u:s3cret@h:5672": connection refused`, `dial "amqp://u:***@h:5672": connection refused`},
		{"a amqp://a:b@x and amqp://c:d@y", "a amqp://a:***@x and amqp://c:***@y"},
		{"amqp://:onlypass@h", "amqp://:***@h"},
		// A user that is the password would give it away.
		{"amqp://guest:guest@h", "amqp://***:***@h"},
	} {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScrubber(t *testing.T) {
	sc := NewScrubber("hunter22", "abc", "")
	got := sc.String("login hunter22 failed at amqp://u:zz@h; table abc")
	if want := "login *** failed at amqp://u:***@h; table abc"; got != want {
		t.Errorf("got %q, want %q (secrets shorter than %d are not searched in free text)", got, want, minTextSecret)
	}
	var nilSc *Scrubber
	if got := nilSc.String("amqp://u:p@h"); got != "amqp://u:***@h" {
		t.Errorf("nil scrubber: %q", got)
	}
	base := errors.New("auth hunter22")
	err := sc.Error(fmt.Errorf("open: %w", base))
	if strings.Contains(err.Error(), "hunter22") || !errors.Is(err, base) {
		t.Errorf("Error: %q, Is %v", err, errors.Is(err, base))
	}
	if sc.Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
}

// TestOneMaskingRule: a URL is masked alike whether the text is scrubbed
// with the scenario's secrets (run errors, logs) or only by URL (errors from
// before a scenario was loaded, --set echoes): guest:*** in one place and
// ***:*** in another told the password apart.
func TestOneMaskingRule(t *testing.T) {
	for _, u := range []string{"amqp://guest:guest@127.0.0.1:70000/", "amqp://bob:hunter22@h/", "amqp://bob:bob@h/", "amqp://ab:ab@h/"} {
		sc := NewScrubber(Secrets(struct {
			URL string `secret:"url"`
		}{u})...)
		text := "connecting to " + u + ": refused"
		if a, b := sc.String(text), URL(text); a != b {
			t.Errorf("%s: scrubbed %q, URL-masked %q", u, a, b)
		}
	}
}

type inner struct {
	Password string `secret:"true"`
	User     string
}

type config struct {
	URL     string   `secret:"url"`
	Hosts   []string `secret:"url"`
	Auth    *inner
	List    []inner
	ByName  map[string]inner
	Plain   string
	private string
}

func TestCopyAndSecrets(t *testing.T) {
	c := &config{URL: "amqp://u:p%2Fw@h", Hosts: []string{"amqp://a:bpass@x"}, Auth: &inner{Password: "s3cret", User: "u"},
		List: []inner{{Password: "lpass"}}, ByName: map[string]inner{"a": {Password: "mpass"}}, Plain: "keep", private: "x"}
	r := Copy(c)
	if r.URL != "amqp://u:***@h" || r.Hosts[0] != "amqp://a:***@x" || r.Auth.Password != Mask || r.Auth.User != "u" ||
		r.List[0].Password != Mask || r.ByName["a"].Password != Mask || r.Plain != "keep" || r.private != "x" {
		t.Errorf("copy %+v (auth %+v)", r, r.Auth)
	}
	if c.Auth.Password != "s3cret" || c.List[0].Password != "lpass" || c.ByName["a"].Password != "mpass" || c.URL != "amqp://u:p%2Fw@h" {
		t.Errorf("Copy changed the original: %+v", c)
	}
	got := strings.Join(Secrets(c), ",")
	for _, want := range []string{"p%2Fw", "p/w", "bpass", "s3cret", "lpass", "mpass"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets %q lacks %q", got, want)
		}
	}
	var empty *config
	if Copy(empty) != nil {
		t.Error("Copy(nil) is not nil")
	}
}

func TestStrings(t *testing.T) {
	type row struct{ Detail string }
	v := &struct {
		Error    string
		Rows     []row
		Examples map[string][]row
		N        int
	}{Error: "x s3cret", Rows: []row{{"s3cret"}}, Examples: map[string][]row{"lost": {{"at s3cret"}}, "ok": {{"fine"}}}}
	sc := NewScrubber("s3cret")
	Strings(v, sc.String)
	if v.Error != "x ***" || v.Rows[0].Detail != Mask || v.Examples["lost"][0].Detail != "at ***" || v.Examples["ok"][0].Detail != "fine" {
		t.Errorf("%+v", v)
	}
}

type stringer struct{}

func (stringer) String() string { return "dial amqp://u:p4ss@h" }

func TestHandler(t *testing.T) {
	sc := NewScrubber("hunter22")
	for _, json := range []bool{false, true} {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		if json {
			h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		log := slog.New(Handler(h, sc)).With("url", "amqp://u:hunter22@h")
		log.WithGroup("g").Debug("connecting with hunter22",
			"err", errors.New("auth failed for hunter22"),
			"s", stringer{},
			"cfg", &inner{Password: "hunter22"},
			slog.Group("sub", "pw", "hunter22"),
			"n", 3, "list", []string{"a", "b"})
		out := buf.String()
		if strings.Contains(out, "hunter22") || strings.Contains(out, "p4ss") {
			t.Errorf("json=%v: a secret reached the log:\n%s", json, out)
		}
		if !strings.Contains(out, "***") || !strings.Contains(out, "connecting with") {
			t.Errorf("json=%v: record mangled:\n%s", json, out)
		}
	}
}

// TestCopyThroughInterface: a secret inside a value held by an interface
// field (a driver's Config in a scenario) is masked in the copy, and the
// original keeps its value.
func TestCopyThroughInterface(t *testing.T) {
	type holder struct{ Section any }
	h := &holder{Section: &inner{Password: "s3cret", User: "u"}}
	r := Copy(h)
	got, ok := r.Section.(*inner)
	if !ok || got.Password != Mask || got.User != "u" {
		t.Errorf("copied section %+v", r.Section)
	}
	if h.Section.(*inner).Password != "s3cret" {
		t.Error("Copy changed the original")
	}
}

// TestEnvSecrets: a container's environment keeps what configures the
// broker and masks what is named like a secret, in copies and in Secrets.
func TestEnvSecrets(t *testing.T) {
	type spec struct {
		Env map[string]string `secret:"env"`
	}
	s := &spec{Env: map[string]string{
		"RABBITMQ_DEFAULT_USER": "admin", "RABBITMQ_DEFAULT_PASS": "pw1", "NATS_TOKEN": "tok",
		"AWS_SECRET_ACCESS_KEY": "k", "RABBITMQ_ERLANG_COOKIE": "c", "redis_password": "pw2", "MEMORY": "1g",
	}}
	r := Copy(s)
	for k, v := range r.Env {
		secret := k != "RABBITMQ_DEFAULT_USER" && k != "MEMORY"
		if secret != (v == Mask) {
			t.Errorf("%s=%q in the copy", k, v)
		}
	}
	got := Secrets(s)
	slices.Sort(got)
	if want := []string{"c", "k", "pw1", "pw2", "tok"}; !slices.Equal(got, want) {
		t.Errorf("Secrets %q, want %q", got, want)
	}
}
