package sqs_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/internal/barewait"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on one server, a bare aws-sdk-go-v2
// SendMessageBatch loop (batches of 10, one request in flight, text
// bodies) with mqcheck's producers at the same batching, alone and with
// consumers checking every message; the checked row is compared with the
// same bare loop plus bare consumers checking every body. On fauxqs it
// also prints the server's CPU time per second of load. Run with -benchtime=1x (make bench does).
func BenchmarkSwarmVsBare(b *testing.B) {
	for _, target := range []string{broker.TargetExec, broker.TargetEmbedded} {
		b.Run(target, func(b *testing.B) {
			if target == broker.TargetExec {
				requireFauxqs(b)
			}
			swarmVsBare(b, target)
		})
	}
}

func swarmVsBare(b *testing.B, target string) {
	const (
		size      = 1024
		window    = 1000
		runFor    = 2 * time.Second
		consumers = 2
	)
	open := func(ctx context.Context, dest string) (*broker.Target, error) {
		tgt, err := sqs.Open(ctx, &sqs.Config{}, broker.Spec{Target: target, Destination: dest, Producers: 1, Consumers: consumers, MaxInFlight: window},
			broker.Env{RunID: dest, Dir: b.TempDir()})
		if err != nil {
			return nil, err
		}
		if err := tgt.Driver.Setup(ctx); err != nil {
			return nil, err
		}
		return tgt, nil
	}
	// Every round of every row, the bare loop's too, gets a fresh server
	// of its own (an empty queue, a process whose CPU is read alone).
	rowDriver := func(kind string) func(context.Context, int) (broker.Driver, func(), error) {
		return func(ctx context.Context, round int) (broker.Driver, func(), error) {
			tgt, err := open(ctx, fmt.Sprintf("bench-%s-%d", kind, round))
			if err != nil {
				return nil, nil, err
			}
			pid, cpu0, t0 := sqs.ServerPID(tgt), 0.0, time.Now()
			if pid > 0 {
				cpu0 = cpuSeconds(pid)
			}
			return tgt.Driver, func() {
				if pid > 0 {
					fmt.Printf("    %s round %d: server CPU %.2f s per second\n", kind, round, (cpuSeconds(pid)-cpu0)/time.Since(t0).Seconds())
				}
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}, nil
		}
	}
	bare := 0
	brokertest.SwarmVsBare(b, brokertest.Bench{
		Title:     fmt.Sprintf("sqs %s (standard queue, batches of 10, one request in flight, %d-byte text bodies)", target, size),
		Unit:      "msg/s",
		Rounds:    3,
		BareLabel: "bare aws-sdk-go-v2 SendMessageBatch loop",
		Bare: func(ctx context.Context) (int, time.Duration, error) {
			bare++
			dest := fmt.Sprintf("bench-bare-%d", bare)
			tgt, err := open(ctx, dest)
			if err != nil {
				return 0, 0, err
			}
			defer func() {
				tgt.Driver.Close(ctx)
				tgt.Close(ctx)
			}()
			pid, cpu0 := sqs.ServerPID(tgt), 0.0
			if pid > 0 {
				cpu0 = cpuSeconds(pid)
			}
			client, queue, err := bareClient(ctx, tgt, dest)
			if err != nil {
				return 0, 0, err
			}
			n, took, err := bareSend(ctx, client, queue, runFor, size)
			if pid > 0 {
				fmt.Printf("    bare round %d: server CPU %.2f s per second\n", bare, (cpuSeconds(pid)-cpu0)/took.Seconds())
			}
			return n, took, err
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p"),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window, Text: true}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v"),
				Config:    swarm.Config{Producers: 1, Consumers: consumers, Duration: runFor, MessageSize: size, MaxInFlight: window, Text: true},
				BareLabel: "bare aws-sdk-go-v2 publish + consume loop",
				Bare: func(ctx context.Context, round int) (int, time.Duration, error) {
					// A server and queue of its own, as the row's round has.
					dest := fmt.Sprintf("bench-vbare-%d", round)
					tgt, err := open(ctx, dest)
					if err != nil {
						return 0, 0, err
					}
					defer func() {
						tgt.Driver.Close(ctx)
						tgt.Close(ctx)
					}()
					pid, cpu0, t0 := sqs.ServerPID(tgt), 0.0, time.Now()
					if pid > 0 {
						cpu0 = cpuSeconds(pid)
					}
					n, took, err := bareSendConsume(ctx, tgt, dest, runFor, size, consumers)
					if pid > 0 {
						fmt.Printf("    vbare round %d: server CPU %.2f s per second\n", round, (cpuSeconds(pid)-cpu0)/time.Since(t0).Seconds())
					}
					return n, took, err
				}},
		},
	})
}

