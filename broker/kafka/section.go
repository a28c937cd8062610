package kafka

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	"github.com/mqcheck/mqcheck/internal/plural"
	"github.com/mqcheck/mqcheck/units"
)

// Config configures the franz-go driver and its embedded kfake cluster. A
// scenario writes it as broker.kafka. Zero values mean "unset";
// ApplyDefaults fills them in, so a resolved scenario shows every value the
// driver used.
type Config struct {
	// Brokers in the embedded cluster. Default 3. Ignored by url targets.
	Brokers int `yaml:"brokers,omitempty" json:"brokers,omitempty"`
	// Partitions of the topic. Default 6.
	Partitions int `yaml:"partitions,omitempty" json:"partitions,omitempty"`
	// ReplicationFactor of the topic the run creates. Default min(3,
	// brokers). kfake keeps one copy whatever this says; a real cluster
	// needs at least this many brokers.
	ReplicationFactor int `yaml:"replication_factor,omitempty" json:"replication_factor,omitempty"`

	// Acks the producer waits for: all (every in-sync replica), leader, or
	// none (fire and forget: every publish is acked once written to the
	// socket, so loss is invisible to the producer). Default all.
	Acks string `yaml:"acks,omitempty" json:"acks,omitempty"`
	// Idempotent producers let the broker drop the duplicates that client
	// retries would otherwise write. Unset means true with acks=all and
	// false otherwise: franz-go refuses idempotency without acks=all.
	Idempotent *bool `yaml:"idempotent,omitempty" json:"idempotent,omitempty"`
	// Linger is how long a partition's batch waits for more records before
	// it is sent. Unset means 10ms (franz-go's default); 0 sends at once.
	Linger *units.Duration `yaml:"linger,omitempty" json:"linger,omitempty"`
	// BatchMaxBytes bounds one record batch before compression. Default
	// 1000012 (Kafka's max.message.bytes default).
	BatchMaxBytes units.Size `yaml:"batch_max_bytes,omitempty" json:"batch_max_bytes,omitempty"`
	// Compression of produced batches: none, gzip, snappy, lz4, zstd.
	// Default none: mqcheck's padding is synthetic, so with a codec the
	// figures would measure how well the padding compresses rather than
	// the broker (and none is the Java producer's default too).
	Compression string `yaml:"compression,omitempty" json:"compression,omitempty"`
	// MaxInFlight is produce requests in flight per broker. Idempotent
	// producers always keep 5 (franz-go fixes it), so set it only with
	// idempotent: false, where the default is 1 and more than 1 can reorder
	// records on retries.
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// Partitioner picks each record's partition: key (records with a key go
	// to the partition the key hashes to, as with the Java client; records
	// without one are batched stickily), sticky (keys ignored, one
	// partition per batch), round-robin (keys ignored, each record to the
	// next partition), manual (producer i writes only to partition i mod
	// partitions). Default key. Keys come from producers.keys.
	Partitioner string `yaml:"partitioner,omitempty" json:"partitioner,omitempty"`
	// GroupBalancer assigns partitions to the consumers of a group:
	// cooperative-sticky (incremental: only moved partitions stop), or the
	// eager range, roundrobin and sticky (every member stops on every
	// rebalance). Default cooperative-sticky.
	GroupBalancer string `yaml:"group_balancer,omitempty" json:"group_balancer,omitempty"`
	// Commit decides when consumed offsets are committed: manual (a record's
	// offset is committed only after the handler processed it, also when
	// partitions are revoked) or auto (franz-go's autocommit: what earlier
	// polls returned). Default manual.
	Commit string `yaml:"commit,omitempty" json:"commit,omitempty"`
	// Isolation of consumers: read_uncommitted or read_committed (skip
	// records of aborted transactions, and read no further than the
	// oldest open one). Default read_committed where the run writes
	// transactions (transactional producers, or a transactional relay),
	// else read_uncommitted, Kafka's own.
	Isolation string `yaml:"isolation,omitempty" json:"isolation,omitempty"`
	// GroupProtocol of consumers: classic (the client-side rebalance
	// protocol, with group_balancer), consumer (KIP-848: the broker
	// assigns partitions, group_balancer range or sticky picks its range
	// or uniform assignor) or share (KIP-932 share groups, Kafka's
	// queues: the members share partitions, acknowledge every record, and
	// a record given back is delivered again with its delivery count).
	// Default classic.
	GroupProtocol string `yaml:"group_protocol,omitempty" json:"group_protocol,omitempty"`

	// Transactional producers write every message in a transaction of
	// transaction_size messages, committed as a whole: a message is acked
	// when its transaction committed, aborted when the broker confirmed
	// the abort, indeterminate when the end's answer was lost. Needs
	// acks=all and idempotence.
	Transactional bool `yaml:"transactional,omitempty" json:"transactional,omitempty"`
	// TransactionSize is how many messages of a producer one transaction
	// holds. Default 100. At most producers.max_in_flight: every message
	// of an open transaction is in flight until it ends.
	TransactionSize int `yaml:"transaction_size,omitempty" json:"transaction_size,omitempty"`
	// AbortRatio is the fraction of each producer's transactions it aborts
	// on purpose, 0 to 1, spread evenly from a seeded start: any n
	// transactions in a row hold n*abort_ratio aborted ones, rounded down
	// or up.
	AbortRatio float64 `yaml:"abort_ratio,omitempty" json:"abort_ratio,omitempty"`
	// DeliveryTimeout bounds how long a record may wait for its ack before
	// it completes as indeterminate; 0 waits for ever (franz-go's default).
	// Idempotent producers only give up on a record when that cannot break
	// the sequence, so it can take longer.
	DeliveryTimeout units.Duration `yaml:"delivery_timeout,omitempty" json:"delivery_timeout,omitempty"`
	// RequestTimeout is how long a broker may take to answer a produce
	// request; the client allows the same again on the wire before it drops
	// the connection and retries. Default 10s.
	RequestTimeout units.Duration `yaml:"request_timeout,omitempty" json:"request_timeout,omitempty"`

	// SASL authenticates every connection; the embedded cluster then
	// requires the same user.
	SASL *SASL `yaml:"sasl,omitempty" json:"sasl,omitempty"`
	// TLS encrypts connections to a url target.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// SASL is the user the driver authenticates as.
type SASL struct {
	// Mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism" json:"mechanism"`
	User      string `yaml:"user" json:"user"`
	// Password of user.
	Password string `yaml:"password,omitempty" json:"password,omitempty" secret:"true"`
}

// TLS configures TLS to a url target.
type TLS struct {
	Enabled bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// CAFile (PEM) verifies the brokers; empty uses the system roots.
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
	acksValues     = []string{"all", "leader", "none"}
	compressions   = []string{"none", "gzip", "snappy", "lz4", "zstd"}
	partitioners   = []string{"key", "sticky", "round-robin", "manual"}
	groupBalancers = []string{"cooperative-sticky", "range", "roundrobin", "sticky"}
	commits        = []string{"manual", "auto"}
	isolations     = []string{"read_uncommitted", "read_committed"}
	groupProtocols = []string{"classic", "consumer", "share"}
	saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}
)

