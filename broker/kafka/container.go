package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: the client listener mqcheck configures in the
// container.
var containerPorts = []string{"9092/tcp"}

// listenerKeys are the environment variables mqcheck sets on a Kafka
// container: a scenario that sets them would break the address clients
// are told to dial.
var listenerKeys = []string{"KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
	"KAFKA_CONTROLLER_LISTENER_NAMES", "KAFKA_CONTROLLER_QUORUM_VOTERS"}

// listenerEnv is the environment of a one-node KRaft broker in the
// apache/kafka image layout (KAFKA_* variables become server properties),
// advertising addr, the host address its client port is mapped to:
// clients dial what the broker advertises after the first metadata
// answer, and the container's own address is not reachable from the
// host. env's own settings win, except the listeners.
func listenerEnv(addr string, env map[string]string) map[string]string {
	out := map[string]string{
		"KAFKA_NODE_ID":                                  "1",
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
	}
	maps.Copy(out, env)
	out["KAFKA_LISTENERS"] = "PLAINTEXT://:9092,CONTROLLER://:9093"
	out["KAFKA_ADVERTISED_LISTENERS"] = "PLAINTEXT://" + addr
	out["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
	out["KAFKA_CONTROLLER_LISTENER_NAMES"] = "CONTROLLER"
	out["KAFKA_CONTROLLER_QUORUM_VOTERS"] = "1@localhost:9093"
	return out
}

// checkAdvertised reports a cluster whose brokers do not advertise addr,
// the only address the host can reach.
func checkAdvertised(brokers kadm.BrokerDetails, addr string) error {
	var seen []string
	for _, b := range brokers {
		a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		if a == addr {
			return nil
		}
		seen = append(seen, a)
	}
	return fmt.Errorf("the broker advertises %s, not the mapped address %s: the image does not take KAFKA_ADVERTISED_LISTENERS (use an apache/kafka image)",
		strings.Join(seen, ", "), addr)
}

// containerKind: ready once the broker answers metadata advertising the
// mapped address.
var containerKind = container.Kind{
	Name:       "kafka",
	Ports:      containerPorts,
	FixedPorts: true,
	Configure: func(addrs []string, cs *broker.ContainerSpec) error {
		cs.Env = listenerEnv(addrs[0], cs.Env)
		return nil
	},
	Ready: func(ctx context.Context, addrs []string) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]))
		if err != nil {
			return err
		}
		defer cl.Close()
		md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		return checkAdvertised(md.Brokers, addrs[0])
	},
	ReadyTimeout: 2 * time.Minute,
}

// openContainer starts broker.image as a one-node KRaft cluster
// advertising its mapped port, and drives it as a url target that mqcheck
// can kill, stop and pause. Untested against a real image here (no Kafka
// image can be built on the test machine): the listener wiring has unit
// tests.
func openContainer(ctx context.Context, set *settings, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	c, err := container.Start(ctx, containerKind, spec.Container, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening kafka target: %w", err)
	}
	d, err := newDriver(*set, c.Addrs, false)
	if err != nil {
		return nil, errors.Join(err, c.Close(context.WithoutCancel(ctx)))
	}
	t := &broker.Target{Driver: d, Restarter: c, Endpoints: c.Addrs, Description: "kafka in " + c.Description(),
		Close: c.Close, Container: &c.Info}
	if d.relay != nil {
		t.Relay = d.relay
	}
	return t, nil
}
