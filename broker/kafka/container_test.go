package kafka

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// TestContainerListenerEnv: the container advertises the host address its
// port is mapped to, whatever the scenario's environment says, and keeps
// the scenario's other settings.
func TestContainerListenerEnv(t *testing.T) {
	user := map[string]string{"KAFKA_NUM_PARTITIONS": "6", "KAFKA_NODE_ID": "7"}
	cs := broker.ContainerSpec{Image: "apache/kafka:3.9", Env: user}
	if err := containerKind.Configure([]string{"127.0.0.1:41234"}, &cs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://127.0.0.1:41234",
		"KAFKA_LISTENERS":            "PLAINTEXT://:9092,CONTROLLER://:9093",
		"KAFKA_NUM_PARTITIONS":       "6",
		"KAFKA_NODE_ID":              "7",
		"KAFKA_PROCESS_ROLES":        "broker,controller",
	}
	for k, v := range want {
		if cs.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, cs.Env[k], v)
		}
	}
	if len(user) != 2 {
		t.Errorf("Configure changed the scenario's map: %v", user)
	}
	// The listener is on the container port that is mapped.
	if containerPorts[0] != "9092/tcp" || !strings.Contains(cs.Env["KAFKA_LISTENERS"], ":"+strings.TrimSuffix(containerPorts[0], "/tcp")) {
		t.Errorf("listeners %q do not include the mapped port %s", cs.Env["KAFKA_LISTENERS"], containerPorts[0])
	}
}

// TestContainerReadyChecksAdvertised: the readiness check passes against
// a broker advertising the address it was reached at (kfake advertises
// its own), and fails naming both addresses when the broker advertises
// another one (reached through a different port).
func TestContainerReadyChecksAdvertised(t *testing.T) {
	port, err := broker.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := containerKind.Ready(ctx, []string{addr}); err != nil {
		t.Fatalf("ready against a broker advertising %s: %v", addr, err)
	}
	md := kadmBrokers(t, addr)
	err = checkAdvertised(md, "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("a broker advertising %s checked against 127.0.0.1:1: %v, want an error naming both", addr, err)
	}
}

// TestContainerSpecChecks: ports and the listener variables are mqcheck's
// on a Kafka container (exit 2).
func TestContainerSpecChecks(t *testing.T) {
	for _, tc := range []struct {
		cs   broker.ContainerSpec
		want string
	}{
		{broker.ContainerSpec{Image: "apache/kafka:3.9", Ports: []string{"9094/tcp"}}, "broker.ports"},
		{broker.ContainerSpec{Image: "apache/kafka:3.9", Env: map[string]string{"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://x:1"}}, "broker.env"},
	} {
		err := (&Config{}).CheckSpec(broker.Spec{Target: broker.TargetContainer, Container: tc.cs})
		var fe *broker.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.want {
			t.Errorf("%+v: %v, want a problem with %s", tc.cs, err, tc.want)
		}
	}
}

// kadmBrokers is the brokers the cluster at addr advertises.
func kadmBrokers(t *testing.T, addr string) kadm.BrokerDetails {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return md.Brokers
}