// Enums lists the values of the section's fields of a fixed set, for the
// scenario schema.
func (k *Config) Enums() map[string][]string {
	return map[string][]string{"acks": slices.Clone(acksValues), "compression": slices.Clone(compressions),
		"partitioner": slices.Clone(partitioners), "group_balancer": slices.Clone(groupBalancers),
		"commit": slices.Clone(commits), "isolation": slices.Clone(isolations),
		"group_protocol": slices.Clone(groupProtocols)}
}

// Enums lists the SASL mechanisms, for the scenario schema.
func (s *SASL) Enums() map[string][]string {
	return map[string][]string{"mechanism": slices.Clone(saslMechanisms)}
}

// Defaults the driver relies on; franz-go's own where it has one.
const (
	kafkaDefaultBrokers        = 3
	kafkaDefaultPartitions     = 6
	kafkaDefaultLinger         = 10 * time.Millisecond
	kafkaDefaultBatchMaxBytes  = 1000012
	kafkaDefaultRequestTimeout = 10 * time.Second
	// kgo keeps this many idempotent produce requests in flight per broker.
	kafkaIdempotentInFlight = 5
	kafkaDefaultTxnSize     = 100
)

// ApplyDefaults fills every unset field. It leaves invalid values alone for
// Problems to report.
func (k *Config) ApplyDefaults() {
	if k.Brokers == 0 {
		k.Brokers = kafkaDefaultBrokers
	}
	if k.Partitions == 0 {
		k.Partitions = kafkaDefaultPartitions
	}
	if k.ReplicationFactor == 0 {
		k.ReplicationFactor = min(3, max(k.Brokers, 1))
	}
	if k.Acks == "" {
		k.Acks = "all"
	}
	if k.Idempotent == nil {
		idem := k.Acks == "all"
		k.Idempotent = &idem
	}
	if k.Linger == nil {
		l := units.Duration(kafkaDefaultLinger)
		k.Linger = &l
	}
	if k.BatchMaxBytes == 0 {
		k.BatchMaxBytes = kafkaDefaultBatchMaxBytes
	}
	if k.Compression == "" {
		k.Compression = "none"
	}
	if k.MaxInFlight == 0 {
		k.MaxInFlight = 1
		if *k.Idempotent {
			k.MaxInFlight = kafkaIdempotentInFlight
		}
	}
	if k.Partitioner == "" {
		k.Partitioner = "key"
	}
	if k.GroupProtocol == "" {
		k.GroupProtocol = "classic"
	}
	if k.GroupBalancer == "" {
		k.GroupBalancer = "cooperative-sticky"
		if k.GroupProtocol == "consumer" {
			// The broker's uniform assignor, franz-go's sticky.
			k.GroupBalancer = "sticky"
		}
	}
	if k.Transactional && k.TransactionSize == 0 {
		k.TransactionSize = kafkaDefaultTxnSize
	}
	if k.Commit == "" {
		k.Commit = "manual"
	}
	if k.Isolation == "" {
		k.Isolation = "read_uncommitted"
		if k.Transactional {
			k.Isolation = "read_committed"
		}
	}
	if k.RequestTimeout == 0 {
		k.RequestTimeout = units.Duration(kafkaDefaultRequestTimeout)
	}
}

