package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want broker.Outcome
	}{
		{nil, broker.Acked},
		{kgo.ErrRecordTimeout, broker.Indeterminate},
		{fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotEnoughReplicas), broker.Indeterminate},
		{kgo.ErrRecordRetries, broker.Indeterminate},
		{kgo.ErrClientClosed, broker.Indeterminate},
		{kgo.ErrAborting, broker.Indeterminate},
		{context.Canceled, broker.Indeterminate},
		{context.DeadlineExceeded, broker.Indeterminate},
		{io.EOF, broker.Indeterminate},
		{errors.New("something new"), broker.Indeterminate},
		{kerr.RequestTimedOut, broker.Indeterminate},
		{kerr.NotLeaderForPartition, broker.Indeterminate},
		{kerr.UnknownTopicOrPartition, broker.Indeterminate},
		{kerr.OutOfOrderSequenceNumber, broker.Indeterminate},
		{kerr.UnknownProducerID, broker.Indeterminate},
		{kerr.InvalidProducerEpoch, broker.Indeterminate},
		{kerr.ProducerFenced, broker.Indeterminate},
		{kerr.MessageTooLarge, broker.Failed},
		{fmt.Errorf("%w (uncompressed_bytes=2000000)", kerr.MessageTooLarge), broker.Failed},
		{kerr.RecordListTooLarge, broker.Failed},
		{kerr.InvalidRecord, broker.Failed},
		{kerr.TopicAuthorizationFailed, broker.Failed},
		{kerr.ClusterAuthorizationFailed, broker.Failed},
		{kerr.PolicyViolation, broker.Failed},
	} {
		if got := outcomeOf(tc.err); got != tc.want {
			t.Errorf("outcomeOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}
