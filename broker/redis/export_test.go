package redis

import (
	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/internal/redisbin"
)

// ServerPID is the pid of an exec target's redis-server, 0 when stopped or
// for another target.
func ServerPID(t *broker.Target) int {
	if g, ok := t.Restarter.(*group); ok {
		return g.nodes[0].pid()
	}
	return 0
}

// NoDebianServer makes FindServer look for no Debian server, until the
// returned function undoes it.
func NoDebianServer() func() {
	old := redisbin.DebianPath
	redisbin.DebianPath = "/nonexistent/redis-server"
	return func() { redisbin.DebianPath = old }
}
