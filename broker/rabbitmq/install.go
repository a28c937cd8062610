package rabbitmq

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrNotInstalled is wrapped by Open's error when an exec target is asked
// for and no RabbitMQ server (or Erlang's epmd) is installed.
var ErrNotInstalled = errors.New("rabbitmq-server is not installed")

// Installed reports whether an exec target can be started here: nil, or an
// error wrapping ErrNotInstalled that says what is missing.
func Installed() error {
	_, _, err := findBinaries()
	return err
}

// findBinaries locates the server's start script (not Debian's
// /usr/sbin/rabbitmq-server, which switches to the rabbitmq user) and epmd.
func findBinaries() (script, epmd string, err error) {
	candidates := []string{os.Getenv(serverScriptEnv), "/usr/lib/rabbitmq/bin/rabbitmq-server"}
	globbed, _ := filepath.Glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server")
	candidates = append(candidates, globbed...)
	for _, c := range candidates {
		if c != "" && executable(c) {
			script = c
			break
		}
	}
	if script == "" {
		return "", "", fmt.Errorf("%w: no start script in /usr/lib/rabbitmq (apt-get install rabbitmq-server, set %s, or use target url)", ErrNotInstalled, serverScriptEnv)
	}
	if p, err := exec.LookPath("epmd"); err == nil {
		return script, p, nil
	}
	globbed, _ = filepath.Glob("/usr/lib/erlang/erts-*/bin/epmd")
	for _, c := range globbed {
		if executable(c) {
			return script, c, nil
		}
	}
	return "", "", fmt.Errorf("%w: Erlang's epmd not found", ErrNotInstalled)
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
