package sqs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/message"
)

// errProducerClosed is Publish's error after Close.
var errProducerClosed = errors.New("sqs producer closed")

// maxLanes bounds a FIFO producer's senders: one per lane, and each message
// group always goes to the same lane.
const maxLanes = 16

// producer sends through its own HTTP client. Publish queues a message on
// a lane; each lane's senders take what is waiting, up to batch_size, and
// send it in one request. A standard queue has one lane with
// send_concurrency senders; a FIFO queue has one sender per lane, and a
// group's messages all go to one lane, so a group is sent in order with
// one request in flight.
type producer struct {
	d     *driver
	cl    *clients
	opts  broker.ProducerOptions
	lanes []chan *broker.Message
	// groups names the message groups of a FIFO producer without keys:
	// message s goes to groups[s mod n].
	groups  []string
	keyed   map[string]string // key -> group, FIFO with producers.keys
	keyMu   sync.Mutex
	runID   string
	timeout time.Duration

	mu      sync.Mutex // serializes OnComplete
	pending atomic.Int64
	closed  atomic.Bool
	stop    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

var _ broker.Producer = (*producer)(nil)

func (d *driver) newProducer(ctx context.Context, o broker.ProducerOptions) (*producer, error) {
	cl, err := newClients(ctx, d.c, d.ep, d.env, 0)
	if err != nil {
		return nil, fmt.Errorf("sqs producer %d: %w", o.ID, err)
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &producer{d: d, cl: cl, opts: o, runID: d.env.RunID, timeout: d.c.callTimeout(0),
		stop: make(chan struct{}), ctx: pctx, cancel: cancel}
	depth := max(d.spec.MaxInFlight, 64)
	lanes, senders := 1, max(d.c.SendConcurrency, 1)
	if d.topo.fifo {
		senders = 1
		if d.spec.Keys > 0 {
			lanes = min(d.spec.Keys, maxLanes)
			p.keyed = map[string]string{}
		} else {
			n := max(d.c.GroupsPerProducer, 1)
			for g := range n {
				p.groups = append(p.groups, groupName(o.ID, uint64(g), n))
			}
			lanes = min(n, maxLanes)
		}
	}
	for range lanes {
		lane := make(chan *broker.Message, depth)
		p.lanes = append(p.lanes, lane)
		for range senders {
			p.wg.Add(1)
			go p.send(lane)
		}
	}
	return p, nil
}

var laneSeed = maphash.MakeSeed()

// groupName is the message group of message seq of producer id without
// keys.
func groupName(id int, seq uint64, groups int) string {
	return "p" + strconv.Itoa(id) + "-g" + strconv.FormatUint(seq%uint64(max(groups, 1)), 10)
}

// groupOf tells the group of a delivery whose server did not say (goaws
// returns no MessageGroupId): the group its producer gave it, which the
// text header's producer and sequence number fix. With producers.keys the
// group is the key, which the payload does not carry: "" (the queue).
func (d *driver) groupOf(payload []byte) string {
	if d.spec.Keys > 0 {
		return ""
	}
	h, err := message.DecodeText(payload)
	if err != nil {
		return ""
	}
	return groupName(int(h.Producer), h.Seq, d.c.GroupsPerProducer)
}

// group names m's message group (FIFO queues), and the lane it goes to.
func (p *producer) group(m *broker.Message) (string, int) {
	if !p.d.topo.fifo {
		return "", 0
	}
	if p.keyed == nil {
		g := int(m.Seq % uint64(len(p.groups)))
		return p.groups[g], g % len(p.lanes)
	}
	key := "-"
	if len(m.Key) > 0 {
		key = unsafe.String(&m.Key[0], len(m.Key))
	}
	p.keyMu.Lock()
	g, ok := p.keyed[key]
	if !ok {
		g = "k-" + key // copies the key: the swarm owns its bytes
		p.keyed[g[2:]] = g
	}
	p.keyMu.Unlock()
	return g, int(maphash.String(laneSeed, g) % uint64(len(p.lanes)))
}

// Publish queues m for its lane's sender.
func (p *producer) Publish(ctx context.Context, m *broker.Message) error {
	if p.closed.Load() {
		return errProducerClosed
	}
	_, lane := p.group(m)
	p.pending.Add(1)
	select {
	case p.lanes[lane] <- m:
		return nil
	case <-ctx.Done():
		p.pending.Add(-1)
		return ctx.Err()
	case <-p.stop:
		p.pending.Add(-1)
		return errProducerClosed
	}
}

// Flush waits until every published message has completed.
func (p *producer) Flush(ctx context.Context) error {
	if err := broker.WaitCompleted(ctx, &p.pending); err != nil {
		return fmt.Errorf("flushing sqs producer %d (%d messages not completed): %w", p.opts.ID, p.pending.Load(), err)
	}
	return nil
}

// Close stops the senders: requests in flight are cut short and, with
// what was still queued, complete as indeterminate.
func (p *producer) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		p.cancel()
		p.wg.Wait()
		// A Publish that raced Close may have queued after the senders
		// left: it completes here.
		for _, lane := range p.lanes {
			for {
				select {
				case m := <-lane:
					p.complete(m, broker.Indeterminate, errProducerClosed)
					continue
				default:
				}
				break
			}
		}
	})
	return nil
}

