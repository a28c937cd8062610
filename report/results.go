// Package report holds the results of a run (results.json, versioned) and
// renders them for people and machines; it never talks to a broker.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

// SchemaVersion of results.json; bumped on incompatible changes.
const SchemaVersion = 1

// Results is everything a run concluded. One record flows from the run to
// every renderer and to compare.
type Results struct {
	SchemaVersion int          `json:"schema_version"`
	Tool          string       `json:"tool"` // "mqcheck <version>"
	RunID         string       `json:"run_id"`
	Scenario      ScenarioInfo `json:"scenario"`
	Target        string       `json:"target"` // what was started or reached
	// Container is the container a container target started.
	Container *Container `json:"container,omitempty"`
	StartedAt string     `json:"started_at"`
	EndedAt   string     `json:"ended_at"`
	// LoadStartNS is when the load phase started (unix ns): timeline rows,
	// faults and evidence times are relative to it.
	LoadStartNS int64 `json:"load_start_unix_ns"`
	// Verdict: pass (every claim held), fail (one did not), unknown (not
	// decided: interrupted, broker unreachable, drain timed out).
	Verdict string `json:"verdict"`
	// Error is the infrastructure problem that stopped the run, if any.
	Error string `json:"error,omitempty"`
	// Partial marks a checkpoint written while the run was still going.
	Partial    bool                         `json:"partial,omitempty"`
	Drain      Drain                        `json:"drain"`
	Claims     []checker.Claim              `json:"claims"`
	Counts     checker.Counts               `json:"counts"`
	Latency    Latencies                    `json:"latency"`
	Throughput Throughput                   `json:"throughput"`
	Load       LoadResult                   `json:"load"`
	Faults     []Fault                      `json:"faults"`
	Notices    []Notice                     `json:"notices"`
	Timeline   []Second                     `json:"timeline"`
	Examples   map[string][]checker.Example `json:"examples"`
	// Thresholds are the scenario's thresholds as decided on this run.
	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
	// Connections are the clients' connects, from drivers that count
	// them (broker.ConnectionReporter).
	Connections *Connections `json:"connections,omitempty"`
	// Process is what the mqcheck process itself used.
	Process *Process `json:"process,omitempty"`
	// Worker is set on one worker's part of a run split across workers
	// (mqcheck run --worker I/N): its counts are its own producers' and
	// consumers', and its claims are left to mqcheck merge.
	Worker *Worker `json:"worker,omitempty"`
	// Merged is set on the run directory mqcheck merge made.
	Merged *Merged `json:"merged,omitempty"`
	// Processing is what the consumers' processing did (consumers.processing):
	// their own counts, beside the effects read back (counts.processed).
	Processing *Processing `json:"processing,omitempty"`
	// Backlog is set on a consume-only run (consumers.backlog): the
	// produce-only run whose messages it read, whose counts of what was
	// sent and acked are in this run's counts.
	Backlog *Backlog `json:"backlog,omitempty"`
}

// Backlog is the produce-only run a consume-only run read.
type Backlog struct {
	// Dir is the produce-only run's directory; RunID its run id (this
	// run's too: its consumers take that run's messages as their own).
	Dir   string `json:"dir"`
	RunID string `json:"run_id"`
	// Sent and Acked are what the produce-only run sent and had acked.
	Sent  uint64 `json:"sent"`
	Acked uint64 `json:"acked"`
	// EndedAt is when the produce-only run ended (RFC 3339).
	EndedAt string `json:"ended_at"`
	// LoadStartNS is when its load started (unix ns): the times of
	// evidence dated by the send (a lost message) count from it.
	LoadStartNS int64 `json:"load_start_unix_ns"`
	// Note says what the figures of a consume-only run mean: the consume
	// rate is throughput.received_per_s; end-to-end latency counts from
	// the intended send time in the produce-only run, so it includes the
	// time each message waited in the backlog.
	Note string `json:"note"`
}

