// Package redisbin locates the redis-server binary mqcheck starts, for the
// redis broker's private servers and the processing store's alike.
package redisbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Env names a redis-server binary to use instead of the one on PATH.
const Env = "MQCHECK_REDIS_SERVER"

// DebianPath is where Debian's redis-server package puts the server (a
// variable for tests that pretend it is missing).
var DebianPath = "/usr/bin/redis-server"

// ErrNotFound: no redis-server anywhere Find looks.
var ErrNotFound = errors.New("redis-server is not installed")

// Find locates redis-server: $MQCHECK_REDIS_SERVER, else PATH, else
// Debian's /usr/bin/redis-server.
func Find() (string, error) {
	if p := os.Getenv(Env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", Env, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(DebianPath); err == nil {
		return DebianPath, nil
	}
	return "", ErrNotFound
}
