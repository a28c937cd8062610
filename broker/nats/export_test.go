package nats

import "github.com/mqcheck/mqcheck/broker"

// BareConsumerSettings is what the bench's bare consumers take from the
// driver, so that they read as its consumers do and keep doing so if its
// defaults change.
type BareConsumerSettings struct {
	// Durable is subscription 0's durable consumer (jetstream) or queue
	// group (core).
	Durable string
	// Consumer (pull or push) and AckPolicy are the jetstream consumer's.
	Consumer, AckPolicy string
	// FetchBatch is a pull consumer's batch, PendingLimit a core
	// subscriber's.
	FetchBatch, PendingLimit int
}

// BareConsumer is the settings of the driver of t, a NATS target.
func BareConsumer(t *broker.Target) BareConsumerSettings {
	d := t.Driver.(*driver)
	return BareConsumerSettings{Durable: d.durable(0), Consumer: d.c.Consumer, AckPolicy: d.c.AckPolicy,
		FetchBatch: d.c.FetchBatch, PendingLimit: d.c.PendingLimit}
}
