package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mqcheck/mqcheck/broker"
)

// queue is one SQS queue of the run.
type queue struct {
	name string
	url  string // set by Setup
	arn  string
	dead bool // a dead-letter queue, read back as such
}

// topology names what a run uses: one queue per subscription, and with
// several subscriptions an SNS topic fanning out to them; a dead-letter
// queue per subscription queue with max_receive_count.
type topology struct {
	fifo  bool
	topic string // "" without fan-out
	main  []*queue
	dlq   []*queue // dlq[i] is main[i]'s, nil without dead-lettering
}

// queueName appends suffix to base, and .fifo for FIFO queues.
func (t *topology) queueName(base, suffix string) string {
	if t.fifo {
		return base + suffix + fifoSuffix
	}
	return base + suffix
}

func newTopology(c *Config, spec broker.Spec, runID string) topology {
	base := strings.TrimSuffix(spec.Destination, fifoSuffix)
	if base == "" {
		base = "mqcheck-" + runID
	}
	t := topology{fifo: c.fifo()}
	subs := max(spec.Subscriptions, 1)
	if subs > 1 {
		t.topic = t.queueName(base, "")
	}
	for i := range subs {
		suffix := ""
		if subs > 1 {
			suffix = "-s" + strconv.Itoa(i)
		}
		t.main = append(t.main, &queue{name: t.queueName(base, suffix)})
		var dl *queue
		if c.maxReceive() > 0 {
			dl = &queue{name: t.queueName(base, suffix+"-dlq"), dead: true}
		}
		t.dlq = append(t.dlq, dl)
	}
	return t
}

// driver is the broker.Driver of one run on one endpoint.
type driver struct {
	c     *Config
	spec  broker.Spec
	ep    endpoint
	env   broker.Env
	topo  topology
	admin *clients
	// adminConns are admin's connections, dropped when a killed
	// container comes back (dropAdminConns).
	adminConns *connSet
	// existing: on a url target, queues and topics that were there before
	// the run, used as they are and never deleted.
	existing bool

	topicArn string
	// snsBatch bounds PublishBatch requests below batch_size where the
	// server cannot take 10 (goaws counts one entry too many).
	snsBatch int

	mu      sync.Mutex
	created []string // queue URLs Setup created
	topics  []string // topic ARNs Setup created

	// rejected holds the message ids consumers rejected for good
	// (ErrDeadLetter): SQS has no such verb, so every consumer gives them
	// back at once until the redrive policy moves them to the dead-letter
	// queue. nRejected lets the hot path skip the lock while it is empty.
	rejMu     sync.Mutex
	rejected  map[string]struct{}
	nRejected atomic.Int64

	// lastSend is when the last send request ended (unix ns).
	lastSend atomic.Int64

	// dupLeft is how many deliberate duplicate sends are still to make.
	dupLeft atomic.Int64
	dupSent atomic.Int64
}

var (
	_ broker.Driver     = (*driver)(nil)
	_ broker.Backlogger = (*driver)(nil)
)

func newDriver(ctx context.Context, c *Config, spec broker.Spec, ep endpoint, env broker.Env) (*driver, error) {
	conns := &connSet{}
	aenv := env
	aenv.Dial = conns.dial(env.DialContext)
	admin, err := newClients(ctx, c, ep, aenv, 0)
	if err != nil {
		return nil, err
	}
	d := &driver{c: c, spec: spec, ep: ep, env: env, topo: newTopology(c, spec, env.RunID), admin: admin,
		adminConns: conns, rejected: map[string]struct{}{}}
	d.dupLeft.Store(int64(c.DuplicateSends))
	return d, nil
}

// queueAttributes are what every queue of the run is created with.
func (d *driver) queueAttributes(dead bool) map[string]string {
	a := map[string]string{
		string(types.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(d.c.VisibilityTimeout.D().Seconds())),
	}
	if d.topo.fifo {
		a[string(types.QueueAttributeNameFifoQueue)] = "true"
		if d.c.Deduplication == "content" && !dead {
			a[string(types.QueueAttributeNameContentBasedDeduplication)] = "true"
		}
	}
	return a
}

// Setup creates the queues (dead-letter queues first, for the redrive
// policies to name), reads each redrive policy back, and with several
// subscriptions the SNS topic and one raw subscription per queue. On a url
// target, a queue or topic that exists already is used as it is.
func (d *driver) Setup(ctx context.Context) error {
	if err := d.createQueues(ctx); err != nil {
		return fmt.Errorf("setting up sqs: %w", err)
	}
	if d.topo.topic != "" {
		if err := d.createTopic(ctx); err != nil {
			return fmt.Errorf("setting up sns fan-out: %w", err)
		}
	}
	return nil
}

