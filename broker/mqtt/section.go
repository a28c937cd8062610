package mqtt

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	"github.com/mqcheck/mqcheck/units"
)

// Config configures the MQTT driver. A scenario writes it as broker.mqtt.
// Zero values mean "unset"; ApplyDefaults fills them in.
type Config struct {
	// Version of the protocol: "5" (paho.golang) or "3.1.1"
	// (paho.mqtt.golang: no shared subscriptions, receive maximum or
	// session expiry; a persistent session lasts until the broker drops
	// it). Default 5.
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
	// QoS of every publish, 0 to 2. Default 1.
	QoS *int `yaml:"qos,omitempty" json:"qos,omitempty"`
	// ProducerQoS sets the QoS per producer instead of qos: producer i
	// publishes at producer_qos[i mod its length], so [0, 1] makes every
	// other producer QoS 0. The claims mqtt-qos0/1/2 then judge the
	// messages delivered at their level only, and the results show each
	// one's counts.
	ProducerQoS []int `yaml:"producer_qos,omitempty" json:"producer_qos,omitempty"`
	// SubscribeQoS is the maximum QoS of every subscription, 0 to 2: a
	// message is delivered at the lower of the two. Default: qos (the
	// highest of producer_qos).
	SubscribeQoS *int `yaml:"subscribe_qos,omitempty" json:"subscribe_qos,omitempty"`
	// SubscriptionQoS sets the maximum QoS per subscription instead of
	// subscribe_qos: subscription i (consumers.subscriptions) subscribes
	// at subscription_qos[i mod its length].
	SubscriptionQoS []int `yaml:"subscription_qos,omitempty" json:"subscription_qos,omitempty"`
	// CleanStart: consumers start a new session on every connection, so
	// what a dropped connection had in flight is gone. Default false: a
	// persistent session (session_expiry) that a consumer reconnecting
	// with the same client id takes over, in-flight messages resent
	// flagged DUP. Producers always start clean.
	CleanStart bool `yaml:"clean_start,omitempty" json:"clean_start,omitempty"`
	// SessionExpiry of a consumer's persistent session after its
	// connection closes. Default 5m.
	SessionExpiry *units.Duration `yaml:"session_expiry,omitempty" json:"session_expiry,omitempty"`
	// Retain publishes every message with the retain flag.
	Retain bool `yaml:"retain,omitempty" json:"retain,omitempty"`
	// Topics: shared (every producer publishes to <destination>) or
	// per-producer (<destination>/p<i>, subscribed with the wildcard
	// <destination>/+). Default shared.
	Topics string `yaml:"topics,omitempty" json:"topics,omitempty"`
	// ReceiveMaximum each consumer announces: the QoS 1 and 2 messages
	// the broker may have in flight to it unacknowledged. Default 0: the
	// protocol's (65535).
	ReceiveMaximum int `yaml:"receive_maximum,omitempty" json:"receive_maximum,omitempty"`
	// KeepAlive of every connection, whole seconds. Default 30s.
	KeepAlive units.Duration `yaml:"keep_alive,omitempty" json:"keep_alive,omitempty"`
	// ClientIDPrefix of every client id (producers <prefix>-p<i>,
	// consumers <prefix>-s<subscription>c<slot>). Default mqc-<8
	// characters of the run id>.
	ClientIDPrefix string `yaml:"client_id_prefix,omitempty" json:"client_id_prefix,omitempty"`
	// ConnectRate caps new connections per second across the run (a
	// fleet's ramp). Default 0: no cap.
	ConnectRate int `yaml:"connect_rate,omitempty" json:"connect_rate,omitempty"`
	// Username of every connection (url targets; a broker.url's user
	// info is taken instead when it has one).
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	// Password of Username.
	Password string `yaml:"password,omitempty" json:"password,omitempty" secret:"true"`
	// TLS of url targets reached as mqtts://.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`

	// MaxInflight of the embedded server (mochi's MaximumInflight): the
	// QoS 1 and 2 messages it keeps per client; past it, it drops
	// messages for that client. Default 8192, mochi's.
	MaxInflight int `yaml:"max_inflight,omitempty" json:"max_inflight,omitempty"`
	// Persistence of the embedded server's sessions: none (a restart
	// forgets them) or bolt (a file under the run directory, kept across
	// restarts; mochi 2.7.9 with its bolt hook lost a message now and
	// then when a client took its session over, most likely the takeover
	// race the embedded target now repairs, see README). Default none.
	Persistence string `yaml:"persistence,omitempty" json:"persistence,omitempty"`

	// ConsumeOver: mqtt (the default, left unset), or amqp on target rabbitmq: consumers
	// read over AMQP 0-9-1 what producers publish over MQTT, each
	// subscription a durable queue bound to amq.topic with the topic as
	// routing key ('/' as '.'), its consumers sharing it.
	ConsumeOver string `yaml:"consume_over,omitempty" json:"consume_over,omitempty"`

	// Mosquitto settings of the exec target.
	Mosquitto *Mosquitto `yaml:"mosquitto,omitempty" json:"mosquitto,omitempty"`
}

