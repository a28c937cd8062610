package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mqcheck/mqcheck/checker"
)

// Text writes the terminal summary of a run.
func Text(w io.Writer, r *Results) error {
	ew := &errWriter{w: w}
	s := r.Scenario
	ew.printf("mqcheck %s · %s · run %s · seed %d\n", s.Name, targetLine(r), r.RunID, s.Seed)
	ew.printf("%s\n", runLoadLine(r))
	splitLines(ew, r)
	if r.Measured() {
		ew.printf("drain %s\n", drainLine(r.Drain, "INCOMPLETE"))
	}
	if r.Error != "" {
		ew.printf("error: %s\n", r.Error)
	}
	warnings(ew, r.Notices)
	for _, f := range r.Faults {
		line := fmt.Sprintf("fault: %s at %s for %s", faultName(f), fmtMS(f.StartMS), fmtMS(f.EndMS-f.StartMS))
		if f.PublishRecoveryMS >= 0 {
			line += fmt.Sprintf("; publishing recovered %s after", fmtMS(f.PublishRecoveryMS))
		}
		if f.DeliverRecoveryMS >= 0 {
			line += fmt.Sprintf("; delivery recovered %s after", fmtMS(f.DeliverRecoveryMS))
		}
		if f.Error != "" {
			line += "; error: " + f.Error
		}
		ew.printf("%s\n", line)
		if attributed(f) {
			ew.printf("  schedule %s\n", faultSchedule(f))
			if f.Detail != "" {
				ew.printf("  %s\n", f.Detail)
			}
			ew.printf("  unavailable: %s; throughput %s\n", faultUnavailability(f), faultThroughput(f))
			ew.printf("  anomalies from %s to %s (window and recovery): %s\n", fmtMS(f.StartMS), fmtMS(f.AttributedUntilMS), faultAnomalies(f))
		}
	}
	if !r.Measured() {
		ew.printf("\nnothing measured: the run stopped before the load started\n")
		return textClaims(ew, r)
	}
	c := r.Counts
	ew.printf("\nmessages\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  sent\t%s\tacked\t%s\tfailed\t%s\tindeterminate\t%s\n",
		fmtN(c.Sent), fmtN(c.Acked), fmtN(c.Failed), fmtN(c.Indeterminate))
	fmt.Fprintf(tw, "  received\t%s\tunique\t%s\trecovered\t%s\tphantom\t%s\n",
		fmtN(c.Received), fmtN(c.Unique), fmtN(c.Recovered), fmtN(c.Phantom))
	fmt.Fprintf(tw, "  lost\t%s\tduplicated\t%s\treordered\t%s\tcorrupted\t%s\n",
		fmtN(c.Lost), fmtN(c.Duplicated), fmtN(c.Reordered), fmtCorrupted(&c))
	fmt.Fprintf(tw, "  unexpected\t%s\tforeign\t%s\tunaccounted\t%s\tdead-lettered\t%s\n",
		fmtN(c.Unexpected), fmtN(c.Foreign), fmtN(c.Unaccounted), fmtN(c.DeadLettered))
	if c.NotSent > 0 {
		// Due within the load and never made: the broker held every
		// in-flight slot to the end.
		fmt.Fprintf(tw, "  not sent\t%s\t\t\t\t\t\t\t\n", fmtN(c.NotSent))
	}
	if c.Aborted > 0 || c.AbortedRead > 0 {
		// Transactions: aborted on purpose (or by a fault), and how many
		// of those a consumer saw.
		fmt.Fprintf(tw, "  aborted\t%s\taborted read\t%s\t\t\t\t\n", fmtN(c.Aborted), fmtN(c.AbortedRead))
	}
	if c.Rejected > 0 || c.DuplicatedRedelivered > 0 {
		// Only where the run had them: most runs fail nothing on purpose.
		fmt.Fprintf(tw, "  rejected\t%s\tredelivered\t%s\t\t\t\t\n", fmtN(c.Rejected), fmtN(c.DuplicatedRedelivered))
	}
	_ = tw.Flush()
	if c.Duplicated > 0 {
		// Where the broker gives storage positions, they tell a producer
		// or broker that stored a message twice from a consumer re-read.
		ew.printf("  duplicates: %s\n", c.DuplicateKinds())
	}
	if rows := layerRows(r); rows != nil {
		ew.printf("\nreceived and processed (side effects read back from the store)\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  \treceived\tprocessed\t\n")
		for _, row := range rows {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", row.Name, fmtN(row.Received), fmtN(row.Processed))
		}
		_ = tw.Flush()
	}
	if line := processingLine(r.Processing); line != "" {
		ew.printf("%s\n", line)
	}
	t := r.Throughput
	if r.Backlog != nil {
		// Sent and acked are the backlog's, published by another run.
		ew.printf("throughput  consumed %s/s (received, from the consumers' start to the last receipt)\n", fmtN(uint64(t.ReceivedPerS+0.5)))
	} else {
		ew.printf("throughput  sent %s/s  acked %s/s  received %s/s\n",
			fmtN(uint64(t.SentPerS+0.5)), fmtN(uint64(t.AckedPerS+0.5)), fmtN(uint64(t.ReceivedPerS+0.5)))
	}
	if line := loadLine(r.Load); line != "" {
		ew.printf("%s\n", line)
	}
	for _, n := range r.Load.Notices {
		ew.printf("notice: %s\n", n)
	}
	if c := r.Connections; c != nil {
		ew.printf("connections: %s ok, %s failed, connect p50/p99/max %s/%s/%s\n", fmtN(uint64(c.OK)), fmtN(uint64(c.Failed)),
			fmtUS(c.P50US), fmtUS(c.P99US), fmtUS(c.MaxUS))
	}
	if p := r.Process; p != nil && p.PeakRSSBytes > 0 {
		ew.printf("mqcheck peak RSS: %.0fMiB\n", float64(p.PeakRSSBytes)/(1<<20))
	}
	if fm := r.Load.FindMax; fm != nil {
		ew.printf("\nfind-max (%s): highest sustained rate %s/s; %s\n", fm.Bound, fmtN(uint64(fm.HighestPerS+0.5)), fm.Reason)
		for _, st := range fm.Steps {
			ew.printf("  %s %s–%s  target %s/s  achieved %s/s  %s\n", map[bool]string{true: "✔", false: "✘"}[st.Holds],
				fmtMS(st.StartMS), fmtMS(st.EndMS), fmtN(uint64(st.TargetPerS+0.5)), fmtN(uint64(st.AchievedPerS+0.5)), fmtUS(st.Value))
		}
	}

	ew.printf("\nlatency (from the intended send time; send → ack from the actual send)\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  \tcount\tp50\tp90\tp99\tp99.9\tmax\t\n")
	for _, l := range shownSeries(r.Latency) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", latencyLabel(r, l), fmtN(uint64(l.Count)),
			fmtUS(l.P50US), fmtUS(l.P90US), fmtUS(l.P99US), fmtUS(l.P999US), fmtUS(l.MaxUS))
	}
	_ = tw.Flush()
	if r.Backlog != nil {
		ew.printf("  end-to-end counts from the send in the produce-only run: it includes the time each message waited in the backlog\n")
	}
	if line := clockLine(r); line != "" {
		ew.printf("  %s\n", line)
	}
	if n := r.Latency.EndToEnd.Negative; n > 0 {
		ew.printf("  %s end-to-end samples were negative (received before they were due: clocks disagree), left out\n", fmtN(uint64(n)))
	}
	return textClaims(ew, r)
}