// ApplySpecDefaults fills what defaults from the rest of the scenario: a
// transactional relay makes the consumers read_committed. Called before
// ApplyDefaults.
func (k *Config) ApplySpecDefaults(spec broker.Spec) {
	if k.Isolation == "" && spec.Relay.Workers > 0 && spec.Relay.Transactional {
		k.Isolation = "read_committed"
	}
}

// claimEOS is the scenario claim of Kafka's transactions
// (scenarios.ClaimKafkaEOS; the driver imports nothing of the scenario
// model).
const claimEOS = "kafka-eos"

// CheckSpec rejects dead-lettering (Kafka has no dead-letter queues), a
// url that is not a list of host:port, and what the embedded cluster
// cannot be: TLS, or fewer brokers than the replication factor. It also
// rejects kafka-eos without transactions, transactions larger than the
// producers' in-flight window, and a relay that share groups would feed.
func (k *Config) CheckSpec(spec broker.Spec) error {
	ps := []error{broker.NoDeadLetter("kafka", spec)}
	d := withDefaults(k)
	if k != nil {
		d.Transactional, d.TransactionSize = k.Transactional, k.TransactionSize
		if d.Transactional && d.TransactionSize == 0 {
			d.TransactionSize = kafkaDefaultTxnSize
		}
	}
	relayTxn := spec.Relay.Workers > 0 && spec.Relay.Transactional
	for i, c := range spec.Claims {
		if c == claimEOS && !d.Transactional && !relayTxn {
			ps = append(ps, broker.Problem(fmt.Sprintf("claims.%d", i), "kafka-eos verifies Kafka's transactions, and this run writes none: "+
				"set broker.kafka.transactional: true, or a relay with transactional: true"))
		}
	}
	if d.Transactional && spec.MaxInFlight > 0 && d.TransactionSize > spec.MaxInFlight {
		ps = append(ps, broker.Problem("broker.kafka.transaction_size", "%d is more than producers.max_in_flight (%d): every message of an open transaction "+
			"is in flight until the transaction ends, so a producer would wait for itself", d.TransactionSize, spec.MaxInFlight))
	}
	switch spec.Target {
	case broker.TargetURL:
		if spec.URL != "" {
			if _, err := parseSeeds(spec.URL); err != nil {
				ps = append(ps, broker.Problem("broker.url", "%s", strings.TrimPrefix(err.Error(), "broker.url: ")))
			}
		}
	case broker.TargetContainer:
		ps = append(ps, container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, true))
		for _, key := range listenerKeys {
			if _, ok := spec.Container.Env[key]; ok {
				ps = append(ps, broker.Problem("broker.env", "%s is mqcheck's to set: the broker must advertise the port mapped on the host", key))
			}
		}
		if k != nil && k.TLS != nil && k.TLS.Enabled {
			ps = append(ps, broker.Problem("broker.kafka.tls", "applies to url targets: the container listens on plain TCP"))
		}
		if d.ReplicationFactor > 1 {
			ps = append(ps, broker.Problem("broker.kafka.replication_factor", "%d is more than the container's one broker", d.ReplicationFactor))
		}
	case "", broker.TargetEmbedded:
		if k != nil && k.TLS != nil && k.TLS.Enabled {
			ps = append(ps, broker.Problem("broker.kafka.tls", "applies to url targets: the embedded cluster listens on plain TCP (kfake would need a server certificate)"))
		}
		if d.ReplicationFactor > d.Brokers {
			ps = append(ps, broker.Problem("broker.kafka.replication_factor", "%d is more than the embedded cluster's %s",
				d.ReplicationFactor, plural.Of(d.Brokers, "broker")))
		}
	}
	return errors.Join(ps...)
}