// Worker is one worker's part of a run split across workers.
type Worker struct {
	Index int `json:"index"`
	Count int `json:"count"`
	// RunID is the id every worker was given (--run-id).
	RunID string `json:"run_id"`
	// ScenarioSHA256 is the hash of the resolved scenario.yaml: the
	// workers of one run ran the same scenario.
	ScenarioSHA256 string `json:"scenario_sha256"`
	FirstProducer  int    `json:"first_producer"`
	Producers      int    `json:"producers"`
	// FirstConsumer and Consumers are this worker's part of each
	// subscription's consumers.
	FirstConsumer int    `json:"first_consumer"`
	Consumers     int    `json:"consumers"`
	StartAt       string `json:"start_at,omitempty"`
	// MinOneWayNS[w] is the least time from a send on worker w's clock to
	// a receipt on this worker's (null: none of w's messages received
	// here): a delay plus the clocks' offset, which the merge bounds.
	MinOneWayNS []*int64 `json:"min_one_way_ns,omitempty"`
}

// Merged says what mqcheck merge combined.
type Merged struct {
	// Workers are the merged run directories, in worker order.
	Workers []MergedWorker `json:"workers"`
	// Notes say what the merge could not judge as one process would have
	// (ordering across workers, partial workers).
	Notes []string `json:"notes"`
	// Clocks are the workers' clock offsets to worker 0's, from the
	// messages they exchanged through the broker (an NTP exchange: the
	// least one-way time each way).
	Clocks []ClockOffset `json:"clocks,omitempty"`
	// EndToEndErrorUS bounds the error of an end-to-end latency of a
	// message received on another worker than its sender's: the widest
	// offset bound (-1: some offset unknown).
	EndToEndErrorUS int64 `json:"end_to_end_error_us"`
}

// ClockOffset is worker Worker's clock minus worker 0's: between
// OffsetUS-ErrorUS and OffsetUS+ErrorUS. Known is false when the two
// workers did not receive each other's messages.
type ClockOffset struct {
	Worker   int   `json:"worker"`
	Known    bool  `json:"known"`
	OffsetUS int64 `json:"offset_us"`
	ErrorUS  int64 `json:"error_us"`
}

// MergedWorker is one merged run directory.
type MergedWorker struct {
	Dir     string `json:"dir"`
	Index   int    `json:"index"`
	Verdict string `json:"verdict"`
	Partial bool   `json:"partial,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Processing is the consumers' side of an idempotent-consumer run.
type Processing struct {
	Store string `json:"store"`
	// Applied: side effects the consumers made; Skipped: deliveries the
	// dedupe store knew; Stopped: processing a crash cut after the dedupe
	// step; Errors: deliveries the store failed (given back to the
	// broker), FirstError the first.
	Applied    uint64 `json:"applied"`
	Skipped    uint64 `json:"skipped"`
	Stopped    uint64 `json:"stopped"`
	Errors     uint64 `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// ReadBackError: the effects could not be read back from the store
	// (effectively-once is then unknown).
	ReadBackError string `json:"read_back_error,omitempty"`
}

// Connections are a run's client connects: the first of every producer
// and consumer and each reconnect.
type Connections struct {
	OK     int64 `json:"ok"`
	Failed int64 `json:"failed"`
	// Connect times of the successful ones, from the dial to the
	// broker's answer.
	P50US int64 `json:"connect_p50_us"`
	P99US int64 `json:"connect_p99_us"`
	MaxUS int64 `json:"connect_max_us"`
}

// Process is what the mqcheck process used over the run.
type Process struct {
	// PeakRSSBytes is the most memory it held resident (ru_maxrss): its
	// clients, the checker, and an embedded broker's server when there
	// is one.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
}

// Measured reports whether the load phase started: when it did not (the
// broker was unreachable, provisioning failed), nothing was sent or
// received and every figure of the results is unmeasured, not zero.
func (r *Results) Measured() bool { return r.LoadStartNS != 0 }

