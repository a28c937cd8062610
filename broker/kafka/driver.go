package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// topicReadyWait bounds how long Setup waits for a new topic to have a
// leader for every partition.
const topicReadyWait = 30 * time.Second

// driver is the broker.Driver of one run; embedded and url targets share it.
type driver struct {
	set    settings
	seeds  []string
	admCl  *kgo.Client
	adm    *kadm.Client
	delete bool // delete what Setup created at Close (url targets)

	txns  txnNumbers // transaction numbers of transactional producers
	relay *relay     // nil without one

	mu           sync.Mutex
	created      bool // Setup created the topic
	relayCreated bool // Setup created the relay's topic
	partitions   int
	domains      []string
	subs         map[int]bool
}

var (
	_ broker.Driver     = (*driver)(nil)
	_ broker.Backlogger = (*driver)(nil)
)

func newDriver(set settings, seeds []string, deleteOnClose bool) (*driver, error) {
	opts, err := set.clientOpts(seeds, "mqcheck-"+set.runID+"-admin")
	if err != nil {
		return nil, fmt.Errorf("creating kafka admin client: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka admin client: %w", err)
	}
	d := &driver{
		set:        set,
		seeds:      seeds,
		admCl:      cl,
		adm:        kadm.NewClient(cl),
		delete:     deleteOnClose,
		partitions: set.k.Partitions,
		subs:       make(map[int]bool),
	}
	d.domains = domainsOf(set.consumeTopic(), d.partitions)
	if set.relay.Workers > 0 {
		d.relay = newRelay(d)
	}
	return d, nil
}

func domainsOf(topic string, n int) []string {
	ds := make([]string, n)
	for i := range ds {
		ds[i] = fmt.Sprintf("%s/%d", topic, i)
	}
	return ds
}

// Setup creates the topic unless it exists, and waits until every partition
// has a leader. An existing topic is used as it is, and never deleted. With a
// relay it does the same for the relay's topic, with as many partitions as
// the producers' topic has, and starts the relay.
func (d *driver) Setup(ctx context.Context) error {
	n, created, err := d.setupTopic(ctx, d.set.topic, d.set.k.Partitions)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.created = created
	d.partitions = n
	d.mu.Unlock()
	if d.set.k.GroupProtocol == "share" {
		if err := d.shareAutoOffsetReset(ctx); err != nil {
			return err
		}
	}
	if d.relay == nil {
		d.setDomains(d.set.topic, n)
		return nil
	}
	// The relay keeps each record's partition: the topics must match.
	m, created, err := d.setupTopic(ctx, d.set.relayTopic, n)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.relayCreated = created
	d.mu.Unlock()
	if m != n {
		return fmt.Errorf("the relay's topic %s has %d partitions, the producers' %s has %d: the relay writes each record to its own partition number",
			d.set.relayTopic, m, d.set.topic, n)
	}
	d.setDomains(d.set.relayTopic, n)
	return d.relay.start(ctx)
}

func (d *driver) setDomains(topic string, n int) {
	d.mu.Lock()
	d.domains = domainsOf(topic, n)
	d.mu.Unlock()
}

