package rabbitmq

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mqcheck/mqcheck/broker"
)

// nodeID is a short, node-name-safe id: the run id's first characters, or
// random ones.
func nodeID(runID string) string {
	var b strings.Builder
	for _, r := range runID {
		if b.Len() == 12 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		}
	}
	if b.Len() < 4 {
		var raw [6]byte
		_, _ = rand.Read(raw[:])
		return hex.EncodeToString(raw[:])
	}
	return b.String()
}

// prepare writes the node's files and environment.
func (n *node) prepare() error {
	home := filepath.Join(n.base, "home")
	for _, d := range []string{home, filepath.Join(n.base, "mnesia"), filepath.Join(n.base, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	// The Erlang cookie only guards distribution, which listens on
	// 127.0.0.1 only; still, each node gets its own.
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	cookie := make([]byte, len(raw))
	for i, b := range raw {
		cookie[i] = 'A' + b%26
	}
	conf := "# private node started by mqcheck\nlog.file.level = info\nlog.console = false\n"
	for i, l := range n.extra.Listeners {
		conf += fmt.Sprintf("%s = 127.0.0.1:%d\n", l, n.listenerPorts[i])
	}
	for _, l := range n.extra.Config {
		conf += l + "\n"
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"home/.erlang.cookie", cookie, 0o400},
		{"enabled_plugins", []byte("[" + strings.Join(n.extra.Plugins, ",") + "].\n"), 0o644},
		// Replaces the system's rabbitmq-env.conf, which names the
		// shared node.
		{"rabbitmq-env.conf", nil, 0o644},
		{"rabbitmq.conf", []byte(conf), 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(n.base, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	env := []string{
		"HOME=" + home,
		"RABBITMQ_NODENAME=" + n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(n.amqpPort),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(n.distPort),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(n.base, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(n.base, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(n.base, "pid"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(n.base, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(n.base, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(n.base, "advanced.config"),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(n.base, "rabbitmq-env.conf"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_EPMD_PORT=" + strconv.Itoa(n.epmdPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	}
	// Everything else from our environment (PATH, locale), minus anything
	// that would point the node elsewhere.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || strings.HasPrefix(k, "RABBITMQ_") || strings.HasPrefix(k, "ERL_") {
			continue
		}
		env = append(env, kv)
	}
	n.env = env
	return nil
}

// freePorts picks k distinct free ports on 127.0.0.1 (broker.FreePorts:
// never the shared broker's AMQP, distribution, epmd or management port).
// They are free now; a node that finds one taken exits at once and is
// started again with others.
func freePorts(k int) ([]int, error) { return broker.FreePorts(k) }
