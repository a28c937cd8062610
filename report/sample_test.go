package report

import (
	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
)

// sampleHistogram is a deterministic latency distribution (µs): a body
// around a millisecond, a tail to hundreds of milliseconds and a few
// seconds-long outliers, as a broker restart leaves.
func sampleHistogram(n int, scale float64) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for i := range n {
		v := 600 + (i*7919)%1500 // body: 0.6-2.1ms
		switch {
		case i%1000 == 7:
			v = 200_000 + (i*31)%200_000 // 0.1%: 200-400ms
		case i%100 == 3:
			v = 5_000 + (i*13)%10_000 // 1%: 5-15ms
		case i%10 == 1:
			v = 2_000 + (i*17)%1_000 // 10%: 2-3ms
		}
		if i%20000 == 19999 {
			v = 3_000_000 + i // the restart
		}
		_ = h.RecordValue(int64(float64(v) * scale))
	}
	return h
}

// sampleTimeline is 20s of load at 2000/s with a restart from 8s to 10s,
// then 2s of drain.
func sampleTimeline() []Second {
	var rows []Second
	for t := int64(1); t <= 22; t++ {
		row := Second{T: t, SentPerS: 2000, AckedPerS: 2000, ReceivedPerS: 2000, InFlight: 40, Lag: 12,
			PublishP99US: 9000, E2EP99US: 14000, Anomalies: 0}
		switch {
		case t == 9 || t == 10:
			row.AckedPerS, row.ReceivedPerS, row.InFlight, row.Lag = 0, 0, 2000*(t-8), -1
			row.PublishP99US, row.E2EP99US = 0, 0
			row.Faults = []string{"restart all nodes (kill)"}
		case t == 11:
			row.AckedPerS, row.ReceivedPerS, row.Lag, row.PublishP99US, row.E2EP99US = 6000, 6000, 3900, 3_100_000, 3_500_000
		case t > 20:
			row.SentPerS, row.AckedPerS, row.ReceivedPerS, row.InFlight, row.Lag = 0, 0, 3, 0, 0
		}
		// Ten duplicates and a reorder as the cluster comes back, another
		// reorder a second later.
		switch {
		case t == 11:
			row.Duplicated, row.Reordered, row.Anomalies = 10, 1, 11
		case t == 12:
			row.Reordered, row.Anomalies = 1, 12
		case t > 12:
			row.Anomalies = 12
		}
		rows = append(rows, row)
	}
	return rows
}

var sampleThresholds = []string{"end_to_end.p99 < 50ms", "lost == 0", "received_per_s >= 1900", "publish.p999 <= 100ms"}

