package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/mqcheck/mqcheck/broker"
)

// Client settings mqcheck uses on top of the scenario. They favour quick
// recovery after a fault, which is what a run measures, over the lighter
// load franz-go's defaults put on a cluster.
const (
	// franz-go backs off 250ms..5s with jitter; after a broker restart
	// that leaves clients idle for seconds after the broker is back.
	backoffMin = 50 * time.Millisecond
	backoffMax = time.Second
	// Metadata is refreshed at most this often (franz-go: 5s), so a moved
	// leader is found quickly.
	metadataMinAge = 250 * time.Millisecond
	dialTimeout    = 5 * time.Second
	// unreachableAfter bounds how long Open waits for a url target to
	// answer before it reports broker.ErrUnreachable.
	unreachableAfter = 5 * time.Second

	// Group settings: a dead consumer's partitions move within seconds
	// (Kafka's default session is 45s) and members notice a rebalance
	// within a second.
	sessionTimeout     = 10 * time.Second
	heartbeatInterval  = time.Second
	autoCommitInterval = time.Second
	fetchMaxWait       = time.Second
	maxPollRecords     = 4096

	minBufferedRecords = 50000 // franz-go's default
)

// ClosedLoopWindow is the default in-flight window per producer of a
// closed-loop run on Kafka: franz-go's own buffer (MaxBufferedRecords,
// 50,000 records by default), which its batching needs full to reach the
// client's speed. The common default of 1,000 kept a closed-loop run at
// 7% of what franz-go alone reaches on the same broker.
const ClosedLoopWindow = minBufferedRecords

// settings is everything the driver needs from the scenario, resolved once.
type settings struct {
	k          Config // defaults applied
	topic      string
	runID      string
	keep       bool
	maxPending int // the swarm's per-producer in-flight bound, 0 = unknown
	subs       int // subscriptions the scenario declares
	log        *slog.Logger
	// env dials every connection when it has a Dial (a proxy in the path).
	env broker.Env
	// relay between the producers' topic and relayTopic, which the
	// consumers read instead; Workers 0 without one.
	relay      broker.RelaySpec
	relayTopic string
}

