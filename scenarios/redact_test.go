package scenarios

import (
	"slices"
	"strings"
	"testing"
)

// TestRedacted: the form in which a scenario leaves the process shows every
// secret as *** and parses back; the scenario the drivers use keeps them.
func TestRedacted(t *testing.T) {
	s, err := Parse([]byte(`
broker:
  kind: kafka
  url: kafka1:9092
  kafka: {sasl: {mechanism: PLAIN, user: alice, password: hunter22}, tls: {enabled: true, key_file: key.pem, cert_file: cert.pem}}
`), "secret.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Redacted()
	y, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out := string(y)
	if strings.Contains(out, "hunter22") || !strings.Contains(out, "password: '***'") && !strings.Contains(out, `password: "***"`) {
		t.Errorf("redacted YAML:\n%s", out)
	}
	// TLS key paths are not secrets: a reader needs them to reproduce the run.
	if !strings.Contains(out, "key_file: key.pem") {
		t.Errorf("key path masked:\n%s", out)
	}
	if kafkaOf(s).SASL.Password != "hunter22" {
		t.Error("Redacted changed the scenario the drivers use")
	}
	if _, err := Parse(y, "back.yaml"); err != nil {
		t.Errorf("redacted YAML does not parse: %v", err)
	}
	if !slices.Contains(s.Secrets(), "hunter22") {
		t.Errorf("Secrets() = %v", s.Secrets())
	}

	s.Broker.Kind, s.Broker.Config = "rabbitmq", nil
	s.Broker.URL = "amqp://bob:p%40ss@rabbit:5672/vh"
	if got := s.Redacted().Broker.URL; got != "amqp://bob:***@rabbit:5672/vh" {
		t.Errorf("redacted url %q", got)
	}
	got := s.Scrubber().String("Exception (403) for bob with p@ss at amqp://bob:p%40ss@rabbit:5672/vh")
	if strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") {
		t.Errorf("scrubbed %q", got)
	}
}