// NotStarted is the summary of every claim of a run whose load never
// started (see Undecided).
const NotStarted = "not decided: no message was sent (the load did not start)"

// Undecided lists claims as unknown, each with why: a run's claims before
// anything decided them.
func Undecided(claims []string, why string) []checker.Claim {
	out := make([]checker.Claim, 0, len(claims))
	for _, c := range claims {
		out = append(out, checker.Claim{Name: c, Verdict: checker.Unknown, Summary: why, Evidence: []checker.Example{}})
	}
	return out
}

// askedLoadLine says what load the scenario asked for: "20.0s at 4000/s: 4
// producers, 4 consumers × 1 subscription, 1KiB messages".
func askedLoadLine(s ScenarioInfo, rate string) string {
	return fmt.Sprintf("%s at %s: %s, %s × %s, %s messages", fmtMS(s.DurationMS), rate, plural.Of(s.Producers, "producer"),
		plural.Of(s.Consumers, "consumer"), plural.Of(s.Subscriptions, "subscription"), fmtBytes(s.MessageSize))
}

// EvidenceLine renders one example of r as Evidence does. In a
// consume-only run, an example dated by its send (a lost message:
// approximate) happened in the produce-only run, and counts from that
// run's start.
func (r *Results) EvidenceLine(x checker.Example) string {
	if b := r.Backlog; b != nil && x.Approximate && b.LoadStartNS != 0 {
		return Evidence(x, b.LoadStartNS) + " (time in the produce-only run)"
	}
	return Evidence(x, r.LoadStartNS)
}

// runLoadLine is the run's load as asked ("load 10s at 5k/s: ..."), or
// for a consume-only run the backlog it read.
func runLoadLine(r *Results) string {
	s := r.Scenario
	if b := r.Backlog; b != nil {
		return fmt.Sprintf("consume-only: %s × %s reading the backlog of run %s (%s, ended %s: %s sent, %s acked)",
			plural.Of(s.Consumers, "consumer"), plural.Of(s.Subscriptions, "subscription"), b.RunID, b.Dir, b.EndedAt,
			fmtN(b.Sent), fmtN(b.Acked))
	}
	return "load " + askedLoadLine(s, s.Rate)
}

// targetLine is what was started or reached, or that nothing was.
func targetLine(r *Results) string {
	if r.Target != "" {
		return r.Target
	}
	return r.Scenario.Broker + ": no target opened"
}

// Container identifies the image a container target ran, and how long
// the broker took to come up in it.
type Container struct {
	Image   string `json:"image"`
	ImageID string `json:"image_id"`
	// Digest is the image's repository digest; "" for a locally built
	// image never pushed or pulled.
	Digest string `json:"digest,omitempty"`
	ID     string `json:"id"`
	// StartedNS is when mqcheck asked the engine for the container (unix
	// ns); ReadyMS from then until the broker answered its protocol, and
	// FirstAckMS until the run's first acknowledged publish (absent when
	// none was).
	StartedNS  int64 `json:"started_unix_ns"`
	ReadyMS    int64 `json:"ready_ms"`
	FirstAckMS int64 `json:"first_ack_ms,omitempty"`
}

// ScenarioInfo identifies the scenario of a run.
type ScenarioInfo struct {
	Name          string   `json:"name"`
	Description   string   `json:"description,omitempty"`
	Broker        string   `json:"broker"`
	Seed          int64    `json:"seed"`
	Producers     int      `json:"producers"`
	Consumers     int      `json:"consumers"`
	Subscriptions int      `json:"subscriptions"`
	Rate          string   `json:"rate"`
	MessageSize   int      `json:"message_size"`
	DurationMS    int64    `json:"duration_ms"`
	Claims        []string `json:"claims"`
	// Checksum is producers.checksum when it is header: the run's
	// payloads past their header were not checked for corruption
	// (counts.payload_unchecked says how many deliveries). Absent: whole
	// payloads.
	Checksum string `json:"checksum,omitempty"`
}