// TLS are the client's TLS settings.
type TLS struct {
	// CAFile verifies the server (PEM); default the system's roots.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// CertFile and KeyFile are a client certificate (PEM).
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	// KeyFile of CertFile.
	KeyFile string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

// Mosquitto configures the private mosquitto of the exec target.
type Mosquitto struct {
	// AutosaveInterval: seconds between saves of the in-memory store to
	// the persistence file. Default 1800, mosquitto's. A kill -9 loses
	// what changed since the last save.
	AutosaveInterval int `yaml:"autosave_interval,omitempty" json:"autosave_interval,omitempty"`
	// AutosaveOnChanges: autosave_interval counts changes, not seconds.
	AutosaveOnChanges bool `yaml:"autosave_on_changes,omitempty" json:"autosave_on_changes,omitempty"`
	// MaxQueuedMessages per client (offline sessions and in flight).
	// Default 100000 (mosquitto's 1000 drops messages under load).
	MaxQueuedMessages int `yaml:"max_queued_messages,omitempty" json:"max_queued_messages,omitempty"`
	// MaxInflightMessages: QoS 1 and 2 messages mosquitto sends a client
	// before it waits for their acknowledgements; the rest wait in its
	// queue (in memory until the next save). Default 0: no limit, so a
	// slow subscriber's backlog sits in socket buffers, and in front of a
	// container in the engine's port forwarding, where a kill of the
	// broker does not reach it (mosquitto's own default is 20).
	MaxInflightMessages int `yaml:"max_inflight_messages,omitempty" json:"max_inflight_messages,omitempty"`
}

// Values the section accepts.
var (
	versions      = []string{"5", version311}
	topicModes    = []string{"shared", "per-producer"}
	persistences  = []string{"none", "bolt"}
	consumeOvers  = []string{"mqtt", consumeAMQP}
	maxClientID   = 23 // MQTT 3.1.1's length a server must accept
	claimsByQoS   = []string{"mqtt-qos0", "mqtt-qos1", "mqtt-qos2"}
	maxSessionExp = time.Duration(1<<32-1) * time.Second
)

// consumeAMQP: consumers over AMQP 0-9-1 (target rabbitmq).
const consumeAMQP = "amqp"

// Defaults the driver relies on.
const (
	defaultQoS           = 1
	defaultSessionExpiry = 5 * time.Minute
	defaultKeepAlive     = 30 * time.Second
	defaultMaxInflight   = 8192
	defaultAutosave      = 1800
	defaultMaxQueued     = 100000
)

// Enums lists the values of the section's fields of a fixed set.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"version": slices.Clone(versions), "topics": slices.Clone(topicModes),
		"persistence": slices.Clone(persistences), "consume_over": slices.Clone(consumeOvers)}
}

