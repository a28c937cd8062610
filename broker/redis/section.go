package redis

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	"github.com/mqcheck/mqcheck/units"
)

// Config configures the go-redis driver. A scenario writes it as
// broker.redis. Zero values mean "unset"; ApplyDefaults fills them in, so
// a resolved scenario shows every value the driver used.
type Config struct {
	// Mode: streams (a stream and consumer groups, the default) or pubsub
	// (PUBLISH and SUBSCRIBE on a channel: at most once, nothing stored,
	// a subscriber that is not connected misses what is published).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`

	// MaxLen trims the stream on every XADD to about (approx) or exactly
	// this many entries. 0: no trimming. Entries trimmed before every group
	// read them are lost by policy: counted lost, with a notice.
	MaxLen int64 `yaml:"maxlen,omitempty" json:"maxlen,omitempty"`
	// MaxLenApprox trims with MAXLEN ~ (whole macro nodes, cheaper) instead
	// of MAXLEN =.
	MaxLenApprox bool `yaml:"maxlen_approx,omitempty" json:"maxlen_approx,omitempty"`

	// Count is XREADGROUP's and XAUTOCLAIM's COUNT: entries per read.
	// Default 100.
	Count *int `yaml:"count,omitempty" json:"count,omitempty"`
	// Block is XREADGROUP's BLOCK: how long one read waits for entries.
	// Default 1s.
	Block *units.Duration `yaml:"block,omitempty" json:"block,omitempty"`
	// Autoclaim: consumers take over the entries other consumers of their
	// group left pending for min_idle (a crashed consumer's) with
	// XAUTOCLAIM, and deliver them flagged redelivered. Default true.
	// Without it a dead consumer's pending entries stay pending for ever.
	Autoclaim *bool `yaml:"autoclaim,omitempty" json:"autoclaim,omitempty"`
	// MinIdle is XAUTOCLAIM's min-idle-time: how long an entry stays
	// pending before another consumer may claim it. Default 10s.
	MinIdle *units.Duration `yaml:"min_idle,omitempty" json:"min_idle,omitempty"`

	// Appendonly turns the private server's AOF on (target exec; a url
	// target keeps its own persistence). Default false: no AOF.
	Appendonly bool `yaml:"appendonly,omitempty" json:"appendonly,omitempty"`
	// Appendfsync: always (fsync before each write is answered), everysec
	// or no (the kernel decides). Default everysec, Redis's own.
	Appendfsync string `yaml:"appendfsync,omitempty" json:"appendfsync,omitempty"`
	// Save is the RDB save setting, as redis.conf writes it ("60 1000");
	// default "" (no snapshots).
	Save string `yaml:"save,omitempty" json:"save,omitempty"`

	// Replicas of the private server (target exec), 0 to 2: each a
	// redis-server with --replicaof the primary, the same persistence.
	// Nodes 1 and up in faults.
	Replicas int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
	// Failover: when the primary stops, the first running replica is
	// promoted (REPLICAOF NO ONE) and clients follow it; the old primary
	// comes back as its replica. Needs replicas.
	Failover bool `yaml:"failover,omitempty" json:"failover,omitempty"`
	// WaitReplicas: after each pipeline of XADDs producers send WAIT with
	// this many replicas; entries WAIT does not confirm within wait_timeout
	// are indeterminate, not acked. 0: no WAIT (acked by the primary
	// alone).
	WaitReplicas int `yaml:"wait_replicas,omitempty" json:"wait_replicas,omitempty"`
	// WaitTimeout is WAIT's timeout. Default 1s with wait_replicas.
	WaitTimeout units.Duration `yaml:"wait_timeout,omitempty" json:"wait_timeout,omitempty"`

	// Cluster: the url names a Redis Cluster node; the driver uses a
	// cluster client (the stream is one key, on one shard).
	Cluster bool `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// TLS of a url target (rediss:// turns it on with system roots).
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`

	// RequestTimeout bounds one command; an XADD past it is
	// indeterminate. Default 5s.
	RequestTimeout units.Duration `yaml:"request_timeout,omitempty" json:"request_timeout,omitempty"`
}