// Drain says how the run's drain ended.
type Drain struct {
	Complete   bool   `json:"complete"`
	Reason     string `json:"reason"`
	DurationMS int64  `json:"duration_ms"`
	// SettleMS is how long consumption went on after every acknowledged
	// message had arrived (or the broker had nothing left), to see
	// duplicates that come a moment later.
	SettleMS int64 `json:"settle_ms"`
}

// Latencies are the run's latency summaries, in microseconds. Publish
// latencies count from the intended send time, so a stalled broker shows
// as latency rather than as a lower rate; each outcome has its own, and
// Publish, the headline, is all of them together (the worst included).
type Latencies struct {
	// Publish: every intended send of the load, whatever became of it:
	// acked, failed, indeterminate, aborted, or never sent (latency so
	// far, to the end of the load).
	Publish Latency `json:"publish"`
	// PublishAcked: intended send → ack, what the user waits.
	PublishAcked Latency `json:"publish_acked"`
	// PublishFailed: intended send → the broker's refusal.
	PublishFailed Latency `json:"publish_failed"`
	// PublishIndeterminate: intended send → timeout or lost connection.
	PublishIndeterminate Latency `json:"publish_indeterminate"`
	// PublishNotSent: intended send → end of the load, for sends the load
	// intended and never made (counts.not_sent).
	PublishNotSent Latency `json:"publish_not_sent"`
	// PublishAborted: intended send → the broker's answer that the
	// message's transaction aborted (counts.aborted).
	PublishAborted Latency `json:"publish_aborted"`
	// SendToAck: actual send → ack, what the broker costs.
	SendToAck Latency `json:"send_to_ack"`
	// EndToEnd: intended send → received, on one monotonic clock.
	EndToEnd Latency `json:"end_to_end"`
}

// LatencySeries is one latency series of a run, by its names.
type LatencySeries struct {
	Name  string // in results.json and thresholds: publish_acked
	Label string // for people: publish (acked)
	File  string // latency/<File>.hlog and .hgrm: publish-acked
	Latency
}

// Series lists every latency series in a fixed order, the headline
// publish first and end-to-end last.
func (l *Latencies) Series() []LatencySeries {
	return []LatencySeries{
		{"publish", "publish", "publish", l.Publish},
		{"publish_acked", "publish (acked)", "publish-acked", l.PublishAcked},
		{"publish_failed", "publish (failed)", "publish-failed", l.PublishFailed},
		{"publish_indeterminate", "publish (indeterminate)", "publish-indeterminate", l.PublishIndeterminate},
		{"publish_not_sent", "publish (not sent)", "publish-not-sent", l.PublishNotSent},
		{"publish_aborted", "publish (aborted)", "publish-aborted", l.PublishAborted},
		{"send_to_ack", "send → ack", "send-to-ack", l.SendToAck},
		{"end_to_end", "end-to-end", "end-to-end", l.EndToEnd},
	}
}

// seriesPtr returns the field of l named name (results.json), or nil.
func (l *Latencies) seriesPtr(name string) *Latency {
	switch name {
	case "publish":
		return &l.Publish
	case "publish_acked":
		return &l.PublishAcked
	case "publish_failed":
		return &l.PublishFailed
	case "publish_indeterminate":
		return &l.PublishIndeterminate
	case "publish_not_sent":
		return &l.PublishNotSent
	case "publish_aborted":
		return &l.PublishAborted
	case "send_to_ack":
		return &l.SendToAck
	case "end_to_end":
		return &l.EndToEnd
	}
	return nil
}

// Set puts a summary under its results.json name; false for an unknown one.
func (l *Latencies) Set(name string, v Latency) bool {
	p := l.seriesPtr(name)
	if p != nil {
		*p = v
	}
	return p != nil
}