// ApplyDefaults fills every unset field.
func (c *Config) ApplyDefaults() {
	if c.Version == "" {
		c.Version = "5"
	}
	// The lists replace the single values: neither is set beside them.
	if c.QoS == nil && len(c.ProducerQoS) == 0 {
		q := defaultQoS
		c.QoS = &q
	}
	if c.SubscribeQoS == nil && len(c.SubscriptionQoS) == 0 {
		q := c.subQoS(0)
		c.SubscribeQoS = &q
	}
	if c.SessionExpiry == nil {
		d := units.Duration(defaultSessionExpiry)
		if c.CleanStart {
			d = 0
		}
		c.SessionExpiry = &d
	}
	if c.Topics == "" {
		c.Topics = "shared"
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = units.Duration(defaultKeepAlive)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = defaultMaxInflight
	}
	if c.Persistence == "" {
		c.Persistence = "none"
	}
	if c.Mosquitto == nil {
		c.Mosquitto = &Mosquitto{}
	}
	if c.Mosquitto.AutosaveInterval == 0 {
		c.Mosquitto.AutosaveInterval = defaultAutosave
	}
	if c.Mosquitto.MaxQueuedMessages == 0 {
		c.Mosquitto.MaxQueuedMessages = defaultMaxQueued
	}
}

// qos is the publish QoS of producer p (default applied).
func (c *Config) qos(p int) int {
	switch {
	case c == nil:
		return defaultQoS
	case len(c.ProducerQoS) > 0:
		return c.ProducerQoS[p%len(c.ProducerQoS)]
	case c.QoS == nil:
		return defaultQoS
	}
	return *c.QoS
}

// subQoS is subscription sub's maximum QoS (default applied).
func (c *Config) subQoS(sub int) int {
	switch {
	case c != nil && len(c.SubscriptionQoS) > 0:
		return c.SubscriptionQoS[sub%len(c.SubscriptionQoS)]
	case c == nil || c.SubscribeQoS == nil:
		q := c.qos(0)
		if c != nil && len(c.ProducerQoS) > 0 {
			q = slices.Max(c.ProducerQoS)
		}
		return q
	}
	return *c.SubscribeQoS
}

// DeliveredQoS is the QoS producer p's messages reach subscription sub
// at: the lower of the publish's and the subscription's.
func (c *Config) DeliveredQoS(sub, p int) int { return min(c.qos(p), c.subQoS(sub)) }

