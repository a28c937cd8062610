package sqs_test

import (
	"testing"

	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/internal/testenv"
)

// requireFauxqs fails the test without fauxqs in its cache directory,
// unless MQCHECK_SKIP_BROKERS names fauxqs: then it skips.
func requireFauxqs(t testing.TB) {
	t.Helper()
	testenv.Require(t, "fauxqs", sqs.FauxqsInstalled())
}