// createQueues makes every queue of the topology, also again after a
// restart of an emulator, which forgets them.
func (d *driver) createQueues(ctx context.Context) error {
	for i, q := range d.topo.main {
		attrs := d.queueAttributes(false)
		if dl := d.topo.dlq[i]; dl != nil {
			if err := d.createQueue(ctx, dl, d.queueAttributes(true)); err != nil {
				return err
			}
			policy, err := json.Marshal(map[string]string{"deadLetterTargetArn": dl.arn, "maxReceiveCount": strconv.Itoa(d.c.MaxReceiveCount)})
			if err != nil {
				return err
			}
			attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
		}
		if err := d.createQueue(ctx, q, attrs); err != nil {
			return err
		}
		if dl := d.topo.dlq[i]; dl != nil {
			if err := d.checkRedrive(ctx, q, dl); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *driver) createQueue(ctx context.Context, q *queue, attrs map[string]string) error {
	if !d.ep.emulator {
		out, err := d.admin.sqs.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(q.name)})
		if err == nil {
			if err := keep(&q.url, aws.ToString(out.QueueUrl), "the URL of queue "+q.name); err != nil {
				return err
			}
			d.existing = true
			return d.readArn(ctx, q)
		}
		if !isCode(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue") {
			return fmt.Errorf("looking up queue %s: %w", q.name, err)
		}
	}
	out, err := d.admin.sqs.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(q.name), Attributes: attrs})
	if err != nil {
		return fmt.Errorf("creating queue %s: %w", q.name, err)
	}
	if err := keep(&q.url, aws.ToString(out.QueueUrl), "the URL of queue "+q.name); err != nil {
		return err
	}
	d.mu.Lock()
	if !slices.Contains(d.created, q.url) { // created again after a restart
		d.created = append(d.created, q.url)
	}
	d.mu.Unlock()
	return d.readArn(ctx, q)
}

func (d *driver) readArn(ctx context.Context, q *queue) error {
	out, err := d.admin.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("reading the ARN of queue %s: %w", q.name, err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return fmt.Errorf("queue %s: the server gave no QueueArn", q.name)
	}
	return keep(&q.arn, arn, "the ARN of queue "+q.name)
}

// keep sets *field, a queue's URL or ARN or the topic's ARN, the first time
// (Setup), and when Setup runs again after a restart of an emulator only
// checks that the server gave the same one back: producers and consumers
// read these fields, without a lock, while the restart runs, and a queue
// that came back under another name is one they could not reach.
func keep(field *string, v, what string) error {
	switch *field {
	case "":
		*field = v
	case v:
	default:
		return fmt.Errorf("%s is %q after the restart, %q before: the run's clients cannot follow", what, v, *field)
	}
	return nil
}

// checkRedrive reads q's redrive policy back: a server that dropped it
// would never dead-letter, and rejected messages would come back for ever.
func (d *driver) checkRedrive(ctx context.Context, q, dl *queue) error {
	out, err := d.admin.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return fmt.Errorf("reading the redrive policy of %s back: %w", q.name, err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	var p struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return fmt.Errorf("queue %s: the server kept no readable redrive policy (%q): %w", q.name, raw, err)
	}
	if p.Target != dl.arn || strings.Trim(string(p.Max), `"`) != strconv.Itoa(d.c.MaxReceiveCount) {
		return fmt.Errorf("queue %s: the redrive policy read back is %s, not %s after %d receives", q.name, raw, dl.arn, d.c.MaxReceiveCount)
	}
	return nil
}

// createTopic makes the fan-out topic and subscribes every queue to it
// with raw delivery (the body arrives as sent, not wrapped in JSON).
func (d *driver) createTopic(ctx context.Context) error {
	attrs := map[string]string{}
	if d.topo.fifo {
		attrs["FifoTopic"] = "true"
		if d.c.Deduplication == "content" {
			attrs["ContentBasedDeduplication"] = "true"
		}
	}
	out, err := d.admin.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(d.topo.topic), Attributes: attrs})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", d.topo.topic, err)
	}
	if err := keep(&d.topicArn, aws.ToString(out.TopicArn), "the ARN of topic "+d.topo.topic); err != nil {
		return err
	}
	d.mu.Lock()
	if !slices.Contains(d.topics, d.topicArn) {
		d.topics = append(d.topics, d.topicArn)
	}
	d.mu.Unlock()
	for _, q := range d.topo.main {
		if !d.ep.emulator {
			// AWS delivers to a queue only if its policy lets the topic send.
			if err := d.allowTopic(ctx, q); err != nil {
				return err
			}
		}
		_, err := d.admin.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: out.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String(q.arn), Attributes: map[string]string{"RawMessageDelivery": "true"}})
		if err != nil {
			return fmt.Errorf("subscribing queue %s to topic %s: %w", q.name, d.topo.topic, err)
		}
	}
	return nil
}