// deliveredLevels lists, for each QoS level, the producers whose messages
// some subscription gets at that level, of producers producers and subs
// subscriptions.
func (c *Config) deliveredLevels(producers, subs int) [3][]int {
	var at [3][]int
	for p := range max(producers, 1) {
		var seen [3]bool
		for sub := range max(subs, 1) {
			// A level out of range is Validate's to report.
			if q := c.DeliveredQoS(sub, p); q >= 0 && q <= 2 && !seen[q] {
				seen[q] = true
				at[q] = append(at[q], p)
			}
		}
	}
	return at
}

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError naming its path.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.mqtt."+field, format, args...))
	}
	if c.Version != "" && !slices.Contains(versions, c.Version) {
		if c.Version == "3" || c.Version == "4" || c.Version == "3.1" {
			add("version", "unknown value %q: MQTT 3.1.1 (protocol level 4) is written \"3.1.1\" (valid: %s)", c.Version, strings.Join(versions, ", "))
		} else {
			add("version", "unknown value %q (valid: %s)", c.Version, strings.Join(versions, ", "))
		}
	}
	for _, q := range []struct {
		field string
		v     *int
	}{{"qos", c.QoS}, {"subscribe_qos", c.SubscribeQoS}} {
		if q.v != nil && (*q.v < 0 || *q.v > 2) {
			add(q.field, "must be 0, 1 or 2 (got %d): MQTT has three levels, at most once, at least once, exactly once", *q.v)
		}
	}
	for _, q := range []struct {
		field, single string
		vs            []int
		set           bool
	}{{"producer_qos", "qos", c.ProducerQoS, c.QoS != nil}, {"subscription_qos", "subscribe_qos", c.SubscriptionQoS, c.SubscribeQoS != nil}} {
		for i, v := range q.vs {
			if v < 0 || v > 2 {
				add(q.field+"."+strconv.Itoa(i), "must be 0, 1 or 2 (got %d): MQTT has three levels, at most once, at least once, exactly once", v)
			}
		}
		if len(q.vs) > 0 && q.set {
			add(q.field, "sets what %s sets, per client: remove one of them", q.single)
		}
	}
	if c.SessionExpiry != nil {
		switch e := c.SessionExpiry.D(); {
		case e < 0 || e > maxSessionExp:
			add("session_expiry", "must be 0 to %s (got %s)", maxSessionExp, e)
		case e%time.Second != 0:
			add("session_expiry", "%s is not whole seconds, which is all MQTT takes", e)
		case c.CleanStart && e > 0:
			add("session_expiry", "clean_start: true keeps no session; remove session_expiry or clean_start")
		}
	}
	if c.Topics != "" && !slices.Contains(topicModes, c.Topics) {
		add("topics", "unknown value %q (valid: %s)", c.Topics, strings.Join(topicModes, ", "))
	}
	if c.ReceiveMaximum < 0 || c.ReceiveMaximum > 65535 {
		add("receive_maximum", "must be 1 to 65535, or 0 for the protocol's default (got %d)", c.ReceiveMaximum)
	} else if c.ReceiveMaximum > 0 && c.Version == version311 {
		add("receive_maximum", "MQTT 3.1.1 has no receive maximum (it is MQTT 5's): remove it or use version \"5\"")
	}
	if k := c.KeepAlive.D(); k < 0 || k > 65535*time.Second || k%time.Second != 0 {
		add("keep_alive", "must be whole seconds, 0 to 65535s (got %s)", k)
	}
	if err := checkPrefix(c.ClientIDPrefix); err != nil {
		add("client_id_prefix", "%v", err)
	}
	if c.ConnectRate < 0 {
		add("connect_rate", "must not be negative (got %d)", c.ConnectRate)
	}
	if c.Password != "" && c.Username == "" {
		add("password", "a password needs a username")
	}
	if c.MaxInflight < 0 || c.MaxInflight > 65535 {
		add("max_inflight", "must be 1 to 65535 (got %d)", c.MaxInflight)
	}
	if c.Persistence != "" && !slices.Contains(persistences, c.Persistence) {
		add("persistence", "unknown value %q (valid: %s)", c.Persistence, strings.Join(persistences, ", "))
	}
	if c.ConsumeOver != "" && !slices.Contains(consumeOvers, c.ConsumeOver) {
		add("consume_over", "unknown value %q (valid: %s)", c.ConsumeOver, strings.Join(consumeOvers, ", "))
	}
	if m := c.Mosquitto; m != nil {
		if m.AutosaveInterval < 0 {
			add("mosquitto.autosave_interval", "must not be negative (got %d)", m.AutosaveInterval)
		}
		if m.MaxQueuedMessages < 0 {
			add("mosquitto.max_queued_messages", "must not be negative (got %d)", m.MaxQueuedMessages)
		}
		if m.MaxInflightMessages < 0 || m.MaxInflightMessages > 65535 {
			add("mosquitto.max_inflight_messages", "must be 0 (no limit) to 65535 (got %d)", m.MaxInflightMessages)
		}
	}
	return errors.Join(ps...)
}

// qosWords says what sets the QoS levels: "broker.mqtt.qos 1 and
// subscribe_qos 1", or the lists.
func (c *Config) qosWords() string {
	pub := "broker.mqtt.qos " + strconv.Itoa(c.qos(0))
	if len(c.ProducerQoS) > 0 {
		pub = "broker.mqtt.producer_qos " + fmt.Sprint(c.ProducerQoS)
	}
	sub := "subscribe_qos " + strconv.Itoa(c.subQoS(0))
	if len(c.SubscriptionQoS) > 0 {
		sub = "subscription_qos " + fmt.Sprint(c.SubscriptionQoS)
	}
	return pub + " and " + sub
}