func (p *producer) complete(m *broker.Message, o broker.Outcome, err error) {
	p.mu.Lock()
	p.opts.OnComplete(m, o, err)
	p.mu.Unlock()
	p.pending.Add(-1)
}

// send is one sender: it takes what waits on lane, up to batch_size
// messages, and sends them in one request, until Close.
func (p *producer) send(lane chan *broker.Message) {
	defer p.wg.Done()
	size := max(p.d.c.BatchSize, 1)
	if p.d.topicArn != "" && p.d.snsBatch > 0 {
		size = min(size, p.d.snsBatch)
	}
	batch := make([]*broker.Message, 0, size)
	for {
		batch = batch[:0]
		select {
		case m := <-lane:
			batch = append(batch, m)
		case <-p.stop:
			return
		}
	fill:
		for len(batch) < size {
			select {
			case m := <-lane:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		if p.closed.Load() {
			for _, m := range batch {
				p.complete(m, broker.Indeterminate, errProducerClosed)
			}
			continue
		}
		p.sendBatch(batch)
	}
}

// body is m's payload as the string the SDK wants, without a copy: the
// swarm leaves the payload alone until the message completes.
func body(m *broker.Message) string {
	return unsafe.String(unsafe.SliceData(m.Payload), len(m.Payload))
}

// dedupID is the deduplication id of m: the same for every send of it.
func (p *producer) dedupID(m *broker.Message) *string {
	if !p.d.topo.fifo || p.d.c.Deduplication == "content" {
		return nil
	}
	return aws.String(p.runID + "-" + strconv.Itoa(m.Producer) + "-" + strconv.FormatUint(m.Seq, 10))
}

func (p *producer) groupID(m *broker.Message) *string {
	if !p.d.topo.fifo {
		return nil
	}
	g, _ := p.group(m)
	return aws.String(g)
}

// outcomes is what one request told about each message of a batch.
type outcomes struct {
	o   []broker.Outcome
	err []error
}

// sendBatch sends batch in one request (SendMessage or Publish for a batch
// of one), makes the deliberate duplicate sends the scenario asks for,
// and completes every message.
func (p *producer) sendBatch(batch []*broker.Message) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	defer cancel()
	res := outcomes{o: make([]broker.Outcome, len(batch)), err: make([]error, len(batch))}
	p.request(ctx, batch, &res)
	for i, m := range batch {
		if res.o[i] == broker.Acked {
			p.duplicate(ctx, m)
		}
		p.complete(m, res.o[i], res.err[i])
	}
}

func (p *producer) request(ctx context.Context, batch []*broker.Message, res *outcomes) {
	actx, a := withAttempts(ctx)
	var answer []*failure // by entry of a batch call; nil: acked
	var err error
	switch {
	case p.d.topicArn != "" && len(batch) == 1:
		_, err = p.cl.sns.Publish(actx, p.publishInput(batch[0]))
	case p.d.topicArn != "":
		answer, err = p.publishBatch(actx, batch)
	case len(batch) == 1:
		_, err = p.cl.sqs.SendMessage(actx, p.sendInput(batch[0]))
	default:
		answer, err = p.sendMessageBatch(actx, batch)
	}
	// Once per request, not per message: the backlog of a url target is
	// proven empty only long after the last send (see Backlog).
	p.d.lastSend.Store(time.Now().UnixNano())
	for i := range batch {
		switch {
		case err != nil:
			res.o[i], res.err[i] = callOutcome(err, a), fmt.Errorf("sending to sqs: %w", err)
		case answer != nil && answer[i] != nil:
			f := answer[i]
			res.o[i], res.err[i] = entryOutcome(f.sender, a), fmt.Errorf("sqs refused the entry: %s: %s", f.code, f.msg)
		default:
			res.o[i] = broker.Acked
		}
	}
}

// failure is one entry a batch call reported failed.
type failure struct {
	id        string
	sender    bool
	code, msg string
}

// batchAnswer reads a batch call's answer about its n entries (ids "0" to
// n-1), the same for SendMessageBatch and SNS PublishBatch: per entry, nil
// when the server listed it successful, else its failure. An entry the
// answer names in neither list, twice, or that was never sent leaves the
// whole call without an answer (an error: every entry is then
// indeterminate), so that nothing is acked that the server did not
// confirm.
func batchAnswer(call string, n int, successful []*string, failed []failure) ([]*failure, error) {
	seen := make([]bool, n)
	out := make([]*failure, n)
	mark := func(id string) (int, error) {
		i, err := strconv.Atoi(id)
		if err != nil || i < 0 || i >= n || seen[i] {
			return 0, fmt.Errorf("%s answered about entry %q, which was not sent or was answered about before", call, id)
		}
		seen[i] = true
		return i, nil
	}
	for _, id := range successful {
		if _, err := mark(aws.ToString(id)); err != nil {
			return nil, err
		}
	}
	for k := range failed {
		i, err := mark(failed[k].id)
		if err != nil {
			return nil, err
		}
		out[i] = &failed[k]
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%s answered nothing about entry %d of %d", call, i, n)
		}
	}
	return out, nil
}