// bareClient is an SDK client of its own (its own HTTP transport, as each
// of the driver's producers and consumers has) and queue's URL.
func bareClient(ctx context.Context, tgt *broker.Target, queue string) (*awssqs.Client, *string, error) {
	client := awssqs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(sqs.EndpointURL(tgt)),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")})
	q, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return nil, nil, err
	}
	return client, q.QueueUrl, nil
}

// bareBody is the text body every bare send carries.
func bareBody(size int) string { return strings.Repeat("x", size) }

// bareSend sends batches of 10 text bodies with one request in flight for
// d, and counts the entries SQS accepted.
func bareSend(ctx context.Context, client *awssqs.Client, queue *string, d time.Duration, size int) (int, time.Duration, error) {
	body := bareBody(size)
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)}
	}
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		out, err := client.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: queue, Entries: entries})
		if err != nil {
			return n, time.Since(start), err
		}
		n += len(out.Successful)
	}
	return n, time.Since(start), nil
}

// bareSendConsume is bareSend with consumers reading the queue meanwhile,
// each on a client of its own, receiving and deleting as the driver's
// consumers do with its defaults: long polls of up to max_messages with
// wait_time and the same system attributes asked for, the queue's
// visibility timeout, one DeleteMessageBatch per receive. Each checks
// every body's CRC-32C against the sent one's, as mqcheck's consumers
// verify theirs. It returns what bareSend returns once the consumers have
// deleted every accepted message (the wait is not timed, as mqcheck's
// drain is not), and fails if they did not within a minute.
func bareSendConsume(ctx context.Context, tgt *broker.Target, queue string, d time.Duration, size, consumers int) (int, time.Duration, error) {
	c := &sqs.Config{}
	c.ApplyDefaults()
	want := barewait.SumString(bareBody(size))
	var consumed atomic.Int64
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(cctx)
	for range consumers {
		client, url, err := bareClient(ctx, tgt, queue)
		if err != nil {
			stop()
			_ = g.Wait()
			return 0, 0, err
		}
		g.Go(func() error { return bareConsume(gctx, client, url, c, want, &consumed) })
	}
	client, url, err := bareClient(ctx, tgt, queue)
	if err != nil {
		stop()
		_ = g.Wait()
		return 0, 0, err
	}
	n, took, err := bareSend(ctx, client, url, d, size)
	if err != nil {
		stop()
		_ = g.Wait()
		return 0, 0, err
	}
	// More than n would be duplicates, which a standard queue may deliver.
	if err := barewait.Consumed(gctx, &consumed, n, true, stop, g.Wait); err != nil {
		return 0, 0, err
	}
	return n, took, nil
}

// receiveAttributes are the system attributes the driver's consumers ask
// for: the server looks them up and sends them for every message.
var receiveAttributes = []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount,
	types.MessageSystemAttributeNameMessageGroupId}

// bareConsume is one consumer of bareSendConsume: it receives until ctx
// ends, counting into consumed what it checked and deleted.
func bareConsume(ctx context.Context, client *awssqs.Client, queue *string, c *sqs.Config, want uint32, consumed *atomic.Int64) error {
	wait := c.WaitTime.D()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, wait+c.RequestTimeout.D())
		out, err := client.ReceiveMessage(rctx, &awssqs.ReceiveMessageInput{QueueUrl: queue,
			MaxNumberOfMessages: int32(c.MaxMessages), WaitTimeSeconds: int32(wait / time.Second),
			MessageSystemAttributeNames: receiveAttributes})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bare consume: receiving: %w", err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		entries := make([]types.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			// The body as the driver hands it over: no copy.
			b := aws.ToString(m.Body)
			if barewait.SumString(b) != want {
				return fmt.Errorf("bare consume: message %s: its body is not the one sent", aws.ToString(m.MessageId))
			}
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		dctx, cancel := context.WithTimeout(ctx, c.RequestTimeout.D())
		del, err := client.DeleteMessageBatch(dctx, &awssqs.DeleteMessageBatchInput{QueueUrl: queue, Entries: entries})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("bare consume: deleting: %w", err)
		}
		if len(del.Failed) > 0 {
			return fmt.Errorf("bare consume: %d of %d deletes failed", len(del.Failed), len(entries))
		}
		consumed.Add(int64(len(entries)))
	}
	return nil
}

// cpuSeconds is the CPU time (user + system) process pid used so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // clock ticks; 100 per second on Linux
}
