// Package checker turns a run's history (what producers sent and learned, what
// subscriptions received) into anomaly counts, evidence and claim verdicts.
package checker

import (
	"fmt"
	"sync"
)

// Kind is the type of an Event.
type Kind uint8

const (
	// Sent: a producer handed the message to its driver; with Count > 1,
	// the messages Seq to Seq+Count-1 (producers report sends in ranges).
	Sent Kind = iota + 1
	// Acked: the broker confirmed the message.
	Acked
	// Failed: the broker definitely refused the message.
	Failed
	// Indeterminate: the producer cannot know whether the broker has it.
	Indeterminate
	// Received: a subscription got a message whose header decoded cleanly
	// and belongs to this run.
	Received
	// Corrupted: a subscription got an mqcheck message that is damaged (its
	// size or checksum does not verify). Producer and Seq are what the
	// header claimed, untrusted; Reason says what failed.
	Corrupted
	// Foreign: a subscription got a payload that is not this run's message:
	// another run's valid message, or no mqcheck message at all (too short,
	// no magic, an unknown header version). Counted, not an error; Reason
	// says which.
	Foreign
	// DeadLettered: a subscription read the message back from its
	// dead-letter queue. It is accounted for (never lost), and not a
	// delivery for duplicate or order checks.
	DeadLettered
	// Rejected: the harness failed a delivery on purpose (a simulated
	// processing failure) and did not count it as received.
	Rejected
	// Aborted: the message was written in a transaction the broker
	// confirmed aborted (Txn names it): no read_committed subscription
	// may receive it.
	Aborted
	// Processed: subscription Sub's consumers made the message's side
	// effect once, as read back from the processing store at the end (one
	// event per effect found there).
	Processed
)

var kindNames = [...]string{"", "sent", "acked", "failed", "indeterminate", "received", "corrupted", "foreign",
	"dead-lettered", "rejected", "aborted", "processed"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Reason says why a delivery is Corrupted or Foreign.
type Reason uint8

// Reasons, from what package message reports about a payload.
const (
	NoReason Reason = iota
	// OtherRun: a valid mqcheck message of another run.
	OtherRun
	// TooShort: shorter than an mqcheck header.
	TooShort
	// BadMagic: does not start with the mqcheck magic.
	BadMagic
	// UnknownVersion: an mqcheck header of a layout this mqcheck does not know.
	UnknownVersion
	// BadSize: an mqcheck message whose length differs from the one it was sent with.
	BadSize
	// BadChecksum: an mqcheck message whose checksum does not verify.
	BadChecksum
)

var reasonText = [...]string{"", "a valid message of another run", "shorter than an mqcheck header",
	"not an mqcheck payload (no magic)", "an mqcheck header of an unknown version",
	"an mqcheck message whose length changed", "an mqcheck message whose checksum fails"}

func (r Reason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Event is one fact of the history. Events are small values so that producers
// and consumers can hand them over in batches without allocating.
type Event struct {
	Kind        Kind
	Redelivered bool // Received: the broker flagged this delivery as a redelivery
	// HasPosition: Position is the delivery's storage position (Received).
	HasPosition bool
	// HeaderOnly (Received): the message's checksum covered its header
	// alone, so damage to the rest of it could not be seen.
	HeaderOnly bool
	Reason     Reason // Corrupted/Foreign: why
	Sub        uint16 // Received/Corrupted/Foreign: subscription index
	Domain     uint32 // Received/Corrupted: ordering domain id (see Names)
	Producer   uint32
	// Count (Sent, Acked): how many consecutive sequence numbers from Seq
	// the event stands for (0 means 1); an Acked range was acked at At.
	Count uint32
	// Txn: the producer's transaction (numbered from 1) an Acked or
	// Aborted message was written in; 0 outside transactions.
	Txn uint32
	// PosDomain (Received): 1 + the id of the domain within which
	// Position is unique, where that is wider than the ordering domain (a
	// Kafka share group's partition, which every member reads: one member
	// is an ordering domain); 0 means Domain.
	PosDomain uint32
	Seq       uint64
	At        int64 // unix nanoseconds
	// Position is where the broker stores the delivered copy, unique within
	// the ordering domain (a Kafka partition's offset): two deliveries of one
	// message at one position are one stored copy delivered twice.
	Position uint64
}

// Names maps subscription and ordering-domain names to the small ids events
// carry. Consumers register a domain once when they first see it; it is safe
// for concurrent use.
type Names struct {
	mu      sync.Mutex
	subs    []string
	domains []domainName
	index   map[domainName]uint32
}

type domainName struct {
	Sub  uint16
	Name string
}

// NewNames returns a registry with the given subscription names (index = id).
func NewNames(subs ...string) *Names {
	return &Names{subs: append([]string(nil), subs...), index: map[domainName]uint32{}}
}

// Domain returns the id of domain name within subscription sub, assigning
// one on first use.
func (n *Names) Domain(sub uint16, name string) uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := domainName{sub, name}
	if id, ok := n.index[k]; ok {
		return id
	}
	id := uint32(len(n.domains))
	n.domains = append(n.domains, k)
	n.index[k] = id
	return id
}

// Sub returns the name of subscription id.
func (n *Names) Sub(id uint16) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if int(id) < len(n.subs) {
		return n.subs[id]
	}
	return fmt.Sprintf("sub-%d", id)
}

// Subs returns the subscription names.
func (n *Names) Subs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.subs...)
}

// DomainName returns the name of domain id.
func (n *Names) DomainName(id uint32) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if int(id) < len(n.domains) {
		return n.domains[id].Name
	}
	return fmt.Sprintf("domain-%d", id)
}

// NumDomains returns how many domains have been registered.
func (n *Names) NumDomains() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.domains)
}

// sub returns the index of subscription name, adding it if needed.
func (n *Names) subID(name string) uint16 {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, s := range n.subs {
		if s == name {
			return uint16(i)
		}
	}
	n.subs = append(n.subs, name)
	return uint16(len(n.subs) - 1)
}

func (n *Names) snapshot() (subs []string, domains []domainName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.subs...), append([]domainName(nil), n.domains...)
}