func (p *producer) sendInput(m *broker.Message) *awssqs.SendMessageInput {
	return &awssqs.SendMessageInput{QueueUrl: aws.String(p.d.topo.main[0].url), MessageBody: aws.String(body(m)),
		MessageGroupId: p.groupID(m), MessageDeduplicationId: p.dedupID(m)}
}

func (p *producer) publishInput(m *broker.Message) *sns.PublishInput {
	return &sns.PublishInput{TopicArn: aws.String(p.d.topicArn), Message: aws.String(body(m)),
		MessageGroupId: p.groupID(m), MessageDeduplicationId: p.dedupID(m)}
}

func (p *producer) sendMessageBatch(ctx context.Context, batch []*broker.Message) ([]*failure, error) {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body(m)),
			MessageGroupId: p.groupID(m), MessageDeduplicationId: p.dedupID(m)}
	}
	out, err := p.cl.sqs.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: aws.String(p.d.topo.main[0].url), Entries: entries})
	if err != nil {
		return nil, err
	}
	ok := make([]*string, len(out.Successful))
	for i := range out.Successful {
		ok[i] = out.Successful[i].Id
	}
	failed := make([]failure, len(out.Failed))
	for i, f := range out.Failed {
		failed[i] = failure{id: aws.ToString(f.Id), sender: f.SenderFault, code: aws.ToString(f.Code), msg: aws.ToString(f.Message)}
	}
	return batchAnswer("SendMessageBatch", len(batch), ok, failed)
}

func (p *producer) publishBatch(ctx context.Context, batch []*broker.Message) ([]*failure, error) {
	entries := make([]snstypes.PublishBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = snstypes.PublishBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), Message: aws.String(body(m)),
			MessageGroupId: p.groupID(m), MessageDeduplicationId: p.dedupID(m)}
	}
	out, err := p.cl.sns.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: aws.String(p.d.topicArn), PublishBatchRequestEntries: entries})
	if err != nil {
		return nil, err
	}
	ok := make([]*string, len(out.Successful))
	for i := range out.Successful {
		ok[i] = out.Successful[i].Id
	}
	failed := make([]failure, len(out.Failed))
	for i, f := range out.Failed {
		failed[i] = failure{id: aws.ToString(f.Id), sender: f.SenderFault, code: aws.ToString(f.Code), msg: aws.ToString(f.Message)}
	}
	return batchAnswer("PublishBatch", len(batch), ok, failed)
}

// duplicate sends m once more, as a client retrying after a lost response
// would, while the scenario's duplicate_sends last. A re-send that fails
// is given back, so that exactly duplicate_sends re-sends were accepted.
func (p *producer) duplicate(ctx context.Context, m *broker.Message) {
	if p.d.dupLeft.Load() <= 0 {
		return
	}
	if p.d.dupLeft.Add(-1) < 0 {
		p.d.dupLeft.Add(1)
		return
	}
	if _, err := p.cl.sqs.SendMessage(ctx, p.sendInput(m)); err != nil {
		p.d.dupLeft.Add(1)
		return
	}
	if n := p.d.dupSent.Add(1); n == int64(p.d.c.DuplicateSends) && p.opts.Notify != nil {
		p.opts.Notify(broker.Notice{Kind: "duplicate-sends", At: time.Now(),
			Detail: fmt.Sprintf("%d deliberate duplicate sends accepted (duplicate_sends), the last of producer %d seq %d", n, m.Producer, m.Seq)})
	}
}