// IsIdempotent reports whether the producer is idempotent, applying the
// default when Idempotent is unset.
func (k *Config) IsIdempotent() bool {
	if k.Idempotent != nil {
		return *k.Idempotent
	}
	return k.Acks == "" || k.Acks == "all"
}

// Validate reports what is wrong with the section, each problem a
// *broker.FieldError naming its path ("broker.kafka.acks"). It works before
// and after ApplyDefaults: zero values count as unset.
func (k *Config) Validate() error {
	if k == nil {
		return nil
	}
	var ps []error
	add := func(field, format string, args ...any) {
		ps = append(ps, broker.Problem("broker.kafka."+field, format, args...))
	}
	enum := func(field, v string, valid []string) {
		if v != "" && !slices.Contains(valid, v) {
			add(field, "unknown value %q (valid: %s)", v, strings.Join(valid, ", "))
		}
	}
	notNegative := func(field string, v int) {
		if v < 0 {
			add(field, "must not be negative (got %d)", v)
		}
	}

	notNegative("brokers", k.Brokers)
	notNegative("partitions", k.Partitions)
	notNegative("replication_factor", k.ReplicationFactor)
	if k.ReplicationFactor > 32767 {
		add("replication_factor", "%d is more than Kafka allows (32767)", k.ReplicationFactor)
	}
	if k.Partitions > 1<<20 {
		add("partitions", "%d is more than this tool supports (%d)", k.Partitions, 1<<20)
	}

	enum("acks", k.Acks, acksValues)
	idem := k.IsIdempotent()
	if k.Idempotent != nil && *k.Idempotent && k.Acks != "" && k.Acks != "all" {
		add("idempotent", "idempotency requires acks=all (got acks=%s); set acks: all or idempotent: false", k.Acks)
	}

	if k.Linger != nil {
		switch l := k.Linger.D(); {
		case l < 0:
			add("linger", "must not be negative (got %s)", l)
		case l > time.Minute:
			add("linger", "%s is more than franz-go allows (1m)", l)
		}
	}
	if k.BatchMaxBytes != 0 && (k.BatchMaxBytes < 512 || k.BatchMaxBytes > 1<<30) {
		add("batch_max_bytes", "%s is out of range (512 to 1GiB)", k.BatchMaxBytes)
	}
	enum("compression", k.Compression, compressions)

	notNegative("max_in_flight", k.MaxInFlight)
	if idem && k.MaxInFlight != 0 && k.MaxInFlight != kafkaIdempotentInFlight {
		add("max_in_flight", "idempotent producers keep %d requests in flight per broker (franz-go fixes it); remove max_in_flight or set idempotent: false",
			kafkaIdempotentInFlight)
	}

	enum("partitioner", k.Partitioner, partitioners)
	enum("group_balancer", k.GroupBalancer, groupBalancers)
	enum("commit", k.Commit, commits)
	enum("isolation", k.Isolation, isolations)
	enum("group_protocol", k.GroupProtocol, groupProtocols)
	if k.GroupProtocol == "consumer" && k.GroupBalancer != "" && k.GroupBalancer != "range" && k.GroupBalancer != "sticky" {
		add("group_balancer", "%s is a client-side balancer; with group_protocol consumer (KIP-848) the broker assigns partitions: "+
			"use range or sticky (the broker's range and uniform assignors)", k.GroupBalancer)
	}
	k.validateTxn(add, idem)

	switch d := k.DeliveryTimeout.D(); {
	case d < 0:
		add("delivery_timeout", "must not be negative (got %s)", d)
	case d > 0 && d < time.Second:
		add("delivery_timeout", "%s is less than franz-go allows (1s); 0 waits for ever", d)
	}
	switch d := k.RequestTimeout.D(); {
	case d < 0:
		add("request_timeout", "must not be negative (got %s)", d)
	case d > 0 && d < 100*time.Millisecond:
		add("request_timeout", "%s is less than franz-go allows (100ms)", d)
	case d > 15*time.Minute:
		add("request_timeout", "%s is more than franz-go allows (15m)", d)
	}

	if s := k.SASL; s != nil {
		switch {
		case s.Mechanism == "":
			add("sasl.mechanism", "required (valid: %s)", strings.Join(saslMechanisms, ", "))
		default:
			enum("sasl.mechanism", s.Mechanism, saslMechanisms)
		}
		if s.User == "" {
			add("sasl.user", "required with sasl")
		}
	}
	if t := k.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			add("tls", "cert_file and key_file go together (got only one)")
		}
		if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify) {
			add("tls.enabled", "is false, yet other tls settings are given; set enabled: true or remove them")
		}
	}
	return errors.Join(ps...)
}

// validateTxn checks the transactional producer's settings: franz-go
// refuses transactions without idempotence, and idempotence without
// acks=all.
func (k *Config) validateTxn(add func(field, format string, args ...any), idem bool) {
	if k.Transactional {
		switch {
		case k.Acks != "" && k.Acks != "all":
			add("transactional", "transactions need acks=all (got acks=%s)", k.Acks)
		case !idem:
			add("transactional", "transactions need idempotent producers (got idempotent: false)")
		}
	}
	switch {
	case k.TransactionSize < 0:
		add("transaction_size", "must not be negative (got %d)", k.TransactionSize)
	case k.TransactionSize > 0 && !k.Transactional:
		add("transaction_size", "applies to transactional producers (set transactional: true)")
	}
	switch r := k.AbortRatio; {
	case math.IsNaN(r) || r < 0 || r > 1:
		add("abort_ratio", "must be between 0 and 1 (got %v)", r)
	case r > 0 && !k.Transactional:
		add("abort_ratio", "applies to transactional producers (set transactional: true)")
	}
}
