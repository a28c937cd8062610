package sqs_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/sqs"
	"github.com/mqcheck/mqcheck/brokertest"
	"github.com/mqcheck/mqcheck/swarm"
)

// BenchmarkSwarmVsBare compares, on one server, a bare aws-sdk-go-v2
// SendMessageBatch loop (batches of 10, one request in flight, text
// bodies) with mqcheck's producers at the same batching, alone and with
// consumers checking every message; on fauxqs it also prints the server's
// CPU time per second of load. Run with -benchtime=1x (make bench does).
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
		size   = 1024
		window = 1000
		runFor = 2 * time.Second
	)
	open := func(ctx context.Context, dest string) (*broker.Target, error) {
		tgt, err := sqs.Open(ctx, &sqs.Config{}, broker.Spec{Target: target, Destination: dest, Producers: 1, Consumers: 2, MaxInFlight: window},
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
			n, took, err := bareSend(ctx, tgt, dest, runFor, size)
			if pid > 0 {
				fmt.Printf("    bare round %d: server CPU %.2f s per second\n", bare, (cpuSeconds(pid)-cpu0)/took.Seconds())
			}
			return n, took, err
		},
		Rows: []brokertest.BenchRow{
			{Label: "mqcheck producers only", Metric: "produce-ratio", Driver: rowDriver("p"),
				Config: swarm.Config{Producers: 1, Duration: runFor, MessageSize: size, MaxInFlight: window, Text: true}},
			{Label: "mqcheck producers + consumers, checked", Metric: "verified-ratio", Driver: rowDriver("v"),
				Config: swarm.Config{Producers: 1, Consumers: 2, Duration: runFor, MessageSize: size, MaxInFlight: window, Text: true}},
		},
	})
}

// bareSend sends batches of 10 text bodies with one request in flight for
// d, and counts the entries SQS accepted.
func bareSend(ctx context.Context, tgt *broker.Target, queue string, d time.Duration, size int) (int, time.Duration, error) {
	client := awssqs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(sqs.EndpointURL(tgt)),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")})
	q, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return 0, 0, err
	}
	body := strings.Repeat("x", size)
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body)}
	}
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		out, err := client.SendMessageBatch(ctx, &awssqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries})
		if err != nil {
			return n, time.Since(start), err
		}
		n += len(out.Successful)
	}
	return n, time.Since(start), nil
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