// textClaims writes the claims, thresholds and verdict that end the summary.
func textClaims(ew *errWriter, r *Results) error {
	ew.printf("\nclaims\n")
	if len(r.Claims) == 0 {
		ew.printf("  none: a produce-only run (no consumers); the verdict is the thresholds'\n")
	}
	for _, cl := range r.Claims {
		ew.printf("  %s %-14s %-7s %s\n", mark(cl.Verdict), cl.Name, cl.Verdict, cl.Summary)
		if c := cl.Counts; c != nil {
			// A scoped claim's part of the run (MQTT's QoS per producer).
			ew.printf("      its messages: sent %d, acked %d, received %d unique, lost %d, duplicated %d\n",
				c.Sent, c.Acked, c.Unique, c.Lost, c.Duplicated)
		}
		for i, x := range cl.Evidence {
			if i == 3 {
				ew.printf("      … %d more in results.json\n", len(cl.Evidence)-3)
				break
			}
			ew.printf("      %s\n", r.EvidenceLine(x))
		}
	}
	if len(r.Thresholds) > 0 {
		ew.printf("\nthresholds\n")
		for _, t := range r.Thresholds {
			ew.printf("  %s %-24s %-7s %s\n", mark(t.Verdict), t.Expr, t.Verdict, t.Summary)
		}
	}
	ew.printf("\nverdict: %s\n", strings.ToUpper(r.Verdict))
	return ew.err
}

// maxWarnings is how many warning notices the summary shows.
const maxWarnings = 5

