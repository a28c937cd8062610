package nats

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	"github.com/mqcheck/mqcheck/units"
)

// Config configures the nats.go driver. A scenario writes it as
// broker.nats. Zero values mean "unset"; ApplyDefaults fills them in, so a
// resolved scenario shows every value the driver used.
type Config struct {
	// Mode: jetstream (a stream stores every message; publishes are acked
	// by the stream; consumers ack) or core (plain subjects: fire and
	// forget, at-most-once). Default jetstream.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`

	// Storage of the stream: file or memory. Default file.
	Storage string `yaml:"storage,omitempty" json:"storage,omitempty"`
	// Replicas of the stream, 1 to 5; more than 1 needs a cluster.
	// Default 1.
	Replicas int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	// Retention: limits (keep until a limit), workqueue (a message goes
	// once one consumer acked it; one subscription only) or interest
	// (kept while a consumer has not acked it). Default limits.
	Retention string `yaml:"retention,omitempty" json:"retention,omitempty"`
	// MaxMsgs the stream keeps (0: no limit); Discard says what a full
	// stream does.
	MaxMsgs int64 `yaml:"max_msgs,omitempty" json:"max_msgs,omitempty"`
	// MaxBytes the stream keeps (0: no limit).
	MaxBytes units.Size `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	// Discard: what a full stream does: old (drops its oldest message,
	// which consumers may not have read: loss by policy, counted lost) or
	// new (refuses the publish: failed). Default old.
	Discard string `yaml:"discard,omitempty" json:"discard,omitempty"`
	// MaxAge of the stream's messages (0: forever).
	MaxAge units.Duration `yaml:"max_age,omitempty" json:"max_age,omitempty"`
	// DuplicateWindow in which the stream drops a publish whose
	// Nats-Msg-Id (producer and sequence number) it has seen. Default 2m,
	// the server's.
	DuplicateWindow units.Duration `yaml:"duplicate_window,omitempty" json:"duplicate_window,omitempty"`
	// DuplicateSends re-sends this many acked messages once more with the
	// same Nats-Msg-Id, as a client does when it retries after a lost
	// answer. Inside the window the stream must drop them (duplicated 0);
	// past it they are stored twice.
	DuplicateSends int `yaml:"duplicate_sends,omitempty" json:"duplicate_sends,omitempty"`
	// DuplicateDelay: how long after its ack a message is re-sent
	// (duplicate_sends). Default 0: at once.
	DuplicateDelay units.Duration `yaml:"duplicate_delay,omitempty" json:"duplicate_delay,omitempty"`
	// PublishTimeout: an async publish not acked within it is
	// indeterminate. Default 10s.
	PublishTimeout units.Duration `yaml:"publish_timeout,omitempty" json:"publish_timeout,omitempty"`

	// Consumer: pull (Messages, a pull consumer's continuous fetch) or
	// push (the server pushes to a deliver subject, workers share it as a
	// queue group). Default pull.
	Consumer string `yaml:"consumer,omitempty" json:"consumer,omitempty"`
	// AckPolicy: explicit (each message acked), all (an ack covers every
	// earlier message) or none (delivered counts as acked: a crashed
	// consumer's messages are gone). Default explicit.
	AckPolicy string `yaml:"ack_policy,omitempty" json:"ack_policy,omitempty"`
	// AckWait: a delivery not acked within it is delivered again.
	// Default 30s, the server's.
	AckWait units.Duration `yaml:"ack_wait,omitempty" json:"ack_wait,omitempty"`
	// MaxDeliver: deliveries of one message at most (-1: no limit). A
	// message past it is read back from the stream on the server's
	// advisory and counted dead-lettered. Default -1.
	MaxDeliver *int `yaml:"max_deliver,omitempty" json:"max_deliver,omitempty"`
	// MaxAckPending: deliveries unacked at once per consumer. Default
	// 1000, the server's.
	MaxAckPending int `yaml:"max_ack_pending,omitempty" json:"max_ack_pending,omitempty"`
	// NakDelay: a rejected delivery comes again after it (0: at once).
	NakDelay units.Duration `yaml:"nak_delay,omitempty" json:"nak_delay,omitempty"`
	// Reject: how consumers decline a delivery they fail on purpose
	// (consumers.fail_fraction): nak (the server delivers it again at
	// once, or after nak_delay) or no-ack (never answered, as by a
	// consumer that hangs: the server delivers it again after ack_wait).
	// Default nak.
	Reject string `yaml:"reject,omitempty" json:"reject,omitempty"`
	// FetchBatch: messages a pull consumer asks for at once. Default 100.
	FetchBatch int `yaml:"fetch_batch,omitempty" json:"fetch_batch,omitempty"`

	// PendingLimit of a core subscriber: messages the client buffers for
	// the handler; past it the client drops what comes (a slow consumer).
	// Default 65536, nats.go's.
	PendingLimit int `yaml:"pending_limit,omitempty" json:"pending_limit,omitempty"`
	// ConsumerDelay is slept per delivery, to make a slow subscriber.
	ConsumerDelay units.Duration `yaml:"consumer_delay,omitempty" json:"consumer_delay,omitempty"`

	// SyncInterval of the server's file store (embedded or exec): always
	// (fsync every write before the ack) or a duration. Default the
	// server's (2m). nats-server before 2.10.0 (Debian's 2.9.10) has no
	// such setting.
	SyncInterval string `yaml:"sync_interval,omitempty" json:"sync_interval,omitempty"`
	// Server is the nats-server binary of the exec target. Default: the
	// one `make nats-server` builds in the user cache dir when present,
	// else nats-server on PATH, else /usr/sbin/nats-server.
	Server string `yaml:"server,omitempty" json:"server,omitempty"`
	// Cluster: nodes of the embedded target, 1 or 3 (a JetStream cluster
	// in process, for replicas 3 and leader loss). Default 1.
	Cluster int `yaml:"cluster,omitempty" json:"cluster,omitempty"`

	// Token of a url target (a token in broker.url works too).
	Token string `yaml:"token,omitempty" json:"token,omitempty" secret:"true"`
	// User and Password of a url target (or user:password in broker.url).
	User     string `yaml:"user,omitempty" json:"user,omitempty"`
	Password string `yaml:"password,omitempty" json:"password,omitempty" secret:"true"`
	// NKeyFile is an NKey seed file for a url target.
	NKeyFile string `yaml:"nkey_file,omitempty" json:"nkey_file,omitempty"`
	// CredsFile is a creds file (JWT and NKey seed) for a url target.
	CredsFile string `yaml:"creds_file,omitempty" json:"creds_file,omitempty"`
	// CAFile verifies a tls:// url target's certificate.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// CertFile and KeyFile: the client's certificate for mutual TLS.
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	// KeyFile goes with CertFile.
	KeyFile string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
}

// Values the section accepts.
var (
	modes       = []string{modeJetStream, modeCore}
	storages    = []string{"file", "memory"}
	retentions  = []string{"limits", "workqueue", "interest"}
	discards    = []string{"old", "new"}
	consumers   = []string{"pull", "push"}
	ackPolicies = []string{"explicit", "all", "none"}
	rejects     = []string{rejectNak, rejectNoAck}
)

const (
	modeJetStream = "jetstream"
	modeCore      = "core"
	// claimDedupe is the scenario claim of JetStream's Msg-Id dedupe.
	claimDedupe = "jetstream-dedupe"

	rejectNak   = "nak"
	rejectNoAck = "no-ack"
)

// Defaults the driver relies on.
const (
	defaultWindow         = 2 * time.Minute
	defaultAckWait        = 30 * time.Second
	defaultMaxAckPending  = 1000
	defaultFetchBatch     = 100
	defaultPendingLimit   = 65536
	defaultPublishTimeout = 10 * time.Second
	maxReplicas           = 5
)

// Enums lists the values of the section's fields of a fixed set.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"mode": slices.Clone(modes), "storage": slices.Clone(storages), "retention": slices.Clone(retentions),
		"discard": slices.Clone(discards), "consumer": slices.Clone(consumers), "ack_policy": slices.Clone(ackPolicies),
		"reject": slices.Clone(rejects)}
}

// Core NATS's closed-loop window, in bytes: a core publish is confirmed by
// a flush round trip (PING/PONG) behind everything written before it, so
// the window must hold what the server reads in that time and more. At
// 1,000 messages of 1 KiB the publishing loop waited for the window 37% of
// a run and reached 0.6 of a bare nats.go Publish loop; at 8,192 it never
// waited.
const (
	coreWindowBytes = 16 << 20
	coreWindowMin   = 1000
	coreWindowMax   = 65536
	coreMsgOverhead = 128 // the PUB line and the swarm's message
)

// ClosedLoopWindow is the in-flight window per producer a closed-loop run
// needs: core NATS's in bytes (16 MiB of messages, 1,000 to 65,536 of
// them); JetStream's is the kind's default.
func (c *Config) ClosedLoopWindow(messageSize int) int {
	if c.Mode != modeCore {
		return 0
	}
	return min(max(coreWindowBytes/(messageSize+coreMsgOverhead), coreWindowMin), coreWindowMax)
}

// ApplyDefaults fills every unset field, leaving invalid values for
// Validate.
func (c *Config) ApplyDefaults() {
	if c.Mode == "" {
		c.Mode = modeJetStream
	}
	if c.PendingLimit == 0 {
		c.PendingLimit = defaultPendingLimit
	}
	if c.Cluster == 0 {
		c.Cluster = 1
	}
	if c.Mode == modeCore {
		return
	}
	set := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	set(&c.Storage, "file")
	set(&c.Retention, "limits")
	set(&c.Discard, "old")
	set(&c.Consumer, "pull")
	set(&c.AckPolicy, "explicit")
	set(&c.Reject, rejectNak)
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = units.Duration(c.window())
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = units.Duration(defaultPublishTimeout)
	}
	if c.AckWait == 0 {
		c.AckWait = units.Duration(defaultAckWait)
	}
	if c.MaxDeliver == nil {
		n := -1
		c.MaxDeliver = &n
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = defaultMaxAckPending
	}
	if c.FetchBatch == 0 {
		c.FetchBatch = defaultFetchBatch
	}
}

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError. It works before and after ApplyDefaults.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.nats."+field, format, args...))
	}
	oneOf := func(field, v string, valid []string) {
		if v != "" && !slices.Contains(valid, v) {
			add(field, "unknown value %q (valid: %s)", v, strings.Join(valid, ", "))
		}
	}
	oneOf("mode", c.Mode, modes)
	oneOf("storage", c.Storage, storages)
	oneOf("retention", c.Retention, retentions)
	oneOf("discard", c.Discard, discards)
	oneOf("consumer", c.Consumer, consumers)
	oneOf("ack_policy", c.AckPolicy, ackPolicies)
	oneOf("reject", c.Reject, rejects)
	if c.Replicas < 0 || c.Replicas > maxReplicas {
		add("replicas", "must be 1 to %d (got %d)", maxReplicas, c.Replicas)
	}
	if c.MaxMsgs < 0 {
		add("max_msgs", "must not be negative (0: no limit), got %d", c.MaxMsgs)
	}
	if c.MaxBytes < 0 {
		add("max_bytes", "must not be negative (0: no limit), got %d", c.MaxBytes)
	}
	for _, d := range []struct {
		field string
		v     units.Duration
	}{{"max_age", c.MaxAge}, {"duplicate_window", c.DuplicateWindow}, {"duplicate_delay", c.DuplicateDelay},
		{"publish_timeout", c.PublishTimeout}, {"ack_wait", c.AckWait}, {"nak_delay", c.NakDelay}, {"consumer_delay", c.ConsumerDelay}} {
		if d.v < 0 {
			add(d.field, "must not be negative (got %s)", d.v)
		}
	}
	if w, a := c.DuplicateWindow.D(), c.MaxAge.D(); a > 0 && w > a {
		add("duplicate_window", "%s is longer than max_age %s: the server refuses a window past the messages' age", w, a)
	}
	if w := c.AckWait.D(); w > 0 && w < time.Second/10 {
		add("ack_wait", "must be at least 100ms (got %s)", w)
	}
	if c.MaxDeliver != nil && (*c.MaxDeliver == 0 || *c.MaxDeliver < -1) {
		add("max_deliver", "must be at least 1, or -1 for no limit (got %d)", *c.MaxDeliver)
	}
	for _, n := range []struct {
		field string
		v     int
	}{{"duplicate_sends", c.DuplicateSends}, {"max_ack_pending", c.MaxAckPending}, {"fetch_batch", c.FetchBatch}, {"pending_limit", c.PendingLimit}} {
		if n.v < 0 {
			add(n.field, "must not be negative (got %d)", n.v)
		}
	}
	if s := c.SyncInterval; s != "" && s != "always" {
		if d, err := units.ParseDuration(s); err != nil || d <= 0 {
			add("sync_interval", "%q is neither always nor a positive duration (1s)", s)
		}
	}
	if c.Cluster != 0 && c.Cluster != 1 && c.Cluster != 3 {
		add("cluster", "must be 1 or 3 (got %d)", c.Cluster)
	}
	if c.Mode == modeCore {
		for _, f := range c.jetStreamFields() {
			add(f, "is a JetStream setting; mode core has no stream (remove it or set mode: jetstream)")
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		add("cert_file", "cert_file and key_file go together")
	}
	if c.Password != "" && c.User == "" {
		add("password", "needs user")
	}
	return errors.Join(ps...)
}

// jetStreamFields names the stream and consumer settings that are set, for
// a core configuration that must not have them. Defaults are not set in
// core mode, so only what the scenario wrote shows.
func (c *Config) jetStreamFields() []string {
	var fs []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"storage", c.Storage != ""}, {"replicas", c.Replicas > 1}, {"retention", c.Retention != ""}, {"max_msgs", c.MaxMsgs != 0},
		{"max_bytes", c.MaxBytes != 0}, {"discard", c.Discard != ""}, {"max_age", c.MaxAge != 0}, {"duplicate_window", c.DuplicateWindow != 0},
		{"duplicate_sends", c.DuplicateSends != 0}, {"consumer", c.Consumer != ""}, {"ack_policy", c.AckPolicy != ""},
		{"ack_wait", c.AckWait != 0}, {"max_deliver", c.MaxDeliver != nil}, {"max_ack_pending", c.MaxAckPending != 0},
		{"nak_delay", c.NakDelay != 0}, {"reject", c.Reject != ""}, {"fetch_batch", c.FetchBatch != 0}} {
		if f.set {
			fs = append(fs, f.name)
		}
	}
	return fs
}

// CheckSpec rejects settings that contradict the rest of the scenario.
func (c *Config) CheckSpec(spec broker.Spec) error {
	var ps []error
	core := c.Mode == modeCore
	for i, claim := range spec.Claims {
		switch {
		case claim != claimDedupe:
		case core:
			ps = append(ps, broker.Problem("claims."+strconv.Itoa(i), "jetstream-dedupe is the promise of JetStream's Nats-Msg-Id window; core NATS stores nothing (claim at-most-once, or set broker.nats.mode: jetstream)"))
		case c.DuplicateSends == 0:
			// Without re-sends nothing tests the window: the claim would
			// pass on a run that checked only loss.
			ps = append(ps, broker.Problem("broker.nats.duplicate_sends", "jetstream-dedupe is checked by deliberate re-sends of acked messages with their Nats-Msg-Id: set duplicate_sends (1000, say)"))
		case c.DuplicateDelay.D() >= c.window():
			ps = append(ps, broker.Problem("broker.nats.duplicate_delay", "%s is not inside duplicate_window %s: a re-send past the window is stored again by design, and jetstream-dedupe promises only the window (claim exactly-once to see what happens past it)",
				c.DuplicateDelay.D(), c.window()))
		}
	}
	if d := spec.Destination; d != "" && strings.ContainsAny(d, ". *>\t/\\") {
		ps = append(ps, broker.Problem("broker.destination", "%q: a stream and subject name holds no '.', '*', '>', '/', '\\' or spaces", d))
	}
	if core {
		if spec.FailFraction > 0 {
			ps = append(ps, broker.Problem("consumers.fail_fraction", "core NATS cannot deliver a message again (it stores nothing); use mode jetstream"))
		}
		return errors.Join(ps...)
	}
	nodes := c.Cluster
	if spec.Target == broker.TargetExec || spec.Target == broker.TargetContainer {
		nodes = 1
	}
	if spec.Target == broker.TargetContainer {
		ps = append(ps, container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, false))
	}
	if c.Replicas > 1 && spec.Target != broker.TargetURL && c.Replicas > nodes {
		ps = append(ps, broker.Problem("broker.nats.replicas", "%d replicas need as many servers; the %s target runs %d (set broker.nats.cluster: 3 on the embedded target)",
			c.Replicas, targetName(spec.Target), nodes))
	}
	if c.Cluster == 3 && spec.Target != "" && spec.Target != broker.TargetEmbedded {
		ps = append(ps, broker.Problem("broker.nats.cluster", "only the embedded target runs a cluster"))
	}
	if spec.Target == broker.TargetExec {
		ps = append(ps, c.checkServer())
	} else if c.Server != "" {
		ps = append(ps, broker.Problem("broker.nats.server", "is the exec target's nats-server binary (set broker.target: exec)"))
	}
	if c.SyncInterval != "" && (spec.Target == broker.TargetURL || spec.Target == broker.TargetContainer) {
		ps = append(ps, broker.Problem("broker.nats.sync_interval", "is the server's setting: set it in your server's configuration"))
	}
	if c.Retention == "workqueue" && spec.Subscriptions > 1 {
		ps = append(ps, broker.Problem("consumers.subscriptions", "a workqueue stream takes one consumer: use retention limits or interest for several subscriptions"))
	}
	if spec.FailAction == broker.FailDeadLetter {
		switch {
		case c.AckPolicy == "none":
			ps = append(ps, broker.Problem("consumers.fail_action", "with ack_policy none nothing can be rejected"))
		case c.Retention != "" && c.Retention != "limits":
			ps = append(ps, broker.Problem("consumers.fail_action", "dead-lettered messages are read back from the stream, which a %s stream does not keep: use retention limits", c.Retention))
		}
	}
	if c.Reject == rejectNoAck && spec.FailAction == broker.FailDeadLetter && c.maxDeliver() <= 0 && c.AckPolicy != "none" {
		// A poison message never answered comes back for ever: only
		// max_deliver ends it (a nak'ed one is terminated instead).
		ps = append(ps, broker.Problem("broker.nats.reject", "no-ack with fail_action dead-letter needs max_deliver: the server would deliver a message never acked for ever"))
	}
	if spec.FailFraction > 0 && c.AckPolicy == "none" {
		ps = append(ps, broker.Problem("consumers.fail_fraction", "with ack_policy none a delivery cannot be rejected: it counts as acked when sent"))
	}
	if c.DuplicateSends > 0 && spec.Subscriptions > 1 {
		ps = append(ps, broker.Problem("broker.nats.duplicate_sends", "count re-sends with one subscription"))
	}
	return errors.Join(ps...)
}

// checkServer refuses a server binary that is not there, and
// sync_interval on one too old to have it. A default server that is
// missing is the machine's problem, not the scenario's: opening the
// target says so.
func (c *Config) checkServer() error {
	path, err := FindServer(c.Server)
	switch {
	case err != nil && c.Server != "":
		return broker.Problem("broker.nats.server", "%v", err)
	case err != nil || c.SyncInterval == "":
		return nil
	}
	v, err := serverVersion(context.Background(), path)
	if err != nil {
		return broker.Problem("broker.nats.server", "%v", err)
	}
	return checkSync(c, path, v)
}

func targetName(t string) string {
	if t == "" {
		return broker.TargetEmbedded
	}
	return t
}

func (c *Config) maxDeliver() int {
	if c.MaxDeliver == nil {
		return -1
	}
	return *c.MaxDeliver
}

// window is duplicate_window, or its default when unset: 2m, or max_age
// when that is shorter.
func (c *Config) window() time.Duration {
	if c.DuplicateWindow != 0 {
		return c.DuplicateWindow.D()
	}
	if a := c.MaxAge.D(); a > 0 && a < defaultWindow {
		return a
	}
	return defaultWindow
}

var _ broker.Redeliverer = (*Config)(nil)

// RedeliveryAfter is ack_wait: how long a delivery not acknowledged waits
// before it is delivered again.
func (c *Config) RedeliveryAfter() (string, time.Duration) { return "ack_wait", c.AckWait.D() }