// Get returns the series named name (results.json); false for an unknown one.
func (l *Latencies) Get(name string) (Latency, bool) {
	if p := l.seriesPtr(name); p != nil {
		return *p, true
	}
	return Latency{}, false
}

// Latency summarises one histogram.
type Latency struct {
	Count  int64   `json:"count"`
	MeanUS float64 `json:"mean_us"`
	P50US  int64   `json:"p50_us"`
	P90US  int64   `json:"p90_us"`
	P99US  int64   `json:"p99_us"`
	P999US int64   `json:"p999_us"`
	MaxUS  int64   `json:"max_us"`
	// Negative counts samples whose end came before their start on the
	// clock (end-to-end across clocks that disagree): left out of the
	// histogram, never clamped into it.
	Negative int64 `json:"negative,omitempty"`
	// HDR is the whole-run histogram (microseconds) in HdrHistogram's V2
	// compressed encoding, base64: compare and the reports read every
	// percentile from it, and it equals the merge of the .hlog intervals.
	HDR string `json:"hdr,omitempty"`
}

// Summarize turns a histogram into a Latency.
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h == nil || h.TotalCount() == 0 {
		return Latency{}
	}
	// An encoding error leaves HDR empty: the summary still stands, only
	// the finer percentiles are lost.
	enc, _ := EncodeHistogram(h)
	return Latency{Count: h.TotalCount(), MeanUS: h.Mean(), P50US: h.ValueAtQuantile(50),
		P90US: h.ValueAtQuantile(90), P99US: h.ValueAtQuantile(99), P999US: h.ValueAtQuantile(99.9),
		MaxUS: h.Max(), HDR: enc}
}

// Throughput over the load phase, in messages per second.
type Throughput struct {
	SentPerS     float64 `json:"sent_per_s"`
	AckedPerS    float64 `json:"acked_per_s"`
	ReceivedPerS float64 `json:"received_per_s"`
}

// Fault is one fault window of the run, and what it did.
type Fault struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Schedule says which scenario entry the fault comes from and how it
	// was scheduled ("faults.1: random (seed 42) between 5s and 15s, 2 of
	// 3"); PlannedMS is when the schedule put it. The resolved schedule
	// depends only on the scenario and its seed.
	Schedule string `json:"schedule,omitempty"`
	// Worker is the worker that applied the fault, in a split run's
	// workers and in their merge.
	Worker *int `json:"worker,omitempty"`
	// Elsewhere marks, in a worker's results, a fault another worker
	// (Worker) applied: this worker knew it from the shared schedule and
	// did nothing, its window is the planned one, and its figures are
	// what this worker saw meanwhile.
	Elsewhere bool  `json:"elsewhere,omitempty"`
	PlannedMS int64 `json:"planned_ms"`
	StartMS   int64 `json:"start_ms"` // since the start of the load phase
	EndMS     int64 `json:"end_ms"`
	// RecoveryMS: from the end of the fault to the first successful publish
	// and the first delivery after it (-1: none seen).
	PublishRecoveryMS int64 `json:"publish_recovery_ms"`
	DeliverRecoveryMS int64 `json:"deliver_recovery_ms"`
	// NoPublishMS and NoDeliveryMS: the unavailability, the longest
	// stretch from the fault's start to that side's recovery with no
	// successful publish (no delivery), sampled every 20ms.
	NoPublishMS  int64 `json:"no_publish_ms"`
	NoDeliveryMS int64 `json:"no_delivery_ms"`
	// BaselinePerS is the acked rate before the fault (the mean of up to 5
	// timeline seconds before its start that no other fault touched, at
	// most the scenario's fixed rate; that rate when other faults covered
	// them all), and ThroughputRecoveryMS the time from the heal to the end
	// of the first timeline second whose acked rate was back to 90% of it
	// (1 s resolution; -1: not within the load phase, or no baseline).
	BaselinePerS         float64 `json:"baseline_acked_per_s"`
	ThroughputRecoveryMS int64   `json:"throughput_recovery_ms"`
	// AttributedUntilMS ends the span anomalies are attributed to the
	// fault over: its window and its recovery.
	AttributedUntilMS int64          `json:"attributed_until_ms"`
	Anomalies         FaultAnomalies `json:"anomalies"`
	Detail            string         `json:"detail,omitempty"`
	Error             string         `json:"error,omitempty"`
}

