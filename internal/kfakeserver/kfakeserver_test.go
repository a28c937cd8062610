package kfakeserver

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/internal/freeport"
)

// asServerEnv makes the test binary the command: -detach starts it again.
const asServerEnv = "KFAKESERVER_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asServerEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in   string
		want []int
		bad  bool
	}{
		{"", nil, false},
		{"21001", []int{21001}, false},
		{"21001, 21002,21003", []int{21001, 21002, 21003}, false},
		{"21001,x", nil, true},
		{"0", nil, true},
		{"70000", nil, true},
	}
	for _, tt := range tests {
		got, err := parsePorts(tt.in)
		if (err != nil) != tt.bad {
			t.Errorf("parsePorts(%q): %v, bad %v", tt.in, err, tt.bad)
		}
		if !tt.bad && len(got) != len(tt.want) {
			t.Errorf("parsePorts(%q) = %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range tt.want {
			if got[i] != tt.want[i] {
				t.Errorf("parsePorts(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

// TestRestartKeepsRecordsAndCommits: a server stopped with -stop and
// started again with -detach on the same ports and data directory answers
// at the same addresses with the records produced before the stop and the
// offset a group committed: what a restart fault of a split run's test
// relies on.
func TestRestartKeepsRecordsAndCommits(t *testing.T) {
	t.Setenv(asServerEnv, "1") // for the server -detach starts
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidfile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	ports, err := freeport.Pick(2)
	if err != nil {
		t.Fatal(err)
	}
	o := options{brokers: 2, ports: ports, dir: filepath.Join(dir, "data"), pidfile: pidfile, log: filepath.Join(dir, "log")}
	var out strings.Builder
	if err := detachServer(o, &out); err != nil {
		t.Fatalf("starting: %v", err)
	}
	if err := detachServer(o, &out); err == nil || !strings.Contains(err.Error(), "may be running") {
		t.Fatalf("a second server on the same pidfile: %v", err)
	}
	seeds := []string{"127.0.0.1:" + strconv.Itoa(ports[0]), "127.0.0.1:" + strconv.Itoa(ports[1])}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic, group = "t", "g"
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatalf("creating the topic: %v", err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, offsets); err != nil {
		t.Fatalf("committing: %v", err)
	}
	cl.Close()

	if err := stopServer(pidfile); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	if _, err := os.Stat(pidfile); err == nil {
		t.Fatal("the pidfile outlived the server")
	}
	if err := detachServer(o, &out); err != nil {
		t.Fatalf("starting again: %v", err)
	}
	cl, err = kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetching offsets: %v", err)
	}
	if at, ok := got.Lookup(topic, 0); !ok || at.At != 4 {
		t.Errorf("committed offset after the restart: %+v (found %v), want 4", at, ok)
	}
	var values []string
	for len(values) < 10 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if strings.Join(values, ",") != "0,1,2,3,4,5,6,7,8,9" {
		t.Errorf("records after the restart: %v, want 0 to 9", values)
	}
	if err := stopServer(pidfile); err != nil {
		t.Errorf("stopping: %v", err)
	}
}
