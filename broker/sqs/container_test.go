package sqs_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
)

// TestContainerPorts: the container target maps one port, 9324/tcp
// (elasticmq's) unless broker.ports names another (LocalStack's 4566); a
// second port or one that is not a TCP port is a scenario error, as
// validate and run both see it.
func TestContainerPorts(t *testing.T) {
	if !slices.Equal(sqs.ContainerPorts, []string{"9324/tcp"}) {
		t.Errorf("default ports %v, want [9324/tcp]", sqs.ContainerPorts)
	}
	for _, tc := range []struct {
		ports []string
		want  string // "": accepted
	}{
		{nil, ""},
		{[]string{"4566/tcp"}, ""},
		{[]string{"4566"}, ""},
		{[]string{"9324/tcp", "9325/tcp"}, "listens on 1"},
		{[]string{"9324/udp"}, "only tcp"},
		{[]string{"0"}, "broker.ports"},
		{[]string{"http"}, "broker.ports"},
	} {
		c := &sqs.Config{}
		c.ApplyDefaults()
		err := c.CheckSpec(broker.Spec{Target: broker.TargetContainer, Container: broker.ContainerSpec{Image: "softwaremill/elasticmq-native", Ports: tc.ports}})
		var fe *broker.FieldError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ports %v: %v, want them accepted", tc.ports, err)
		case tc.want != "" && (!errors.As(err, &fe) || fe.Field != "broker.ports" || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("ports %v: %v, want a broker.ports problem saying %q", tc.ports, err, tc.want)
		}
	}
	// broker.ports means nothing to the other targets: not checked there.
	c := &sqs.Config{}
	c.ApplyDefaults()
	if err := c.CheckSpec(broker.Spec{Target: broker.TargetExec, Container: broker.ContainerSpec{Ports: []string{"1/tcp", "2/tcp"}}}); err != nil {
		t.Errorf("exec target: %v", err)
	}
}

// TestContainerAbilities: a container is one node mqcheck kills, starts
// again and freezes.
func TestContainerAbilities(t *testing.T) {
	if a := sqs.Abilities(nil, broker.TargetContainer); a.Nodes != 1 || !a.Pause || !a.Network {
		t.Errorf("container abilities %+v, want one node, pause and network faults", a)
	}
}

// TestContainerReady: the readiness check passes once an SQS API answers
// ListQueues (here the embedded goaws), and fails where nothing listens.
func TestContainerReady(t *testing.T) {
	ctx := t.Context()
	c := fast()
	c.ApplyDefaults()
	emb, err := sqs.Open(ctx, c, broker.Spec{Target: broker.TargetEmbedded, Destination: "container-ready"}, broker.Env{RunID: "container-ready", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emb.Close(ctx) })
	u, err := url.Parse(sqs.EndpointURL(emb))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqs.ContainerReady(rctx, c, u.Host); err != nil {
		t.Errorf("ready against goaws at %s: %v", u.Host, err)
	}
	closed := brokertest.ClosedAddr(t)
	rctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqs.ContainerReady(rctx, c, closed); err == nil {
		t.Errorf("ready against %s where nothing listens: nil, want an error", closed)
	}
}
