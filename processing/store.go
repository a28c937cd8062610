// Package processing is the consumer's side effect and its dedupe store:
// what an idempotent consumer does with a message once the broker delivered
// it. A store records the side effect where it can be read back at the end
// (the effects table), so the checker can count what was processed beside
// what was received. It knows nothing about brokers.
package processing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Store kinds, as written in consumers.processing.store.
const (
	// Postgres records the processed key and the side effect in one
	// transaction, the key unique: a repeat commits nothing (the inbox
	// pattern).
	Postgres = "postgres"
	// Redis sets the key with SET NX EX before the side effect, not
	// atomically with it.
	Redis = "redis"
	// Memory keeps the processed keys in a map of the consumer's process:
	// lost with the process, not shared between consumers.
	Memory = "memory"
	// None makes the side effect on every delivery.
	None = "none"
)

// Kinds lists the store kinds.
func Kinds() []string { return []string{Postgres, Redis, Memory, None} }

// Default URLs of the stores that need one: the machine's own servers.
const (
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

// Key is one message as processed by one subscription (each subscription
// is an application of its own, with its own side effects).
type Key struct {
	Sub      uint16
	Producer uint32
	Seq      uint64
}

func (k Key) String() string { return fmt.Sprintf("%d/%d/%d", k.Sub, k.Producer, k.Seq) }

// Effect is one side effect as the store recorded it: the message, and
// when the consumer made it (unix ns on the consumer's clock).
type Effect struct {
	Key
	At int64
}

// Point is where in the processing of a delivery a consumer crashes.
type Point uint8

const (
	// NoCrash processes the delivery to the end.
	NoCrash Point = iota
	// AfterDedupe stops once the dedupe store recorded the key, before the
	// side effect: the process died there.
	AfterDedupe
	// AfterEffect: the side effect was made, the broker never got the ack.
	// The processing itself completes; the consumer crashes after it.
	AfterEffect
)

// Crash point names, as written in faults[].crash_point.
const (
	PointAfterEffect = "after-effect"
	PointAfterDedupe = "after-dedupe"
)

// Points lists the crash point names.
func Points() []string { return []string{PointAfterEffect, PointAfterDedupe} }

// ParsePoint maps a crash point name to its Point ("" is AfterEffect: a
// crash after the message was handled, before its ack).
func ParsePoint(s string) (Point, error) {
	switch s {
	case "", PointAfterEffect:
		return AfterEffect, nil
	case PointAfterDedupe:
		return AfterDedupe, nil
	}
	return NoCrash, fmt.Errorf("unknown crash point %q (%s)", s, strings.Join(Points(), ", "))
}

// Outcome is what Process did with one delivery.
type Outcome uint8

const (
	// Applied: the side effect was made.
	Applied Outcome = iota + 1
	// Skipped: the store knew the key, no side effect was made.
	Skipped
	// Stopped: processing stopped at the crash point after the dedupe
	// step; no side effect was made.
	Stopped
)

// Store is where a run's consumers dedupe and make their side effects.
// Open, Effects and Close are called from one goroutine; the processors
// each from their consumer's.
type Store interface {
	// Kind is the store kind (Postgres, ...).
	Kind() string
	// Open returns the processing of one consumer process. A crashed
	// consumer's process is gone: its replacement opens a new one.
	Open(ctx context.Context, consumer int) (Processor, error)
	// Effects reads every side effect back from where it was made, in
	// batches handed to fn (which must not keep the slice).
	Effects(ctx context.Context, fn func([]Effect)) error
	// Close removes what the run created in the store (unless kept).
	Close(ctx context.Context) error
}

// Processor is one consumer process's processing.
type Processor interface {
	// Process dedupes k and makes its side effect, dated at (unix ns);
	// with stop AfterDedupe it stops after the dedupe step (Stopped), as
	// a process dying there would.
	Process(ctx context.Context, k Key, at int64, stop Point) (Outcome, error)
	// Close ends the processing (the process exits or dies).
	Close() error
}

// Options open a store.
type Options struct {
	Kind string
	// URL of the server (postgres, redis); "" is the default one.
	URL string
	// TTL of a redis dedupe key.
	TTL time.Duration
	// RunID names what the run creates (database, keys).
	RunID string
	// Keep what the run created instead of removing it at the end.
	Keep bool
	// Consumers is how many consumers process at once (a pool's size).
	Consumers int
	// Exec starts a private server for the store (redis) instead of
	// using URL; Dir is where its files go.
	Exec bool
	Dir  string
}

// ErrUnreachable marks a store that could not be reached.
var ErrUnreachable = errors.New("processing store unreachable")

// Open connects to the store and creates what the run needs in it (a
// database, a key prefix). A server that cannot be reached within
// connectTimeout is ErrUnreachable.
func Open(ctx context.Context, o Options) (Store, error) {
	switch o.Kind {
	case Postgres:
		return openPostgres(ctx, o)
	case Redis:
		return openRedis(ctx, o)
	case Memory:
		return newLocal(true), nil
	case None, "":
		return newLocal(false), nil
	}
	return nil, fmt.Errorf("unknown processing store %q (%s)", o.Kind, strings.Join(Kinds(), ", "))
}

// connectTimeout bounds reaching a store's server at the start of a run.
const connectTimeout = 5 * time.Second

// Ping reports whether the server of a store kind answers at url ("" for
// the default), within connectTimeout: nil for the kinds without a server.
func Ping(ctx context.Context, kind, url string) error {
	switch kind {
	case Postgres:
		return pingPostgres(ctx, url)
	case Redis:
		return pingRedis(ctx, url)
	}
	return nil
}