// TLS are the client's TLS files for a url target.
type TLS struct {
	// CAFile verifies the server's certificate (PEM); default the system roots.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// CertFile and KeyFile are the client's certificate, for servers that ask.
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	// InsecureSkipVerify accepts any server certificate (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

var (
	fsyncs = []string{"always", "everysec", "no"}
	modes  = []string{"streams", "pubsub"}
)

// Defaults the driver relies on.
const (
	defaultCount          = 100
	defaultBlock          = time.Second
	defaultMinIdle        = 10 * time.Second
	defaultRequestTimeout = 5 * time.Second
	maxCount              = 100000
	defaultWaitTimeout    = time.Second
	maxReplicas           = 2
)

// Enums lists the values of the section's fields of a fixed set.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"appendfsync": slices.Clone(fsyncs), "mode": slices.Clone(modes)}
}

// ApplyDefaults fills every unset field, leaving invalid values for
// Validate.
func (c *Config) ApplyDefaults() {
	if c.Mode == "" {
		c.Mode = "streams"
	}
	if c.Count == nil {
		n := defaultCount
		c.Count = &n
	}
	if c.Block == nil {
		d := units.Duration(defaultBlock)
		c.Block = &d
	}
	if c.Autoclaim == nil {
		t := true
		c.Autoclaim = &t
	}
	if c.MinIdle == nil && *c.Autoclaim {
		d := units.Duration(defaultMinIdle)
		c.MinIdle = &d
	}
	if c.Appendfsync == "" {
		c.Appendfsync = "everysec"
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = units.Duration(defaultRequestTimeout)
	}
	if c.WaitReplicas > 0 && c.WaitTimeout == 0 {
		c.WaitTimeout = units.Duration(defaultWaitTimeout)
	}
}

// pubsub reports whether the run uses PUBLISH and SUBSCRIBE.
func (c *Config) pubsub() bool { return c != nil && c.Mode == "pubsub" }

// autoclaim reports whether consumers claim idle pending entries.
func (c *Config) autoclaim() bool { return c.Autoclaim == nil || *c.Autoclaim }

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError naming its path. Zero values count as unset.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.redis."+field, format, args...))
	}
	if c.Mode != "" && !slices.Contains(modes, c.Mode) {
		add("mode", "unknown value %q (valid: %s)", c.Mode, strings.Join(modes, ", "))
	}
	if c.pubsub() && c.MaxLen != 0 {
		add("maxlen", "trims a stream; mode pubsub has none")
	}
	if c.MaxLen < 0 {
		add("maxlen", "must not be negative (got %d; 0: no trimming)", c.MaxLen)
	}
	if c.MaxLenApprox && c.MaxLen == 0 {
		add("maxlen_approx", "trims only with maxlen; set maxlen or remove maxlen_approx")
	}
	if c.Count != nil && (*c.Count < 1 || *c.Count > maxCount) {
		add("count", "must be 1 to %d entries per read (got %d)", maxCount, *c.Count)
	}
	if c.Block != nil && (c.Block.D() < time.Millisecond || c.Block.D() > time.Minute) {
		add("block", "must be 1ms to 1m (got %s; BLOCK 0 would wait for ever)", c.Block.D())
	}
	if c.MinIdle != nil {
		switch m := c.MinIdle.D(); {
		case m < 0:
			add("min_idle", "must not be negative (got %s)", m)
		case m < time.Millisecond && c.autoclaim():
			add("min_idle", "must be at least 1ms with autoclaim: with 0 consumers would claim each other's entries while they are being processed")
		}
	}
	if c.Appendfsync != "" && !slices.Contains(fsyncs, c.Appendfsync) {
		add("appendfsync", "unknown value %q (valid: %s)", c.Appendfsync, strings.Join(fsyncs, ", "))
	}
	if err := checkSave(c.Save); err != "" {
		add("save", "%s", err)
	}
	if c.Replicas < 0 || c.Replicas > maxReplicas {
		add("replicas", "must be 0 to %d (got %d)", maxReplicas, c.Replicas)
	}
	if c.Failover && c.Replicas == 0 {
		add("failover", "needs a replica to promote: set replicas")
	}
	if c.WaitReplicas < 0 {
		add("wait_replicas", "must not be negative (got %d)", c.WaitReplicas)
	}
	if w := c.WaitTimeout.D(); w < 0 || (w > 0 && w < time.Millisecond) {
		add("wait_timeout", "must be at least 1ms (got %s; WAIT 0 would wait for ever)", w)
	}
	if t := c.RequestTimeout.D(); t < 0 || (t > 0 && t < 100*time.Millisecond) {
		add("request_timeout", "must be at least 100ms (got %s)", t)
	}
	return errors.Join(ps...)
}

