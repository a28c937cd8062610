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

	txns txnNumbers // transaction numbers of transactional producers

	mu         sync.Mutex
	created    bool // Setup created the topic
	partitions int
	domains    []string
	subs       map[int]bool
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
	d.domains = domainsOf(set.topic, d.partitions)
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
// has a leader. An existing topic is used as it is, and never deleted.
func (d *driver) Setup(ctx context.Context) error {
	k := &d.set.k
	_, err := d.adm.CreateTopic(ctx, int32(k.Partitions), int16(k.ReplicationFactor), nil, d.set.topic)
	created := err == nil
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s (%d partitions, replication factor %d): %w",
			d.set.topic, k.Partitions, k.ReplicationFactor, err)
	}
	d.mu.Lock()
	d.created = created
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, topicReadyWait)
	defer cancel()
	for {
		n, err := d.readyPartitions(ctx)
		if err == nil {
			d.mu.Lock()
			d.partitions = n
			d.domains = domainsOf(d.set.topic, n)
			d.mu.Unlock()
			if !created && n != k.Partitions && d.set.log != nil {
				d.set.log.Warn("existing topic has another partition count than the scenario",
					"topic", d.set.topic, "partitions", n, "scenario", k.Partitions)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for topic %s to have a leader for every partition: %w", d.set.topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *driver) readyPartitions(ctx context.Context) (int, error) {
	md, err := d.adm.Metadata(ctx, d.set.topic)
	if err != nil {
		return 0, err
	}
	td, ok := md.Topics[d.set.topic]
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
	return d.newConsumer(o)
}

// Close deletes the topic Setup created, and the run's consumer groups, when
// the target asks for it and the scenario does not keep them.
func (d *driver) Close(ctx context.Context) error {
	defer d.admCl.Close()
	d.mu.Lock()
	created := d.created
	d.mu.Unlock()
	if !d.delete || d.set.keep || !created {
		return nil
	}
	var errs []error
	if _, err := d.adm.DeleteTopic(ctx, d.set.topic); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		errs = append(errs, fmt.Errorf("deleting topic %s: %w", d.set.topic, err))
	}
	resps, err := d.adm.DeleteGroups(ctx, d.groups()...)
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
