package rabbitmq

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/units"
)

// Config configures the amqp091-go driver. A scenario writes it as
// broker.rabbitmq. Zero values mean "unset"; ApplyDefaults fills them in, so a resolved
// scenario shows every value the driver used. Credentials come from
// broker.url (amqp://user:password@host:port/vhost); exec targets use guest.
type Config struct {
	// QueueType of every queue the run declares: classic, quorum or
	// stream. Default classic.
	QueueType string `yaml:"queue_type,omitempty" json:"queue_type,omitempty"`
	// Durable queues (and exchanges) survive a broker restart. Default
	// true. Quorum queues and streams are always durable.
	Durable *bool `yaml:"durable,omitempty" json:"durable,omitempty"`
	// Persistent publishes with delivery mode 2, so that a durable classic
	// queue writes the message to disk. Default: the same as durable.
	// Quorum queues and streams store every message whatever this says.
	Persistent *bool `yaml:"persistent,omitempty" json:"persistent,omitempty"`
	// MaxLength bounds each queue in messages (x-max-length); 0 means no
	// bound. What happens past it is Overflow.
	MaxLength int64 `yaml:"max_length,omitempty" json:"max_length,omitempty"`
	// Overflow, with max_length: drop-head (the oldest message is dropped
	// or dead-lettered: the checker sees it lost unless dead_letter),
	// reject-publish (the new publish is nacked: failed) or
	// reject-publish-dlx (nacked and dead-lettered). Default drop-head,
	// RabbitMQ's own.
	Overflow string `yaml:"overflow,omitempty" json:"overflow,omitempty"`
	// MessageTTL expires messages that wait longer in a queue
	// (x-message-ttl); expired messages are dropped, or dead-lettered with
	// reason "expired". 0 means none.
	MessageTTL units.Duration `yaml:"message_ttl,omitempty" json:"message_ttl,omitempty"`

	// Pattern: queue (point to point: producers publish to one queue
	// through the default exchange and the subscription's consumers
	// compete for its messages; one subscription only), fanout (pub/sub:
	// a fanout exchange and one queue per subscription, each gets every
	// message), direct or topic (an exchange of that type; producers
	// publish with routing_keys, each subscription's queue is bound with
	// binding_keys). Default queue.
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
	// RoutingKeys producers publish with (direct, topic): producer i uses
	// routing_keys[i mod n]. Default [mqcheck].
	RoutingKeys []string `yaml:"routing_keys,omitempty" json:"routing_keys,omitempty"`
	// BindingKeys bind each subscription's queue to the exchange (direct,
	// topic). Default: routing_keys for direct, [#] for topic. A message
	// whose routing key no binding matches is dropped by the broker (lost
	// once acked), or returned and failed with mandatory.
	BindingKeys []string `yaml:"binding_keys,omitempty" json:"binding_keys,omitempty"`

	// Confirms turns on publisher confirms: a publish is acked or failed
	// when the broker says so, and indeterminate if the connection dies
	// first. Without confirms a publish counts as acked as soon as it was
	// written to the socket, which is all a producer without confirms
	// knows. Default true. At most producers.max_in_flight are unconfirmed
	// per producer.
	Confirms *bool `yaml:"confirms,omitempty" json:"confirms,omitempty"`
	// ConfirmTimeout gives up on a connection whose broker has confirmed
	// nothing for this long while publishes wait: the connection is
	// dropped, its unconfirmed publishes are indeterminate, and the
	// producer reconnects. 0 waits as long as the broker keeps the
	// connection open (a quorum queue without a leader can hold confirms
	// for a minute).
	ConfirmTimeout units.Duration `yaml:"confirm_timeout,omitempty" json:"confirm_timeout,omitempty"`
	// Mandatory makes the broker return a message no queue takes; a
	// returned message counts as failed. Needs confirms.
	Mandatory bool `yaml:"mandatory,omitempty" json:"mandatory,omitempty"`
	// AckMode of consumers: manual (acknowledged after the handler
	// processed the message: at-least-once) or auto (acknowledged by the
	// broker when sent: at-most-once, what a consumer had taken is lost
	// if it dies). Default manual.
	AckMode string `yaml:"ack_mode,omitempty" json:"ack_mode,omitempty"`
	// Prefetch is each consumer's window of unacknowledged deliveries
	// (basic.qos); 0 means unlimited. Default 100. Ignored with ack_mode
	// auto, where the broker does not wait for acks.
	Prefetch *int `yaml:"prefetch,omitempty" json:"prefetch,omitempty"`
	// DeadLetter declares a dead-letter exchange and one dead-letter queue
	// per subscription queue; mqcheck consumes them too, so a message
	// rejected without requeue (consumers.fail_action: dead-letter),
	// expired or pushed out by max_length is counted as dead_lettered
	// with its reason, not as lost.
	DeadLetter bool `yaml:"dead_letter,omitempty" json:"dead_letter,omitempty"`
	// DeadLetterStrategy, with dead_letter: at-most-once (RabbitMQ's
	// default: a message being dead-lettered when the broker is killed can
	// be lost between the two queues, and the checker reports it lost) or
	// at-least-once (quorum queues only: the message stays in its queue
	// until the dead-letter queue has it; RabbitMQ requires overflow
	// reject-publish for it, which the driver sets).
	DeadLetterStrategy string `yaml:"dead_letter_strategy,omitempty" json:"dead_letter_strategy,omitempty"`
	// DeliveryLimit (quorum queues) drops, or dead-letters with reason
	// delivery_limit, a message after this many failed deliveries. 0
	// means none.
	DeliveryLimit int `yaml:"delivery_limit,omitempty" json:"delivery_limit,omitempty"`

	// ReconnectMin and ReconnectMax bound the backoff between attempts
	// to reconnect after a lost connection; it doubles from min to max.
	// Defaults 100ms and 2s.
	ReconnectMin units.Duration `yaml:"reconnect_min,omitempty" json:"reconnect_min,omitempty"`
	ReconnectMax units.Duration `yaml:"reconnect_max,omitempty" json:"reconnect_max,omitempty"`
	// Heartbeat interval asked of the broker; a silent connection is
	// declared dead after about two of them. Default 10s.
	Heartbeat units.Duration `yaml:"heartbeat,omitempty" json:"heartbeat,omitempty"`

	// TLS settings for an amqps:// broker.url.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// TLS configures TLS to an amqps:// url target.
type TLS struct {
	// CAFile (PEM) verifies the broker; empty uses the system roots.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// CertFile and KeyFile (PEM) are the client certificate, for brokers
	// that authenticate clients by certificate; both or neither.
	CertFile string `yaml:"cert_file,omitempty" json:"cert_file,omitempty"`
	KeyFile  string `yaml:"key_file,omitempty" json:"key_file,omitempty"`
	// InsecureSkipVerify accepts any broker certificate.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
}

// Values the section accepts, as written in scenarios.
var (
	queueTypes           = []string{"classic", "quorum", "stream"}
	overflows            = []string{"drop-head", "reject-publish", "reject-publish-dlx"}
	patterns             = []string{"queue", "fanout", "direct", "topic"}
	ackModes             = []string{"manual", "auto"}
	deadLetterStrategies = []string{"at-most-once", "at-least-once"}
)

// Enums lists the values of the section's fields of a fixed set, for the
// scenario schema.
func (r *Config) Enums() map[string][]string {
	return map[string][]string{"queue_type": slices.Clone(queueTypes), "overflow": slices.Clone(overflows),
		"pattern": slices.Clone(patterns), "ack_mode": slices.Clone(ackModes),
		"dead_letter_strategy": slices.Clone(deadLetterStrategies)}
}

// Defaults the driver relies on.
const (
	rabbitDefaultPrefetch     = 100
	rabbitDefaultRoutingKey   = "mqcheck"
	rabbitDefaultReconnectMin = 100 * time.Millisecond
	rabbitDefaultReconnectMax = 2 * time.Second
	rabbitDefaultHeartbeat    = 10 * time.Second
)

// ApplyDefaults fills every unset field. It leaves invalid values alone for
// Problems to report.
func (r *Config) ApplyDefaults() {
	if r.QueueType == "" {
		r.QueueType = "classic"
	}
	if r.Durable == nil {
		// Quorum queues and streams are durable by nature; an unset value
		// must not turn into a contradiction.
		d := true
		r.Durable = &d
	}
	if r.Persistent == nil {
		p := *r.Durable
		r.Persistent = &p
	}
	if r.MaxLength > 0 && r.Overflow == "" {
		r.Overflow = "drop-head"
	}
	if r.Pattern == "" {
		r.Pattern = "queue"
	}
	if (r.Pattern == "direct" || r.Pattern == "topic") && len(r.RoutingKeys) == 0 {
		r.RoutingKeys = []string{rabbitDefaultRoutingKey}
	}
	if len(r.BindingKeys) == 0 {
		switch r.Pattern {
		case "direct":
			r.BindingKeys = slices.Clone(r.RoutingKeys)
		case "topic":
			r.BindingKeys = []string{"#"}
		}
	}
	if r.Confirms == nil {
		c := true
		r.Confirms = &c
	}
	if r.AckMode == "" {
		r.AckMode = "manual"
	}
	if r.Prefetch == nil {
		p := rabbitDefaultPrefetch
		r.Prefetch = &p
	}
	if r.ReconnectMin == 0 {
		r.ReconnectMin = units.Duration(rabbitDefaultReconnectMin)
	}
	if r.ReconnectMax == 0 {
		r.ReconnectMax = units.Duration(max(rabbitDefaultReconnectMax, r.ReconnectMin.D()))
	}
	if r.Heartbeat == 0 {
		r.Heartbeat = units.Duration(rabbitDefaultHeartbeat)
	}
	if r.DeadLetter && r.DeadLetterStrategy == "" {
		r.DeadLetterStrategy = "at-most-once"
	}
}

// IsDurable reports whether queues are durable, applying the default.
func (r *Config) IsDurable() bool { return r.Durable == nil || *r.Durable }

// IsPersistent reports whether messages are published persistent, applying
// the default.
func (r *Config) IsPersistent() bool {
	if r.Persistent != nil {
		return *r.Persistent
	}
	return r.IsDurable()
}

// HasConfirms reports whether publisher confirms are on, applying the
// default.
func (r *Config) HasConfirms() bool { return r.Confirms == nil || *r.Confirms }

func orClassic(queueType string) string {
	if queueType == "" {
		return "classic"
	}
	return queueType
}

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError naming its path ("broker.rabbitmq.queue_type"). It
// works before and after ApplyDefaults: zero values count as unset.
func (r *Config) Validate() error {
	if r == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.rabbitmq."+field, format, args...))
	}
	enum := func(field, v string, valid []string) bool {
		if v != "" && !slices.Contains(valid, v) {
			add(field, "unknown value %q (valid: %s)", v, strings.Join(valid, ", "))
			return false
		}
		return true
	}

	enum("queue_type", r.QueueType, queueTypes)
	enum("overflow", r.Overflow, overflows)
	enum("pattern", r.Pattern, patterns)
	enum("ack_mode", r.AckMode, ackModes)
	enum("dead_letter_strategy", r.DeadLetterStrategy, deadLetterStrategies)
	if r.DeadLetterStrategy != "" && !r.DeadLetter {
		add("dead_letter_strategy", "applies only with dead_letter: true")
	}
	if r.DeadLetterStrategy == "at-least-once" {
		if r.QueueType != "quorum" {
			add("dead_letter_strategy", "at-least-once dead-lettering is for quorum queues only (queue_type is %s)", orClassic(r.QueueType))
		}
		if r.Overflow != "" && r.Overflow != "reject-publish" {
			add("dead_letter_strategy", "at-least-once needs overflow reject-publish (RabbitMQ falls back to at-most-once with %s)", r.Overflow)
		}
	}

	switch r.QueueType {
	case "quorum", "stream":
		if !r.IsDurable() {
			add("durable", "%s queues are always durable; remove durable: false or use queue_type: classic", r.QueueType)
		}
	}
	if r.QueueType == "stream" {
		// Streams keep messages by retention, not by consumption: none of
		// the per-message queue features apply.
		if r.AckMode == "auto" {
			add("ack_mode", "stream consumers must acknowledge (RabbitMQ refuses auto-ack on streams); use ack_mode: manual")
		}
		if r.MaxLength != 0 {
			add("max_length", "streams are bounded by retention, not x-max-length; remove max_length or use a classic or quorum queue")
		}
		if r.Overflow != "" {
			add("overflow", "streams have no overflow behaviour; remove overflow")
		}
		if r.MessageTTL != 0 {
			add("message_ttl", "streams do not expire single messages; remove message_ttl")
		}
		if r.DeadLetter {
			add("dead_letter", "streams do not dead-letter; remove dead_letter or use a classic or quorum queue")
		}
		if r.Prefetch != nil && *r.Prefetch == 0 {
			add("prefetch", "stream consumers need a prefetch (RabbitMQ refuses unlimited); set prefetch above 0")
		}
	}
	if r.DeliveryLimit < 0 {
		add("delivery_limit", "must not be negative (got %d)", r.DeliveryLimit)
	} else if r.DeliveryLimit > 0 && r.QueueType != "quorum" {
		qt := r.QueueType
		if qt == "" {
			qt = "classic"
		}
		add("delivery_limit", "only quorum queues count deliveries (queue_type is %s); use queue_type: quorum or remove delivery_limit", qt)
	}

	if r.MaxLength < 0 {
		add("max_length", "must not be negative (got %d)", r.MaxLength)
	}
	if r.Overflow != "" && r.MaxLength == 0 {
		add("overflow", "applies only with max_length; set max_length or remove overflow")
	}
	if r.Overflow == "reject-publish-dlx" {
		if r.QueueType == "quorum" {
			add("overflow", "quorum queues do not support reject-publish-dlx (drop-head, reject-publish)")
		}
		if !r.DeadLetter {
			add("overflow", "reject-publish-dlx dead-letters rejected publishes, so it needs dead_letter: true")
		}
	}
	switch ttl := r.MessageTTL.D(); {
	case ttl < 0:
		add("message_ttl", "must not be negative (got %s)", ttl)
	case ttl > 0 && ttl < time.Millisecond:
		add("message_ttl", "%s is below RabbitMQ's resolution of 1ms", ttl)
	case ttl > time.Duration(1<<32-1)*time.Millisecond:
		add("message_ttl", "%s is more than RabbitMQ allows (2^32-1 ms)", ttl)
	}

	switch r.Pattern {
	case "", "queue", "fanout":
		if len(r.RoutingKeys) > 0 {
			add("routing_keys", "only direct and topic patterns route by key (pattern is %s); remove routing_keys", orQueue(r.Pattern))
		}
		if len(r.BindingKeys) > 0 {
			add("binding_keys", "only direct and topic patterns bind by key (pattern is %s); remove binding_keys", orQueue(r.Pattern))
		}
	case "direct", "topic":
		for i, k := range r.RoutingKeys {
			if len(k) > 255 {
				add(fmt.Sprintf("routing_keys.%d", i), "is %d bytes, more than AMQP allows (255)", len(k))
			}
			if r.Pattern == "topic" && strings.ContainsAny(k, "*#") {
				add(fmt.Sprintf("routing_keys.%d", i), "%q: * and # are wildcards of binding keys, not routing keys", k)
			}
		}
		for i, k := range r.BindingKeys {
			if len(k) > 255 {
				add(fmt.Sprintf("binding_keys.%d", i), "is %d bytes, more than AMQP allows (255)", len(k))
			}
		}
	}

	if r.Mandatory && !r.HasConfirms() {
		add("mandatory", "a returned message can only be reported failed before its confirm; without confirms every publish is acked once written. Set confirms: true or remove mandatory")
	}
	switch ct := r.ConfirmTimeout.D(); {
	case ct < 0:
		add("confirm_timeout", "must not be negative (got %s)", ct)
	case ct > 0 && !r.HasConfirms():
		add("confirm_timeout", "applies to publisher confirms, which are off; remove confirm_timeout or set confirms: true")
	case ct > 0 && ct < 100*time.Millisecond:
		add("confirm_timeout", "%s is too short to tell a slow broker from a stuck one (at least 100ms)", ct)
	}
	if r.Prefetch != nil {
		switch p := *r.Prefetch; {
		case p < 0:
			add("prefetch", "must not be negative (0 means unlimited), got %d", p)
		case p > 65535:
			add("prefetch", "%d is more than AMQP allows (65535)", p)
		}
	}

	switch mn, mx := r.ReconnectMin.D(), r.ReconnectMax.D(); {
	case mn < 0:
		add("reconnect_min", "must not be negative (got %s)", mn)
	case mx < 0:
		add("reconnect_max", "must not be negative (got %s)", mx)
	case mn > 0 && mx > 0 && mx < mn:
		add("reconnect_max", "%s is below reconnect_min %s", mx, mn)
	}
	switch hb := r.Heartbeat.D(); {
	case hb < 0:
		add("heartbeat", "must not be negative (got %s)", hb)
	case hb > 0 && hb < time.Second:
		add("heartbeat", "%s is below AMQP's resolution of 1s", hb)
	}

	if t := r.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		add("tls", "cert_file and key_file go together (got only one)")
	}
	return errors.Join(ps...)
}

func orQueue(pattern string) string {
	if pattern == "" {
		return "queue"
	}
	return pattern
}