// checkSave checks an RDB save setting: pairs of seconds and changes.
func checkSave(s string) string {
	f := strings.Fields(s)
	if len(f)%2 != 0 {
		return "must be pairs of <seconds> <changes> (\"3600 1 300 100\"), or empty for no snapshots"
	}
	for _, n := range f {
		for _, r := range n {
			if r < '0' || r > '9' {
				return "must be pairs of whole numbers <seconds> <changes> (got " + s + ")"
			}
		}
	}
	return ""
}

// CheckSpec rejects settings that contradict the rest of the scenario.
func (c *Config) CheckSpec(spec broker.Spec) error {
	var ps []error
	if err := broker.NoDeadLetter("redis", spec); err != nil {
		ps = append(ps, err)
	}
	if spec.FailFraction > 0 && c != nil && !c.autoclaim() {
		ps = append(ps, broker.Problem("consumers.fail_fraction", "a failed delivery stays pending until a consumer claims it; it needs broker.redis.autoclaim: true"))
	}
	if c.pubsub() {
		if spec.Consumers > 1 {
			ps = append(ps, broker.Problem("consumers.count", "%d: in mode pubsub every subscriber gets every message, so a subscription has one consumer (use consumers.subscriptions for more)", spec.Consumers))
		}
		if spec.FailFraction > 0 {
			ps = append(ps, broker.Problem("consumers.fail_fraction", "mode pubsub has no redelivery: a failed message is gone"))
		}
		if c.WaitReplicas > 0 {
			ps = append(ps, broker.Problem("broker.redis.wait_replicas", "mode pubsub stores nothing to replicate"))
		}
	}
	cluster := c != nil && c.Cluster
	switch spec.Target {
	case broker.TargetURL:
		if spec.URL != "" {
			if p := checkURL(spec.URL, cluster); p != "" {
				ps = append(ps, broker.Problem("broker.url", "%s", p))
			}
		}
	case broker.TargetContainer:
		ps = append(ps, container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, false))
		if c != nil && len(spec.Container.Command) > 0 && (c.Appendonly || c.Save != "") {
			ps = append(ps, broker.Problem("broker.redis.appendonly", "broker.command replaces the server's command line, persistence included: set appendonly, appendfsync and save in one place"))
		}
		fallthrough
	case "", broker.TargetExec, broker.TargetEmbedded:
		if cluster {
			ps = append(ps, broker.Problem("broker.redis.cluster", "only a url target can be a cluster"))
		}
		if c != nil && c.TLS != nil {
			ps = append(ps, broker.Problem("broker.redis.tls", "only a url target uses TLS"))
		}
	}
	if c != nil && spec.Target != "" && spec.Target != broker.TargetExec && c.Replicas > 0 {
		ps = append(ps, broker.Problem("broker.redis.replicas", "mqcheck starts replicas only with target exec"))
	}
	if c != nil && (spec.Target == "" || spec.Target == broker.TargetExec) && c.WaitReplicas > c.Replicas {
		ps = append(ps, broker.Problem("broker.redis.wait_replicas", "%d, but the private server has %d replicas: every WAIT would time out", c.WaitReplicas, c.Replicas))
	}
	if c != nil && spec.Target == broker.TargetEmbedded && c.WaitReplicas > 0 {
		ps = append(ps, broker.Problem("broker.redis.wait_replicas", "miniredis (target embedded) has no replicas"))
	}
	if spec.Target == broker.TargetEmbedded && c != nil && (c.Appendonly || c.Save != "") {
		ps = append(ps, broker.Problem("broker.redis.appendonly", "miniredis (target embedded) keeps nothing on disk; persistence needs target exec"))
	}
	return errors.Join(ps...)
}

// checkURL checks a url target's address; the message never shows the
// password.
func checkURL(raw string, cluster bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL (redis://[user:password@]host:port[/db] or rediss://...)"
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "scheme " + u.Scheme + " is not redis or rediss"
	}
	if u.Host == "" {
		return "no host (redis://host:port)"
	}
	db := strings.Trim(u.Path, "/")
	if db != "" {
		for _, r := range db {
			if r < '0' || r > '9' {
				return "path /" + db + " is not a database index"
			}
		}
		if cluster && db != "0" {
			return "a Redis Cluster has database 0 only; remove /" + db + " from the url"
		}
	}
	return ""
}

var _ broker.Redeliverer = (*Config)(nil)

// RedeliveryAfter is min_idle: how long a message a consumer took and never
// acknowledged waits before it is delivered again.
func (c *Config) RedeliveryAfter() (string, time.Duration) {
	if c.MinIdle == nil {
		return "min_idle", 0
	}
	return "min_idle", c.MinIdle.D()
}