func sampleResults() *Results {
	yes, no := true, false
	start := int64(1_800_000_000_000_000_000)
	acked, e2e := sampleHistogram(39987, 1), sampleHistogram(40005, 1.4)
	// The restart's outcomes: 3 refused, 10 timed out, 5 never sent; and
	// 4 in a transaction that aborted.
	failed, indet, notSent := hdrhistogram.New(1, 3_600_000_000, 3), hdrhistogram.New(1, 3_600_000_000, 3), hdrhistogram.New(1, 3_600_000_000, 3)
	aborted := hdrhistogram.New(1, 3_600_000_000, 3)
	for i := range 10 {
		if i < 4 {
			_ = aborted.RecordValue(int64(3_000 + i*100))
		}
		_ = indet.RecordValue(int64(2_500_000 + i*50_000))
		if i < 3 {
			_ = failed.RecordValue(int64(40_000 + i*1_000))
		}
		if i < 5 {
			_ = notSent.RecordValue(int64(1_000 + i*200))
		}
	}
	pub := hdrhistogram.New(1, 3_600_000_000, 3)
	for _, h := range []*hdrhistogram.Histogram{acked, failed, indet, notSent, aborted} {
		pub.Merge(h)
	}
	r := &Results{
		SchemaVersion: SchemaVersion, Tool: "mqcheck test", RunID: "00112233aabbccdd",
		Scenario: ScenarioInfo{Name: "sample", Broker: "kafka", Seed: 42, Producers: 4, Consumers: 4,
			Subscriptions: 1, Rate: "2000/s", MessageSize: 1024, DurationMS: 20000,
			Claims: []string{"at-least-once", "ordered"}},
		Target: "embedded kfake, 3 brokers", LoadStartNS: start, Verdict: "fail",
		StartedAt: "2027-01-15T08:00:00Z", EndedAt: "2027-01-15T08:00:23.5Z",
		Drain: Drain{Complete: true, Reason: "every acknowledged message was received", DurationMS: 1234},
		Counts: checker.Counts{Sent: 40004, NotSent: 5, Acked: 39987, Failed: 3, Indeterminate: 10, Aborted: 4, Received: 40005, Unique: 39995,
			Recovered: 5, Duplicated: 10, DuplicatedRedelivered: 0, DuplicatedStored: 2, Reordered: 2},
		Latency: Latencies{Publish: Summarize(pub), PublishAcked: Summarize(acked), PublishFailed: Summarize(failed),
			PublishIndeterminate: Summarize(indet), PublishNotSent: Summarize(notSent), PublishAborted: Summarize(aborted),
			SendToAck: Summarize(sampleHistogram(39987, 0.8)), EndToEnd: Summarize(e2e)},
		Throughput: Throughput{SentPerS: 2000, AckedPerS: 1999.35, ReceivedPerS: 2000.25},
		Load: LoadResult{Mode: LoadFixedRate, PlannedMS: 20000, EndedMS: 20000, DurationMS: 20001, TargetPerS: 2000.25,
			AchievedPerS: 2000, Intended: 40005, NotSent: 5, MaxInFlight: 1000},
		Faults: []Fault{{Kind: "restart", Target: "restart all nodes (kill)", Schedule: "faults.0: at 8s", PlannedMS: 8000,
			StartMS: 8000, EndMS: 10000, PublishRecoveryMS: 850, DeliverRecoveryMS: 1200, NoPublishMS: 2860,
			NoDeliveryMS: 3220, BaselinePerS: 2000.4, ThroughputRecoveryMS: 2000, AttributedUntilMS: 11200,
			Anomalies: FaultAnomalies{Duplicated: 10, Reordered: 1, Indeterminate: 10}}},
		Notices:  []Notice{{AtMS: 10500, Kind: "rebalance", Detail: "group mqcheck-sub-0: partitions reassigned"}},
		Timeline: sampleTimeline(),
		Claims: []checker.Claim{
			{Name: "at-least-once", Verdict: "pass", Holds: &yes, Summary: "all 39990 acknowledged messages received by the subscription"},
			{Name: "ordered", Verdict: "fail", Holds: &no, Summary: "2 first deliveries arrived after a later message",
				Evidence: []checker.Example{
					{Anomaly: "reordered", Producer: 3, Seq: 17001, SeqEnd: 17001, After: 17004, Subscription: "sub-0",
						Domain: "mqcheck-x/2", At: start + 9_500_000_000, Fault: "restart all nodes (kill) at 8s"},
					{Anomaly: "reordered", Producer: 1, Seq: 5, SeqEnd: 5, After: 6, Subscription: "sub-0", Domain: "mqcheck-x/0",
						At: start + 12_000_000_000, Redelivered: true},
				}},
		},
	}
	r.Examples = map[string][]checker.Example{"reordered": r.Claims[1].Evidence}
	for i := range 10 {
		r.Examples["duplicated"] = append(r.Examples["duplicated"], checker.Example{Anomaly: "duplicated",
			Producer: uint32(i % 4), Seq: uint64(16000 + i), SeqEnd: uint64(16000 + i), Subscription: "sub-0",
			At: start + int64(10_800+i*40)*1e6})
	}
	// Checked by TestSampleThresholds.
	_ = ApplyThresholds(r, sampleThresholds)
	return r
}

func sampleRun() *Run {
	return &Run{Dir: "testdata", Results: sampleResults(),
		Scenario: []byte("name: sample\nduration: 20s\nbroker:\n  kind: kafka\nthresholds:\n  - end_to_end.p99 < 50ms\n")}
}
