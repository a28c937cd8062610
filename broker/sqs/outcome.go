package sqs

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/smithy-go"

	"github.com/mqcheck/mqcheck/broker"
)

// isCode reports an API error with one of codes ("QueueDoesNotExist").
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && slices.Contains(codes, ae.ErrorCode())
}

// callOutcome is what a failed send call tells the producer: Failed only
// when every attempt the SDK made was refused by the server (nothing can
// have been stored); Indeterminate when one of them may have reached it
// (a timeout, a lost connection, a 5xx) or the call was cut short.
func callOutcome(err error, a *attempts) broker.Outcome {
	switch {
	case err == nil:
		return broker.Acked
	case a.unsure || a.n == 0, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return broker.Indeterminate
	case refused(err):
		return broker.Failed
	}
	return broker.Indeterminate
}

// entryOutcome is the outcome of one entry a batch call reported failed:
// the sender's fault (an invalid entry) is a refusal, unless an earlier
// attempt of the call may have stored it; the server's fault is not.
func entryOutcome(senderFault bool, a *attempts) broker.Outcome {
	if senderFault && !a.unsure {
		return broker.Failed
	}
	return broker.Indeterminate
}