// checkPrefix checks a client id prefix: printable ASCII without the
// topic wildcards, short enough that the longest id stays within 23
// characters, what every MQTT server must accept.
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	for _, r := range p {
		if r <= ' ' || r > '~' || r == '+' || r == '#' || r == '/' {
			return fmt.Errorf("%q: client ids are printable ASCII without spaces, /, + or #", p)
		}
	}
	// The longest suffix mqcheck adds: -p99999 or -s99c99999.
	if n := len(p) + len("-s99c99999"); n > maxClientID {
		return fmt.Errorf("%q is too long: with the suffix mqcheck adds the client id passes %d characters, the length every MQTT server must accept (some refuse longer ones)", p, maxClientID)
	}
	return nil
}

// CheckSpec rejects settings that contradict the rest of the scenario.
func (c *Config) CheckSpec(spec broker.Spec) error {
	var ps []error
	if err := broker.NoDeadLetter("mqtt", spec); err != nil {
		ps = append(ps, err)
	}
	if spec.FailFraction > 0 && c != nil && c.CleanStart {
		ps = append(ps, broker.Problem("consumers.fail_fraction", "MQTT has no negative acknowledgment: mqcheck gives a failed delivery back by dropping the connection, and with clean_start: true the session and the message go with it; use a persistent session"))
	}
	if d := spec.Destination; d != "" {
		if strings.ContainsAny(d, "+#") || strings.HasPrefix(d, "$") {
			ps = append(ps, broker.Problem("broker.destination", "%q: a topic to publish to holds no wildcard (+, #) and does not start with $", d))
		}
	}
	if spec.Target == TargetRabbitMQ && (c == nil || c.Version != version311) {
		v := "5"
		if c != nil && c.Version != "" {
			v = c.Version
		}
		ps = append(ps, broker.Problem("broker.mqtt.version", "%q: RabbitMQ's MQTT plugin (3.10) speaks MQTT 3.1.1 only; write version: \"3.1.1\" with target rabbitmq", v))
	}
	amqpConsumers := c != nil && c.ConsumeOver == consumeAMQP
	if amqpConsumers && spec.Target != TargetRabbitMQ {
		ps = append(ps, broker.Problem("broker.mqtt.consume_over", "amqp: consumers read over AMQP only from RabbitMQ's MQTT plugin, target rabbitmq (the target is %q)", spec.Target))
	}
	if amqpConsumers && c.CleanStart {
		ps = append(ps, broker.Problem("broker.mqtt.clean_start", "consumers over AMQP read durable queues, not MQTT sessions: remove clean_start or consume_over"))
	}
	if c != nil && c.Version == version311 && spec.Consumers > 1 && !amqpConsumers {
		ps = append(ps, broker.Problem("consumers.count", "%d consumers in a subscription share it as an MQTT 5 shared subscription ($share/<group>/<topic>), "+
			"which MQTT 3.1.1 does not have (each would get every message): use version \"5\", or one consumer per subscription (consumers.subscriptions)", spec.Consumers))
	}
	if spec.Target == broker.TargetContainer {
		ps = append(ps, container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, false))
	}
	at := c.deliveredLevels(spec.Producers, spec.Subscriptions)
	for i, claim := range spec.Claims {
		n := slices.Index(claimsByQoS, claim)
		if n < 0 || len(at[n]) > 0 {
			continue
		}
		var levels []string
		for q, ps := range at {
			if len(ps) > 0 {
				levels = append(levels, "mqtt-qos"+strconv.Itoa(q))
			}
		}
		ps = append(ps, broker.Problem("claims."+strconv.Itoa(i), "%s is the promise of QoS %d, and no message is delivered at QoS %d (%s; "+
			"a message is delivered at the lower of its producer's QoS and its subscription's): claim %s",
			claim, n, n, c.qosWords(), strings.Join(levels, " or ")))
	}
	return errors.Join(ps...)
}