func newSettings(cfg *Config, spec broker.Spec, env broker.Env) (settings, error) {
	var k Config
	if cfg != nil {
		k = *cfg
		// Pointers are shared with the caller: copy what defaults touch.
		if k.SASL != nil {
			v := *k.SASL
			k.SASL = &v
		}
		if k.TLS != nil {
			v := *k.TLS
			k.TLS = &v
		}
	}
	k.ApplySpecDefaults(spec)
	k.ApplyDefaults()
	if err := errors.Join(k.Validate(), k.CheckSpec(spec)); err != nil {
		return settings{}, fmt.Errorf("invalid kafka settings: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	topic := spec.Destination
	if topic == "" {
		if env.RunID == "" {
			return settings{}, errors.New("no destination and no run id to name the topic after")
		}
		topic = "mqcheck-" + env.RunID
	}
	runID := env.RunID
	if runID == "" {
		runID = topic
	}
	relayTopic := ""
	if spec.Relay.Workers > 0 {
		relayTopic = spec.Relay.Destination
		if relayTopic == "" {
			relayTopic = topic + "-relayed"
		}
		if relayTopic == topic {
			return settings{}, fmt.Errorf("relay.destination %q is the producers' topic too: the relay would read what it writes", topic)
		}
	}
	return settings{
		relay:      spec.Relay,
		relayTopic: relayTopic,
		k:          k,
		topic:      topic,
		runID:      runID,
		keep:       spec.Keep,
		maxPending: spec.MaxInFlight,
		subs:       max(1, spec.Subscriptions),
		log:        env.Log,
		env:        env,
	}, nil
}

// txnID is the transactional id of producer id: the same for the producer
// a crash replaces, so that the new one fences the old.
func (st *settings) txnID(producer int) string {
	return fmt.Sprintf("mqcheck-%s-p%d", st.runID, producer)
}

// consumeTopic is the topic the consumers read: the relay's, if the run has
// one.
func (st *settings) consumeTopic() string {
	if st.relay.Workers > 0 {
		return st.relayTopic
	}
	return st.topic
}

// relayGroup is the relay workers' consumer group.
func (st *settings) relayGroup() string { return fmt.Sprintf("mqcheck-%s-relay", st.runID) }

// relayID is relay worker i's transactional id and group instance id: the
// same for the worker that replaces it, so that the new one fences the old.
func (st *settings) relayID(i int) string { return fmt.Sprintf("mqcheck-%s-relay-%d", st.runID, i) }

// groupName is the consumer group of one subscription.
func (st *settings) groupName(sub int) string {
	return fmt.Sprintf("mqcheck-%s-s%d", st.runID, sub)
}

// backoff is deterministic on purpose: a jittered backoff would be the run's
// only unseeded random choice.
func backoff(tries int) time.Duration {
	d := backoffMin
	for i := 1; i < tries && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// dialFunc opens one connection of a client.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// clientOpts are the options every client of the run shares.
func (st *settings) clientOpts(seeds []string, clientID string) ([]kgo.Opt, error) {
	return st.clientOptsDialing(seeds, clientID, nil)
}

// clientOptsDialing is clientOpts whose every connection goes through wrap
// (nil: none), which can cut them as a killed process's would be.
func (st *settings) clientOptsDialing(seeds []string, clientID string, wrap func(dialFunc) dialFunc) ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(clientID),
		kgo.RetryBackoffFn(backoff),
		kgo.MetadataMinAge(metadataMinAge),
		kgo.DialTimeout(dialTimeout),
		kgo.RequestTimeoutOverhead(st.k.RequestTimeout.D()),
	}
	if st.log != nil {
		opts = append(opts, kgo.WithLogger(kgoLogger{l: st.log, client: clientID}))
	}
	if s := st.k.SASL; s != nil {
		m, err := saslMechanism(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	var tc *tls.Config
	if t := st.k.TLS; t != nil && t.Enabled {
		c, err := tlsConfig(t)
		if err != nil {
			return nil, err
		}
		tc = c
	}
	switch {
	case wrap != nil:
		opts = append(opts, kgo.Dialer(wrap(dialer(st.env, tc))))
	case st.env.Dial != nil:
		// franz-go refuses a Dialer together with DialTLSConfig, so TLS
		// goes on top of the run's dial function here.
		opts = append(opts, kgo.Dialer(dialer(st.env, tc)))
	case tc != nil:
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

// dialer opens connections through env (and its proxies), with TLS on top
// when tc is set, within dialTimeout.
func dialer(env broker.Env, tc *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, err := env.DialContext(ctx, network, addr)
		if err != nil || tc == nil {
			return conn, err
		}
		c := tc.Clone()
		if c.ServerName == "" {
			// The name of the broker, not of the proxy in between.
			host, _, _ := net.SplitHostPort(addr)
			c.ServerName = host
		}
		tlsConn := tls.Client(conn, c)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		return tlsConn, nil
	}
}

func saslMechanism(s *SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.User, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.User, Pass: s.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", s.Mechanism)
}

func tlsConfig(t *TLS) (*tls.Config, error) {
	return broker.TLSConfig("broker.kafka.tls", broker.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile,
		KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify})
}

// producerOpts maps the scenario's producer settings to franz-go.
func (st *settings) producerOpts() []kgo.Opt {
	k := &st.k
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(st.topic),
		kgo.ProducerLinger(k.Linger.D()),
		kgo.ProducerBatchMaxBytes(int32(k.BatchMaxBytes)),
		kgo.ProducerBatchCompression(codec(k.Compression)),
		kgo.RecordPartitioner(partitioner(k.Partitioner)),
		kgo.ProduceRequestTimeout(k.RequestTimeout.D()),
		// Publish must not block: the swarm bounds what is in flight, so
		// the client's buffer only has to hold that much.
		kgo.MaxBufferedRecords(max(minBufferedRecords, 2*st.maxPending)),
	}
	switch k.Acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !k.IsIdempotent() {
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(k.MaxInFlight))
	}
	if d := k.DeliveryTimeout.D(); d > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(d))
	}
	return opts
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func partitioner(name string) kgo.Partitioner {
	switch name {
	case "sticky":
		return kgo.StickyPartitioner()
	case "round-robin":
		return kgo.RoundRobinPartitioner()
	case "manual":
		return kgo.ManualPartitioner()
	}
	// The Java client's default: murmur2 of the key, else sticky batches.
	return kgo.UniformBytesPartitioner(64<<10, true, true, nil)
}

func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "range":
		return kgo.RangeBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	}
	return kgo.CooperativeStickyBalancer()
}

// consumerOpts maps the scenario's consumer settings to franz-go; the
// rebalance callbacks come from the consumer itself.
func (st *settings) consumerOpts(group string) []kgo.Opt {
	k := &st.k
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(st.consumeTopic()),
		kgo.Balancers(balancer(k.GroupBalancer)),
		// A new group reads the whole topic. When franz-go detects lost
		// records and cannot tell where the log diverged, it keeps its
		// default: re-read the last minute before the last consumed record
		// (duplicates, not records skipped). Resetting to the start instead
		// would re-read the whole log, which kfake provokes after every
		// leader move (see embedded.Stop).
		kgo.ConsumeStartOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(sessionTimeout),
		kgo.HeartbeatInterval(heartbeatInterval),
		kgo.AutoCommitInterval(autoCommitInterval),
		kgo.FetchMaxWait(fetchMaxWait),
		// A rebalance waits until the records of a poll were handled, so
		// what is committed on revoke is exactly what was processed.
		kgo.BlockRebalanceOnPoll(),
	}
	if k.Isolation == "read_committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if k.GroupProtocol == "consumer" {
		// KIP-848: the broker assigns; franz-go picks the broker's
		// assignor from the first balancer (range, or sticky: uniform).
		opts = append(opts, kgo.ServerSideBalancer())
	}
	if k.Commit == "manual" {
		opts = append(opts, kgo.AutoCommitMarks())
	}
	return opts
}
