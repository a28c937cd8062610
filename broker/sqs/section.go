package sqs

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

// Config configures the aws-sdk-go-v2 driver. A scenario writes it as
// broker.sqs. Zero values mean "unset"; ApplyDefaults fills them in, so a
// resolved scenario shows every value the driver used. Credentials come
// from the AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
// profile, a role) on url targets, never from the scenario; the emulators
// take any.
type Config struct {
	// QueueType: standard (at-least-once, best-effort order) or fifo
	// (order per message group, deduplication within 5 minutes; queue
	// names end in .fifo). Default standard.
	QueueType string `yaml:"queue_type,omitempty" json:"queue_type,omitempty"`
	// Deduplication of a FIFO queue: id (each send carries
	// MessageDeduplicationId = run, producer and sequence number) or
	// content (the queue's ContentBasedDeduplication: SQS hashes the
	// body). Default id.
	Deduplication string `yaml:"deduplication,omitempty" json:"deduplication,omitempty"`
	// GroupsPerProducer of a FIFO queue: producer p sends message s to
	// group "p<p>-g<s mod n>". Default 1 (one group per producer). With
	// producers.keys the key is the group instead.
	GroupsPerProducer int `yaml:"groups_per_producer,omitempty" json:"groups_per_producer,omitempty"`

	// BatchSize of SendMessageBatch (and SNS PublishBatch) requests, 1 to
	// 10; 1 sends with SendMessage (Publish). Default 10. A producer sends
	// what is waiting, up to this many, without waiting for more.
	BatchSize int `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
	// SendConcurrency is each producer's requests in flight at once on a
	// standard queue. Default 1, so that the queue stores a producer's messages in the order it sent them (more is faster, and reorders). A FIFO queue keeps one request in flight
	// per message group, so that SQS stores a group in send order.
	SendConcurrency int `yaml:"send_concurrency,omitempty" json:"send_concurrency,omitempty"`
	// DuplicateSends re-sends this many acked messages once more, with the
	// same body, group and deduplication id, as a client does when it
	// retries after a lost response. A FIFO queue must drop them within
	// its 5-minute window (duplicated 0); a standard queue stores them
	// (duplicated N, stored twice).
	DuplicateSends int `yaml:"duplicate_sends,omitempty" json:"duplicate_sends,omitempty"`

	// MaxMessages per ReceiveMessage, 1 to 10. Default 10.
	MaxMessages int `yaml:"max_messages,omitempty" json:"max_messages,omitempty"`
	// WaitTime of ReceiveMessage long polling, 0 to 20s (whole seconds).
	// Default 5s.
	WaitTime *units.Duration `yaml:"wait_time,omitempty" json:"wait_time,omitempty"`
	// VisibilityTimeout of the queues the run creates: how long a received
	// message stays hidden before SQS delivers it again unless deleted,
	// 0 to 12h in whole seconds. Default 30s (SQS's own). A consumer that
	// crashes gives its messages back only when it runs out.
	VisibilityTimeout *units.Duration `yaml:"visibility_timeout,omitempty" json:"visibility_timeout,omitempty"`
	// MaxReceiveCount, when set (1 to 1000), gives every queue a
	// dead-letter queue through its RedrivePolicy: a message received
	// more often than this goes there, and mqcheck reads it back as
	// dead_lettered, never lost. Needed by consumers.fail_action:
	// dead-letter.
	MaxReceiveCount int `yaml:"max_receive_count,omitempty" json:"max_receive_count,omitempty"`

	// Region of the endpoint. Default: AWS_REGION on url targets, else
	// us-east-1.
	Region string `yaml:"region,omitempty" json:"region,omitempty"`
	// RequestTimeout bounds one request (a long poll gets wait_time on
	// top); a request past it is indeterminate. Default 10s.
	RequestTimeout units.Duration `yaml:"request_timeout,omitempty" json:"request_timeout,omitempty"`
	// MaxAttempts of each request by the SDK's retryer (1: no retry).
	// Default 3, the SDK's. A retried send whose first attempt was stored
	// is a duplicate on a standard queue, as for every SQS user.
	MaxAttempts int `yaml:"max_attempts,omitempty" json:"max_attempts,omitempty"`
}

// Values the section accepts, as written in scenarios.
var (
	queueTypes      = []string{"standard", "fifo"}
	deduplications  = []string{"id", "content"}
	fifoSuffix      = ".fifo"
	maxVisibility   = 12 * time.Hour
	maxWaitTime     = 20 * time.Second
	defaultRegion   = "us-east-1"
	maxBatch        = 10
	maxReceiveLimit = 1000
)

// MaxMessageSize is SQS's limit on a message body, 256 KiB: mqcheck's
// text payload is exactly producers.message_size bytes.
const MaxMessageSize = 256 << 10

// minTextSize is the text header's size (message.TextHeaderSize): a text
// payload cannot be smaller.
const minTextSize = 64

// Defaults the driver relies on.
const (
	defaultBatch          = 10
	defaultConcurrency    = 1
	defaultMaxMessages    = 10
	defaultWaitTime       = 5 * time.Second
	defaultVisibility     = 30 * time.Second
	defaultRequestTimeout = 10 * time.Second
	defaultMaxAttempts    = 3
)

// Enums lists the values of the section's fields of a fixed set, for the
// scenario schema.
func (c *Config) Enums() map[string][]string {
	return map[string][]string{"queue_type": slices.Clone(queueTypes), "deduplication": slices.Clone(deduplications)}
}

// ApplyDefaults fills every unset field. It leaves invalid values alone for
// Validate to report.
func (c *Config) ApplyDefaults() {
	if c.QueueType == "" {
		c.QueueType = "standard"
	}
	if c.QueueType == "fifo" {
		if c.Deduplication == "" {
			c.Deduplication = "id"
		}
		if c.GroupsPerProducer == 0 {
			c.GroupsPerProducer = 1
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = defaultBatch
	}
	if c.SendConcurrency == 0 && c.QueueType != "fifo" {
		c.SendConcurrency = defaultConcurrency
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = defaultMaxMessages
	}
	if c.WaitTime == nil {
		d := units.Duration(defaultWaitTime)
		c.WaitTime = &d
	}
	if c.VisibilityTimeout == nil {
		d := units.Duration(defaultVisibility)
		c.VisibilityTimeout = &d
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = units.Duration(defaultRequestTimeout)
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
}

// fifo reports whether the queues are FIFO queues.
func (c *Config) fifo() bool { return c != nil && c.QueueType == "fifo" }

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError naming its path ("broker.sqs.max_messages"). It works
// before and after ApplyDefaults: zero values count as unset.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.sqs."+field, format, args...))
	}
	if c.QueueType != "" && !slices.Contains(queueTypes, c.QueueType) {
		add("queue_type", "unknown value %q (valid: %s)", c.QueueType, strings.Join(queueTypes, ", "))
	}
	if c.Deduplication != "" {
		switch {
		case !slices.Contains(deduplications, c.Deduplication):
			add("deduplication", "unknown value %q (valid: %s)", c.Deduplication, strings.Join(deduplications, ", "))
		case !c.fifo():
			add("deduplication", "only FIFO queues deduplicate; set queue_type: fifo or remove deduplication")
		}
	}
	switch g := c.GroupsPerProducer; {
	case g < 0:
		add("groups_per_producer", "must not be negative (got %d)", g)
	case g > 1 && !c.fifo():
		add("groups_per_producer", "only FIFO queues have message groups; set queue_type: fifo or remove groups_per_producer")
	}
	if c.BatchSize < 0 || c.BatchSize > maxBatch {
		add("batch_size", "must be 1 to %d, SQS's batch limit (got %d)", maxBatch, c.BatchSize)
	}
	if c.SendConcurrency < 0 {
		add("send_concurrency", "must not be negative (got %d)", c.SendConcurrency)
	}
	if c.DuplicateSends < 0 {
		add("duplicate_sends", "must not be negative (got %d)", c.DuplicateSends)
	}
	if c.MaxMessages < 0 || c.MaxMessages > maxBatch {
		add("max_messages", "must be 1 to %d, what one ReceiveMessage returns at most (got %d)", maxBatch, c.MaxMessages)
	}
	if c.WaitTime != nil {
		switch w := c.WaitTime.D(); {
		case w < 0 || w > maxWaitTime:
			add("wait_time", "must be 0 to %s, SQS's long-poll limit (got %s)", maxWaitTime, w)
		case w%time.Second != 0:
			add("wait_time", "%s is not whole seconds, which is all SQS takes", w)
		}
	}
	if c.VisibilityTimeout != nil {
		switch v := c.VisibilityTimeout.D(); {
		case v < 0 || v > maxVisibility:
			add("visibility_timeout", "must be 0 to %s, SQS's limit (got %s)", maxVisibility, v)
		case v%time.Second != 0:
			add("visibility_timeout", "%s is not whole seconds, which is all SQS takes", v)
		}
	}
	if c.MaxReceiveCount < 0 || c.MaxReceiveCount > maxReceiveLimit {
		add("max_receive_count", "must be 1 to %d, SQS's limit (0: no dead-letter queue), got %d", maxReceiveLimit, c.MaxReceiveCount)
	}
	if t := c.RequestTimeout.D(); t < 0 || (t > 0 && t < 100*time.Millisecond) {
		add("request_timeout", "must be at least 100ms (got %s)", t)
	}
	if c.MaxAttempts < 0 {
		add("max_attempts", "must be at least 1 (got %d)", c.MaxAttempts)
	}
	return errors.Join(ps...)
}

// CheckSpec rejects settings that contradict the rest of the scenario:
// a queue name of the wrong kind, a payload SQS refuses, a claim the queue
// type cannot be held to, dead-lettering without a dead-letter queue.
func (c *Config) CheckSpec(spec broker.Spec) error {
	var ps []error
	fifo := c.fifo()
	if d := spec.Destination; d != "" {
		switch {
		case fifo && !strings.HasSuffix(d, fifoSuffix):
			ps = append(ps, broker.Problem("broker.destination", "%q: a FIFO queue's name must end in .fifo", d))
		case !fifo && strings.HasSuffix(d, fifoSuffix):
			ps = append(ps, broker.Problem("broker.destination", "%q ends in .fifo, which names FIFO queues; set broker.sqs.queue_type: fifo or rename it", d))
		}
		if err := checkQueueName(strings.TrimSuffix(d, fifoSuffix)); err != nil {
			ps = append(ps, broker.Problem("broker.destination", "%v", err))
		}
	}
	switch n := spec.MessageSize; {
	case n > MaxMessageSize:
		ps = append(ps, broker.Problem("producers.message_size", "%d bytes is more than SQS takes in one message (%d bytes, 256 KiB; the text payload is exactly message_size bytes)", n, MaxMessageSize))
	case n > 0 && n < minTextSize:
		ps = append(ps, broker.Problem("producers.message_size", "%d bytes is below %d, the size of mqcheck's text header (SQS bodies are text)", n, minTextSize))
	}
	for i, claim := range spec.Claims {
		if claim == claimFIFO && !fifo {
			ps = append(ps, broker.Problem("claims."+strconv.Itoa(i), "sqs-fifo is the promise of FIFO queues; set broker.sqs.queue_type: fifo or claim at-least-once"))
		}
	}
	if spec.FailAction == broker.FailDeadLetter && c.maxReceive() == 0 {
		ps = append(ps, broker.Problem("consumers.fail_action", "dead-letter needs a dead-letter queue: set broker.sqs.max_receive_count"))
	}
	if fifo && spec.Keys > 0 && c.GroupsPerProducer > 1 {
		ps = append(ps, broker.Problem("broker.sqs.groups_per_producer", "with producers.keys each key is a message group; remove one of them"))
	}
	if c.duplicates() > 0 && spec.Subscriptions > 1 {
		ps = append(ps, broker.Problem("broker.sqs.duplicate_sends", "re-sends go to one queue; with SNS fan-out (consumers.subscriptions > 1) use a FIFO topic's own deduplication or remove duplicate_sends"))
	}
	switch spec.Target {
	case "", broker.TargetEmbedded:
		ps = append(ps, c.checkGoaws(spec)...)
	case broker.TargetContainer:
		ps = append(ps, container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, false))
	}
	return errors.Join(ps...)
}

// checkGoaws rejects what the embedded goaws cannot check (its gaps are in
// README's table): here, not at start-up, so that validate refuses what run
// refuses.
func (c *Config) checkGoaws(spec broker.Spec) []error {
	if !c.fifo() {
		return nil
	}
	var ps []error
	if c.Deduplication == "content" {
		ps = append(ps, broker.Problem("broker.sqs.deduplication", "goaws %s (target embedded) has no content-based deduplication; use deduplication: id or target exec (fauxqs)", GoawsVersion))
	}
	if spec.Subscriptions > 1 {
		ps = append(ps, broker.Problem("consumers.subscriptions", "goaws %s's SNS (target embedded) ignores MessageGroupId and MessageDeduplicationId, so FIFO fan-out cannot be checked on it; use target exec (fauxqs)", GoawsVersion))
	}
	if spec.Keys > 0 {
		// goaws returns no MessageGroupId and a key is not in the message:
		// every group would fall into one ordering domain, and groups SQS
		// may interleave would be counted reordered.
		ps = append(ps, broker.Problem("producers.keys", "goaws %s (target embedded) returns no MessageGroupId, and the group a key names is not in the message, so the ordering domain of a delivery is unknown; use groups_per_producer or target exec (fauxqs)", GoawsVersion))
	}
	return ps
}

func (c *Config) maxReceive() int {
	if c == nil {
		return 0
	}
	return c.MaxReceiveCount
}

func (c *Config) duplicates() int {
	if c == nil {
		return 0
	}
	return c.DuplicateSends
}

// claimFIFO is the scenario claim of FIFO queues (scenarios.ClaimSQSFIFO;
// the driver imports nothing of the scenario model).
const claimFIFO = "sqs-fifo"

// maxQueueName is SQS's limit on a queue name, .fifo included.
const maxQueueName = 80

// checkQueueName checks a queue name without its .fifo suffix against
// SQS's rules, leaving room for the suffixes the run adds (-s<i>, -dlq).
func checkQueueName(base string) error {
	if base == "" {
		return fmt.Errorf("a queue name is required before .fifo")
	}
	for _, r := range base {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q: SQS queue names hold letters, digits, - and _ only", base)
		}
	}
	// The longest name the run makes: <base>-s<99>-dlq.fifo.
	if n := len(base) + len("-s99-dlq") + len(fifoSuffix); n > maxQueueName {
		return fmt.Errorf("%q is too long: with the suffixes mqcheck adds SQS's limit of %d characters is passed", base, maxQueueName)
	}
	return nil
}

var _ broker.Redeliverer = (*Config)(nil)

// RedeliveryAfter is visibility_timeout: how long a message a consumer took and never
// acknowledged waits before it is delivered again.
func (c *Config) RedeliveryAfter() (string, time.Duration) {
	if c.VisibilityTimeout == nil {
		return "visibility_timeout", 0
	}
	return "visibility_timeout", c.VisibilityTimeout.D()
}
