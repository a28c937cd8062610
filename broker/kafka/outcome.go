package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// outcomeOf maps what a franz-go produce promise was given to what the
// producer knows about the record. Failed is reserved for answers that prove
// the record was not appended; when in doubt the answer is Indeterminate,
// because a wrong Failed turns into a false "phantom" in the checker while a
// wrong Indeterminate only turns into "recovered".
//
//	promise error                                        outcome
//	nil                                                  Acked (acks=none: written to the socket)
//	kgo.ErrRecordTimeout (delivery_timeout passed)       Indeterminate
//	kgo.ErrRecordRetries (retries exhausted)             Indeterminate
//	kgo.ErrClientClosed, kgo.ErrAborting (Close)         Indeterminate
//	context.Canceled, context.DeadlineExceeded           Indeterminate
//	retriable kerr (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS,
//	  NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC_OR_PARTITION, ...)  Indeterminate
//	producer-state kerr (OUT_OF_ORDER_SEQUENCE_NUMBER,
//	  UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH,
//	  INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
//	  INVALID_TXN_STATE): an earlier attempt may have landed  Indeterminate
//	any other non-retriable kerr (MESSAGE_TOO_LARGE,
//	  RECORD_LIST_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP,
//	  INVALID_REQUIRED_ACKS, TOPIC_AUTHORIZATION_FAILED,
//	  CLUSTER_AUTHORIZATION_FAILED, POLICY_VIOLATION,
//	  UNSUPPORTED_COMPRESSION_TYPE, ...)                   Failed
//	anything else (network errors, unknown errors)       Indeterminate
//
// One gap remains: a non-idempotent producer that retried a request whose
// first attempt timed out and then got a definitive refusal reports Failed,
// though the first attempt may have landed; the checker then reports a
// phantom. franz-go does not say whether a failed batch was ever sent.
func outcomeOf(err error) broker.Outcome {
	if err == nil {
		return broker.Acked
	}
	switch {
	case errors.Is(err, kgo.ErrRecordTimeout),
		errors.Is(err, kgo.ErrRecordRetries),
		errors.Is(err, kgo.ErrClientClosed),
		errors.Is(err, kgo.ErrAborting),
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded):
		return broker.Indeterminate
	}
	var ke *kerr.Error
	if !errors.As(err, &ke) || ke.Retriable {
		return broker.Indeterminate
	}
	switch ke {
	case kerr.OutOfOrderSequenceNumber, kerr.UnknownProducerID,
		kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping,
		kerr.ProducerFenced, kerr.InvalidTxnState:
		return broker.Indeterminate
	}
	return broker.Failed
}