// setupTopic creates topic with partitions unless it exists, and waits
// until every partition has a leader; it returns the partition count.
func (d *driver) setupTopic(ctx context.Context, topic string, partitions int) (n int, created bool, err error) {
	k := &d.set.k
	_, err = d.adm.CreateTopic(ctx, int32(partitions), int16(k.ReplicationFactor), nil, topic)
	created = err == nil
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, false, fmt.Errorf("creating topic %s (%d partitions, replication factor %d): %w",
			topic, partitions, k.ReplicationFactor, err)
	}
	ctx, cancel := context.WithTimeout(ctx, topicReadyWait)
	defer cancel()
	for {
		n, err := d.readyPartitions(ctx, topic)
		if err == nil {
			if !created && n != partitions && d.set.log != nil {
				d.set.log.Warn("existing topic has another partition count than the scenario",
					"topic", topic, "partitions", n, "scenario", partitions)
			}
			return n, created, nil
		}
		select {
		case <-ctx.Done():
			return 0, created, fmt.Errorf("waiting for topic %s to have a leader for every partition: %w", topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *driver) readyPartitions(ctx context.Context, topic string) (int, error) {
	md, err := d.adm.Metadata(ctx, topic)
	if err != nil {
		return 0, err
	}
	td, ok := md.Topics[topic]
	switch {
	case !ok:
		return 0, kerr.UnknownTopicOrPartition
	case td.Err != nil:
		return 0, td.Err
	case len(td.Partitions) == 0:
		return 0, errors.New("no partitions yet")
	}
	for _, p := range td.Partitions {
		if p.Err != nil {
			return 0, fmt.Errorf("partition %d: %w", p.Partition, p.Err)
		}
		if p.Leader < 0 {
			return 0, fmt.Errorf("partition %d has no leader", p.Partition)
		}
	}
	return len(td.Partitions), nil
}

func (d *driver) partitionCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return max(1, d.partitions)
}

// domainCache hands consumers one shared slice, so every consumer reports a
// partition with the same string value.
func (d *driver) domainCache() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.domains[:len(d.domains):len(d.domains)]
}

func (d *driver) addSubscription(sub int) {
	d.mu.Lock()
	d.subs[sub] = true
	d.mu.Unlock()
}

// groups lists the group of every subscription the scenario declares or a
// consumer used.
func (d *driver) groups() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := make(map[int]bool, len(d.subs)+d.set.subs)
	for i := range d.set.subs {
		seen[i] = true
	}
	for s := range d.subs {
		seen[s] = true
	}
	subs := make([]int, 0, len(seen))
	for s := range seen {
		subs = append(subs, s)
	}
	sort.Ints(subs)
	gs := make([]string, len(subs))
	for i, s := range subs {
		gs[i] = d.set.groupName(s)
	}
	return gs
}

func (d *driver) NewProducer(_ context.Context, o broker.ProducerOptions) (broker.Producer, error) {
	if o.OnComplete == nil {
		return nil, errors.New("creating kafka producer: ProducerOptions.OnComplete is nil")
	}
	if d.set.k.Transactional {
		return d.newTxnProducer(o)
	}
	return d.newProducer(o)
}

func (d *driver) NewConsumer(_ context.Context, o broker.ConsumerOptions) (broker.Consumer, error) {
	if d.set.k.GroupProtocol == "share" {
		return d.newShareConsumer(o)
	}
	return d.newConsumer(o)
}

// Close stops the relay, then deletes the topics Setup created and the
// run's consumer groups, when the target asks for it and the scenario does
// not keep them.
func (d *driver) Close(ctx context.Context) error {
	defer d.admCl.Close()
	var errs []error
	if d.relay != nil {
		errs = append(errs, d.relay.stop(ctx))
	}
	d.mu.Lock()
	created, relayCreated := d.created, d.relayCreated
	d.mu.Unlock()
	if !d.delete || d.set.keep || !created && !relayCreated {
		return errors.Join(errs...)
	}
	for _, t := range []struct {
		name    string
		created bool
	}{{d.set.topic, created}, {d.set.relayTopic, relayCreated}} {
		if !t.created {
			continue
		}
		if _, err := d.adm.DeleteTopic(ctx, t.name); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("deleting topic %s: %w", t.name, err))
		}
	}
	groups := d.groups()
	if d.relay != nil {
		groups = append(groups, d.set.relayGroup())
	}
	resps, err := d.adm.DeleteGroups(ctx, groups...)
	if err != nil {
		errs = append(errs, fmt.Errorf("deleting consumer groups: %w", err))
	}
	for g, r := range resps {
		if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
			errs = append(errs, fmt.Errorf("deleting consumer group %s: %w", g, r.Err))
		}
	}
	return errors.Join(errs...)
}
