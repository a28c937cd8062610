package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assertNoSecret fails when secret appears in any of texts or in any file
// of dir (the run directory: scenario.yaml, results.json, reports, broker
// data).
func assertNoSecret(t *testing.T, secret, dir string, texts map[string]string) {
	t.Helper()
	for name, text := range texts {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the secret:\n%s", name, text)
		}
	}
	if dir == "" {
		return
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the secret", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSASLPasswordNeverLeaves runs the embedded Kafka cluster with SASL and
// looks for the password everywhere a run writes: terminal summary and
// progress, --verbose logs (text and JSON), the run directory.
func TestSASLPasswordNeverLeaves(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-secret"
	file := writeScenario(t, `name: sasl
duration: 2s
broker: {kind: kafka, kafka: {brokers: 1, partitions: 2, sasl: {mechanism: SCRAM-SHA-256, user: alice, password: `+secret+`}}}
producers: {count: 1, rate: 200/s, message_size: 100}
consumers: {count: 1}
`)
	for _, format := range []string{"text", "json"} {
		out := t.TempDir()
		code, stdout, stderr := mqcheck(t, "run", file, "--out", out, "--verbose", "--log-format", format)
		if code != exitPass {
			t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "opening target") {
			t.Errorf("--verbose logged nothing:\n%s", stderr)
		}
		assertNoSecret(t, secret, out, map[string]string{"stdout": stdout, "stderr (" + format + ")": stderr})
		y, err := os.ReadFile(filepath.Join(out, "scenario.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(y), "***") || !strings.Contains(string(y), "user: alice") {
			t.Errorf("scenario.yaml should show the user and mask the password:\n%s", y)
		}
	}
	code, stdout, stderr := mqcheck(t, "run", file, "--print")
	if code != 0 || !strings.Contains(stdout, "password:") {
		t.Fatalf("--print: exit %d\n%s%s", code, stdout, stderr)
	}
	assertNoSecret(t, secret, "", map[string]string{"--print": stdout})
	code, stdout, _ = mqcheck(t, "run", file, "--print", "--set", "broker.kafka.sasl.password=set-secret-42")
	if code != 0 {
		t.Fatalf("--print --set: exit %d", code)
	}
	assertNoSecret(t, "set-secret-42", "", map[string]string{"--print --set": stdout})
}

// TestURLPasswordNeverLeaves points a RabbitMQ url target with a password
// at a closed port: the client's error quotes the URL it dialled, and
// neither the terminal, the logs nor the run directory may show it.
func TestURLPasswordNeverLeaves(t *testing.T) {
	t.Parallel()
	const secret = "url-secret-9"
	body := strings.Replace(okScenario, "broker: {kind: memory}",
		`broker: {kind: rabbitmq, target: url, url: "amqp://alice:`+secret+`@127.0.0.1:1/"}`, 1)
	out := t.TempDir()
	code, stdout, stderr := mqcheck(t, "run", writeScenario(t, body), "--out", out, "--verbose")
	if code != exitInfra {
		t.Fatalf("exit %d, want %d:\n%s\n%s", code, exitInfra, stdout, stderr)
	}
	if !strings.Contains(stderr, "amqp://alice:***@127.0.0.1:1") {
		t.Errorf("the error should still name the URL, masked:\n%s", stderr)
	}
	res := readResults(t, out)
	if res.Error == "" {
		t.Error("results.json has no error")
	}
	assertNoSecret(t, secret, out, map[string]string{"stdout": stdout, "stderr": stderr})
}