func (d *driver) allowTopic(ctx context.Context, q *queue) error {
	policy, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": map[string]string{"Service": "sns.amazonaws.com"},
			"Action": "sqs:SendMessage", "Resource": q.arn,
			"Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": d.topicArn}},
		}},
	})
	if err != nil {
		return err
	}
	_, err = d.admin.sqs.SetQueueAttributes(ctx, &awssqs.SetQueueAttributesInput{QueueUrl: aws.String(q.url),
		Attributes: map[string]string{string(types.QueueAttributeNamePolicy): string(policy)}})
	if err != nil {
		return fmt.Errorf("letting topic %s send to queue %s: %w", d.topo.topic, q.name, err)
	}
	return nil
}

func (d *driver) NewProducer(ctx context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	return d.newProducer(ctx, o)
}

func (d *driver) NewConsumer(ctx context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	return d.newConsumer(ctx, o)
}

// Close deletes the queues and topic Setup created, unless the scenario
// keeps them.
func (d *driver) Close(ctx context.Context) error {
	d.mu.Lock()
	qs, ts := d.created, d.topics
	d.created, d.topics = nil, nil
	d.mu.Unlock()
	if d.spec.Keep {
		return nil
	}
	var errs []error
	for _, t := range ts {
		if _, err := d.admin.sns.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(t)}); err != nil {
			errs = append(errs, fmt.Errorf("deleting topic %s: %w", t, err))
		}
	}
	for _, q := range qs {
		_, err := d.admin.sqs.DeleteQueue(ctx, &awssqs.DeleteQueueInput{QueueUrl: aws.String(q)})
		if err != nil && !isCode(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue") {
			errs = append(errs, fmt.Errorf("deleting queue %s: %w", q, err))
		}
	}
	return errors.Join(errs...)
}

// Backlog is what the run's queues still hold, dead-letter queues
// included: visible, in flight (received and not deleted: a crashed
// consumer's messages until their visibility timeout) and delayed. SQS
// calls these counts approximate; the emulators keep them exact.
func (d *driver) Backlog(ctx context.Context) (int64, error) {
	// AWS's counts are approximate and may lag about a minute, and a
	// message on its way from SNS to a queue is in none of them: on a url
	// target a zero proves nothing until a minute after the last send
	// (the drain then waits for the messages, or ends unaccounted, never
	// calling late messages lost). The emulators count exactly.
	if d.spec.Target == broker.TargetURL {
		if since := time.Since(time.Unix(0, d.lastSend.Load())); since < urlCountLag {
			return 0, broker.CannotCount(fmt.Errorf("%w: the queue counts of a url target lag the sends (last %s ago)", errBacklogUnproven, since.Round(time.Second)))
		}
	}
	var n int64
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	for _, q := range d.allQueues() {
		out, err := d.admin.sqs.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url), AttributeNames: names})
		if err != nil {
			return 0, fmt.Errorf("reading the depth of queue %s: %w", q.name, err)
		}
		for _, a := range names {
			v, ok := out.Attributes[string(a)]
			if !ok && a != types.QueueAttributeNameApproximateNumberOfMessagesDelayed {
				return 0, fmt.Errorf("queue %s: the server did not report %s", q.name, a)
			}
			if !ok {
				continue
			}
			x, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("queue %s: %s is %q, not a number", q.name, a, v)
			}
			n += x
		}
	}
	return n, nil
}

// urlCountLag is how long after the last send the approximate queue
// counts of a url target (AWS) are taken to be current.
const urlCountLag = time.Minute

// errBacklogUnproven: the backlog cannot be told yet.
var errBacklogUnproven = errors.New("backlog not proven")

// listOne lists at most one queue: the cheapest call that proves the
// endpoint answers.
func (d *driver) listOne(ctx context.Context) error {
	_, err := d.admin.sqs.ListQueues(ctx, &awssqs.ListQueuesInput{MaxResults: aws.Int32(1)})
	return err
}

func (d *driver) allQueues() []*queue {
	var qs []*queue
	for i, q := range d.topo.main {
		qs = append(qs, q)
		if dl := d.topo.dlq[i]; dl != nil {
			qs = append(qs, dl)
		}
	}
	return qs
}

// rejectForGood remembers a message a consumer rejected for good.
func (d *driver) rejectForGood(id string) {
	d.rejMu.Lock()
	if _, ok := d.rejected[id]; !ok {
		d.rejected[id] = struct{}{}
		d.nRejected.Add(1)
	}
	d.rejMu.Unlock()
}

// isRejected reports a message rejected for good before; the hot path
// pays one atomic load while there is none.
func (d *driver) isRejected(id string) bool {
	if d.nRejected.Load() == 0 {
		return false
	}
	d.rejMu.Lock()
	defer d.rejMu.Unlock()
	_, ok := d.rejected[id]
	return ok
}

// deadLettered forgets a rejected message once it is read back from the
// dead-letter queue.
func (d *driver) deadLettered(id string) {
	if d.nRejected.Load() == 0 {
		return
	}
	d.rejMu.Lock()
	if _, ok := d.rejected[id]; ok {
		delete(d.rejected, id)
		d.nRejected.Add(-1)
	}
	d.rejMu.Unlock()
}
