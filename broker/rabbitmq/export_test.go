package rabbitmq

import "github.com/mqcheck/mqcheck/broker"

// Hooks for the external tests.

// NodeURL is the AMQP URL (guest credentials) of an exec target's node.
func NodeURL(t *broker.Target) string { return t.Restarter.(*node).url() }

// NodeDir is an exec target's node directory.
func NodeDir(t *broker.Target) string { return t.Restarter.(*node).base }

// NodePIDs lists every process an exec target started so far.
func NodePIDs(t *broker.Target) []int { return t.Restarter.(*node).pids() }

// CrashConsumer drops a consumer's TCP connection without a word, as a
// killed client process would; the consumer reconnects by itself.
func CrashConsumer(c broker.Consumer) { c.(*consumer).cur.Load().crash() }

// Queues lists the queues the driver consumes (subscription queues, then
// dead-letter queues).
func Queues(d broker.Driver) []string { return d.(*driver).st.topo.allQueues() }
