package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// BenchConfig is the cluster and producer settings of the bare-vs-mqcheck
// produce comparison: an embedded 3-broker kfake cluster, 6 partitions, acks
// all, idempotent, the driver's defaults otherwise. Open it once, then run
// BareProduce and the swarm against the same target in one process.
func BenchConfig() (*Config, broker.Spec) {
	return &Config{Brokers: 3, Partitions: 6, Acks: "all"},
		broker.Spec{Target: broker.TargetEmbedded, Producers: 1, Consumers: 1}
}

// BareProduce is the baseline mqcheck's hot path is measured against: one
// franz-go client with the same producer settings as the driver's, producing
// n records of size bytes to t's topic with one promise func, then flushing.
// It returns how long that took. t must be a Kafka target whose Setup ran.
func BareProduce(ctx context.Context, t *broker.Target, n, size int) (time.Duration, error) {
	d, ok := t.Driver.(*driver)
	if !ok {
		return 0, errors.New("bare produce: not a kafka target")
	}
	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bare")
	if err != nil {
		return 0, fmt.Errorf("bare produce: %w", err)
	}
	cl, err := kgo.NewClient(append(opts, d.set.producerOpts()...)...)
	if err != nil {
		return 0, fmt.Errorf("bare produce: creating client: %w", err)
	}
	defer cl.Close()

	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7 + i>>3) // not all zeros, so compression has work
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	promise := func(_ *kgo.Record, err error) {
		if err != nil && failed.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	start := time.Now()
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("bare produce: flushing: %w", err)
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return took, fmt.Errorf("bare produce: %d of %d records failed, first: %v", f, n, firstErr.Load())
	}
	return took, nil
}

// BareTxnProduce is the baseline of transactional producers: one franz-go
// client with a transactional id and the driver's producer settings,
// writing n records of size bytes to t's topic in transactions of txnSize
// (begin, produce with one promise func, flush, commit), as a
// transactional application would. It returns how long that took.
func BareTxnProduce(ctx context.Context, t *broker.Target, n, size, txnSize int) (time.Duration, error) {
	d, ok := t.Driver.(*driver)
	if !ok {
		return 0, errors.New("bare transactional produce: not a kafka target")
	}
	opts, err := d.set.clientOpts(d.seeds, "mqcheck-bare-txn")
	if err != nil {
		return 0, fmt.Errorf("bare transactional produce: %w", err)
	}
	opts = append(opts, d.set.producerOpts()...)
	opts = append(opts, kgo.TransactionalID(fmt.Sprintf("mqcheck-bare-%d", time.Now().UnixNano())))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("bare transactional produce: creating client: %w", err)
	}
	defer cl.Close()
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7 + i>>3)
	}
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	start := time.Now()
	for done := 0; done < n; {
		if err := cl.BeginTransaction(); err != nil {
			return 0, fmt.Errorf("bare transactional produce: %w", err)
		}
		for range min(txnSize, n-done) {
			cl.Produce(ctx, &kgo.Record{Value: value}, promise)
			done++
		}
		if err := cl.Flush(ctx); err != nil {
			return 0, fmt.Errorf("bare transactional produce: flushing: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, fmt.Errorf("bare transactional produce: committing: %w", err)
		}
	}
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return took, fmt.Errorf("bare transactional produce: %d of %d records failed", f, n)
	}
	return took, nil
}