// warnings prints the warning notices (a client that kept failing to
// reconnect), the first maxWarnings of them.
func warnings(ew *errWriter, ns []Notice) {
	n := 0
	for _, x := range ns {
		if !x.Warning {
			continue
		}
		if n == maxWarnings {
			ew.printf("  … more warnings in results.json (notices)\n")
			return
		}
		n++
		ew.printf("warning at %s: %s\n", fmtMS(x.AtMS), x.Detail)
	}
}

// drainLine says how the drain ended ("complete in 1.2s: every acknowledged
// message was received"); incomplete is the word for a drain that was not.
func drainLine(d Drain, incomplete string) string {
	state := "complete"
	if !d.Complete {
		state = incomplete
	}
	line := state + " in " + fmtMS(d.DurationMS)
	if d.Reason != "" {
		line += ": " + d.Reason
	}
	return line
}

// shownSeries are the latency series a summary shows: publish and
// end-to-end always, the others when they have samples (a run without
// failed publishes has no failed line).
func shownSeries(l Latencies) []LatencySeries {
	var out []LatencySeries
	for _, s := range l.Series() {
		if s.Count > 0 || s.Name == "publish" || s.Name == "end_to_end" {
			out = append(out, s)
		}
	}
	return out
}

// mark is a verdict's sign in the terminal.
func mark(verdict string) string {
	switch verdict {
	case checker.Pass:
		return "✔"
	case checker.Fail:
		return "✘"
	}
	return "?"
}

// Evidence renders one example as a line a person can act on: which
// producer and sequence numbers, where, when (since the load started), and
// the fault active then.
func Evidence(x checker.Example, loadStartNS int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: producer %d seq %d", x.Anomaly, x.Producer, x.Seq)
	if x.SeqEnd > x.Seq {
		fmt.Fprintf(&b, "-%d", x.SeqEnd)
	}
	if x.After > 0 || x.Anomaly == "reordered" {
		fmt.Fprintf(&b, " after seq %d", x.After)
	}
	if x.Subscription != "" {
		fmt.Fprintf(&b, " in %s", x.Subscription)
	}
	if x.Domain != "" {
		fmt.Fprintf(&b, " at %s", x.Domain)
	}
	if x.At != 0 && loadStartNS != 0 {
		approx := ""
		if x.Approximate {
			approx = "~"
		}
		fmt.Fprintf(&b, ", %s%s", approx, fmtMS((x.At-loadStartNS)/1e6))
	}
	if x.Redelivered {
		b.WriteString(", flagged redelivered")
	}
	if x.Fault != "" {
		fmt.Fprintf(&b, ", during %s", x.Fault)
	}
	if x.Detail != "" {
		fmt.Fprintf(&b, " (%s)", x.Detail)
	}
	return b.String()
}

// fmtCorrupted is the corrupted count, and when some deliveries' checksums
// covered their header alone (producers.checksum: header), how many of them
// had their payload go unchecked: a bare 0 would claim payloads arrived
// intact that nothing checked.
func fmtCorrupted(c *checker.Counts) string {
	switch {
	case c.PayloadUnchecked == 0:
		return fmtN(c.Corrupted)
	case c.PayloadUnchecked >= c.Received:
		return fmtN(c.Corrupted) + " (headers only: payloads not checked)"
	}
	return fmtN(c.Corrupted) + " (payloads of " + fmtN(c.PayloadUnchecked) + " not checked)"
}

func fmtN(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// FormatMicros renders a latency in microseconds compactly (850µs,
// 9.8ms, 3.54s; "-" for none), as every mqcheck display shows it.
func FormatMicros(us int64) string { return fmtUS(us) }

func fmtUS(us int64) string {
	switch {
	case us == 0:
		return "-"
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.2fs", float64(us)/1e6)
}

func fmtMS(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1e3)
}

func fmtBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

// splitLines says what part of a split run the results are: one worker's
// (its claims are the merge's), or the merge of every worker's.
func splitLines(ew *errWriter, r *Results) {
	if w := r.Worker; w != nil {
		ew.printf("worker %d of %d (run id %s): producers %d-%d, %d consumers per subscription; claims are decided by mqcheck merge\n",
			w.Index, w.Count, w.RunID, w.FirstProducer, w.FirstProducer+w.Producers-1, w.Consumers)
	}
	if m := r.Merged; m != nil {
		ew.printf("merged from %d workers\n", len(m.Workers))
		for _, n := range m.Notes {
			ew.printf("  note: %s\n", n)
		}
	}
}
