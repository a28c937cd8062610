package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
)

// containerPorts: where Mosquitto images listen.
var containerPorts = []string{"1883/tcp"}

// mosquittoConfPath is where the eclipse-mosquitto images read their
// configuration; the container target mounts the section's there.
const mosquittoConfPath = "/mosquitto/config/mosquitto.conf"

// containerKind: ready once the broker answers an MQTT 3.1.1 CONNECT with
// a CONNACK that accepts it.
var containerKind = container.Kind{
	Name:  "mqtt",
	Ports: containerPorts,
	Ready: func(ctx context.Context, addrs []string) error {
		c, err := container.Dial(ctx, addrs[0])
		if err != nil {
			return err
		}
		defer c.Close()
		id := "mqcheck-ready"
		// CONNECT: "MQTT", level 4, clean session, keep-alive 10 s.
		body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, byte(len(id))}, id...)
		if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
			return err
		}
		ack := make([]byte, 4)
		if _, err := io.ReadFull(c, ack); err != nil {
			return fmt.Errorf("no CONNACK: %w", err)
		}
		if !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
			return fmt.Errorf("CONNACK % x does not accept the connection", ack)
		}
		_, _ = c.Write([]byte{0xe0, 0})
		return nil
	},
	ReadyTimeout: time.Minute,
}

// containerConf is the section's Mosquitto configuration for a container:
// the private server's, listening on every interface of the container,
// persistence where the official image keeps it, logs to the console.
func containerConf(c *Config) string {
	conf := mosquittoConf(c, "/mosquitto/data", 1883)
	var out []string
	for _, l := range strings.Split(conf, "\n") {
		switch {
		case strings.HasPrefix(l, "listener "):
			l = "listener 1883"
		case strings.HasPrefix(l, "log_dest "):
			l = "log_dest stdout"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// openContainer starts broker.image with the section's configuration
// mounted where eclipse-mosquitto images read it (unless broker.command
// names another), and points clients at it.
func openContainer(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	cs := spec.Container
	if len(cs.Command) == 0 {
		base := env.Dir
		if base == "" {
			base = os.TempDir()
		}
		base, err := filepath.Abs(base)
		if err == nil {
			err = os.MkdirAll(base, 0o755)
		}
		if err != nil {
			return nil, fmt.Errorf("opening mqtt target: the run directory: %w", err)
		}
		conf := filepath.Join(base, "mosquitto-container.conf")
		if err := os.WriteFile(conf, []byte(containerConf(c)), 0o644); err != nil {
			return nil, fmt.Errorf("opening mqtt target: writing the mosquitto configuration: %w", err)
		}
		cs.Mounts = append(append([]string(nil), cs.Mounts...), conf+":"+mosquittoConfPath+":ro")
	}
	ctr, err := container.Start(ctx, containerKind, cs, spec.Keep, env)
	if err != nil {
		return nil, fmt.Errorf("opening mqtt target: %w", err)
	}
	addr := ctr.Addrs[0]
	d := newDriver(c, spec, endpoint{addr: addr}, env)
	d.backlog = func(ctx context.Context) (int64, error) { return mosquittoBacklog(ctx, d) }
	return &broker.Target{Driver: d, Restarter: ctr, Endpoints: []string{addr}, Description: "mqtt in " + ctr.Description(),
		Close: ctr.Close, Container: &ctr.Info}, nil
}