// FaultAnomalies count the anomalies whose send (lost) or receipt or
// outcome (duplicated, reordered, indeterminate) fell inside a fault's
// window or recovery. They are approximate at the edges (see the runner's
// attribution); overlapping faults may count the same anomaly.
type FaultAnomalies struct {
	// Lost: acked, never received, sent in the span (only after a complete
	// drain; send times are interpolated from every 1024th message's, in
	// 100ms buckets).
	Lost uint64 `json:"lost"`
	// Duplicated, Reordered, Indeterminate: the checker's counts between
	// the fault's start and the end of its recovery (workers hand events
	// over within 250ms, so an edge can be that late).
	Duplicated    uint64 `json:"duplicated"`
	Reordered     uint64 `json:"reordered"`
	Indeterminate uint64 `json:"indeterminate"`
}

// Notice is a timeline event reported by a driver (rebalance, reconnect).
type Notice struct {
	AtMS   int64  `json:"at_ms"`
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
	// Warning notices are shown in the summary too.
	Warning bool `json:"warning,omitempty"`
}

// Second is one row of the timeline.
type Second struct {
	// T labels the row: it is cut T seconds after the start of the load
	// phase, and covers (T-1, T]; a row cut late (the machine held the
	// timeline up) covers more, and the next one less. Rows are taken on
	// time however slow the observers (progress, metrics, latency logs):
	// none is skipped, and labels go 1, 2, 3, ... without a gap.
	T int64 `json:"t"`
	// TargetPerS is the rate the load intended over the row (0: closed
	// loop, or after the load).
	TargetPerS   float64 `json:"target_per_s,omitempty"`
	SentPerS     float64 `json:"sent_per_s"`
	AckedPerS    float64 `json:"acked_per_s"`
	ReceivedPerS float64 `json:"received_per_s"`
	InFlight     int64   `json:"in_flight"`
	Lag          int64   `json:"lag"` // -1: the driver cannot tell
	// Anomalies so far: duplicated, reordered, corrupted and unexpected.
	Anomalies uint64 `json:"anomalies"`
	// Duplicated, Reordered, Corrupted, Unexpected and Indeterminate
	// happened within this second (as the collector saw them: up to 250ms
	// late); the first four add up to Anomalies over the rows so far.
	Duplicated    uint64 `json:"duplicated"`
	Reordered     uint64 `json:"reordered"`
	Corrupted     uint64 `json:"corrupted"`
	Unexpected    uint64 `json:"unexpected"`
	Indeterminate uint64 `json:"indeterminate"`
	PublishP99US  int64  `json:"publish_p99_us"`
	E2EP99US      int64  `json:"end_to_end_p99_us"`
	// Faults names every fault active at any time within this second.
	Faults []string `json:"faults,omitempty"`
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFile writes r to path atomically (temp file and rename), so a reader
// or a crash never sees half a file.
func WriteFile(path string, r *Results) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.json")
	if err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteJSON(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("writing results: %w", err)
	}
	// CreateTemp makes the file 0600; results.json is read like the rest
	// of the run directory (CI artifacts, a colleague's report).
	if err := errors.Join(tmp.Chmod(0o644), tmp.Close()); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// ReadFile reads a results.json.
func ReadFile(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s has schema version %d; this mqcheck reads up to %d", path, r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}
