package report

import (
	"io"
	"strings"

	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/internal/plural"
)

// Markdown writes a run's summary in GitHub-flavoured Markdown, fit for a CI
// job summary ($GITHUB_STEP_SUMMARY): verdict, claims, thresholds, counts,
// latency and faults. Text from brokers and scenarios is escaped.
func Markdown(w io.Writer, r *Results) error {
	ew := &errWriter{w: w}
	s := r.Scenario
	ew.printf("## %s mqcheck %s: %s\n\n", icon(r.Verdict), md(s.Name), strings.ToUpper(r.Verdict))
	ew.printf("%s · %s · run `%s` · seed %d  \n", md(s.Broker), md(targetLine(r)), md(r.RunID), s.Seed)
	ew.printf("%s  \n", md(runLoadLine(r)))
	if r.Measured() {
		d := r.Drain
		d.Reason = md(d.Reason)
		ew.printf("drain %s\n\n", drainLine(d, "**incomplete**"))
	} else {
		ew.printf("nothing measured: the run stopped before the load started\n\n")
	}
	if r.Error != "" {
		ew.printf("> **error:** %s\n\n", md(r.Error))
	}

	ew.printf("| claim | verdict | evidence |\n|---|---|---|\n")
	for _, c := range r.Claims {
		ew.printf("| %s | %s %s | %s |\n", md(c.Name), icon(c.Verdict), c.Verdict, md(c.Summary))
	}
	for _, t := range r.Thresholds {
		ew.printf("| %s | %s %s | %s |\n", md(t.Expr), icon(t.Verdict), t.Verdict, md(t.Summary))
	}
	ew.printf("\n")
	for _, c := range r.Claims {
		if len(c.Evidence) == 0 || c.Verdict != checker.Fail {
			continue
		}
		ew.printf("<details><summary>%s: %s</summary>\n\n", md(c.Name), plural.Of(len(c.Evidence), "example"))
		for _, x := range c.Evidence {
			ew.printf("- %s\n", md(r.EvidenceLine(x)))
		}
		ew.printf("\n</details>\n\n")
	}

	if !r.Measured() {
		return ew.err
	}
	c := r.Counts
	ew.printf("### Messages\n\n")
	ew.printf("| sent | not sent | acked | failed | indeterminate | recovered | phantom |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	ew.printf("| %s | %s | %s | %s | %s | %s | %s |\n\n", fmtN(c.Sent), fmtN(c.NotSent), fmtN(c.Acked), fmtN(c.Failed),
		fmtN(c.Indeterminate), fmtN(c.Recovered), fmtN(c.Phantom))
	ew.printf("| received | unique | lost | unaccounted | duplicated | reordered | corrupted | unexpected | dead-lettered |\n")
	ew.printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ew.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n\n", fmtN(c.Received), fmtN(c.Unique),
		fmtN(c.Lost), fmtN(c.Unaccounted), fmtN(c.Duplicated), fmtN(c.Reordered), fmtCorrupted(&c),
		fmtN(c.Unexpected), fmtN(c.DeadLettered))
	if c.Duplicated > 0 {
		ew.printf("Duplicates: %s.\n\n", md(c.DuplicateKinds()))
	}
	if c.Aborted > 0 || c.AbortedRead > 0 {
		ew.printf("Transactions: %s messages aborted, %s aborted reads.\n\n", fmtN(c.Aborted), fmtN(c.AbortedRead))
	}
	if rows := layerRows(r); rows != nil {
		ew.printf("| | received | processed (side effects read back from the store) |\n|---|---:|---:|\n")
		for _, row := range rows {
			ew.printf("| %s | %s | %s |\n", md(row.Name), fmtN(row.Received), fmtN(row.Processed))
		}
		ew.printf("\n%s.\n\n", md(processingLine(r.Processing)))
	}

	t := r.Throughput
	ew.printf("### Latency and throughput\n\n")
	ew.printf("| | count | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range shownSeries(r.Latency) {
		ew.printf("| %s | %s | %s | %s | %s | %s | %s |\n", latencyLabel(r, l), fmtN(uint64(l.Count)),
			fmtUS(l.P50US), fmtUS(l.P90US), fmtUS(l.P99US), fmtUS(l.P999US), fmtUS(l.MaxUS))
	}
	if line := clockLine(r); line != "" {
		ew.printf("\n%s\n", md(line))
	}
	ew.printf("\nthroughput: sent %s/s, acked %s/s, received %s/s\n", fmtN(uint64(t.SentPerS+0.5)),
		fmtN(uint64(t.AckedPerS+0.5)), fmtN(uint64(t.ReceivedPerS+0.5)))
	if line := loadLine(r.Load); line != "" {
		ew.printf("\n%s\n", md(line))
	}
	for _, n := range r.Load.Notices {
		ew.printf("\n> **notice:** %s\n", md(n))
	}
	if fm := r.Load.FindMax; fm != nil {
		ew.printf("\n**find-max** (%s): highest sustained rate %s/s; %s\n\n", md(fm.Bound), fmtN(uint64(fm.HighestPerS+0.5)), md(fm.Reason))
		ew.printf("| step | target | achieved | value | holds |\n|---|---:|---:|---:|---|\n")
		for _, st := range fm.Steps {
			ew.printf("| %s–%s | %s/s | %s/s | %s | %s |\n", fmtMS(st.StartMS), fmtMS(st.EndMS), fmtN(uint64(st.TargetPerS+0.5)),
				fmtN(uint64(st.AchievedPerS+0.5)), fmtUS(st.Value), icon(map[bool]string{true: checker.Pass, false: checker.Fail}[st.Holds]))
		}
	}

	if len(r.Faults) > 0 {
		ew.printf("\n### Faults\n\n| fault | at | for | publishing recovered | delivery recovered | unavailable | throughput | in its window and recovery |\n|---|---:|---:|---:|---:|---|---|---|\n")
		for _, f := range r.Faults {
			name := md(faultName(f))
			if s := faultSchedule(f); s != "" {
				name += " (" + md(s) + ")"
			}
			if f.Error != "" {
				name += " (error: " + md(f.Error) + ")"
			}
			ew.printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, fmtMS(f.StartMS), fmtMS(f.EndMS-f.StartMS),
				recovery(f.PublishRecoveryMS), recovery(f.DeliverRecoveryMS), md(faultUnavailability(f)),
				md(faultThroughput(f)), md(faultAnomalies(f)))
		}
	}
	return ew.err
}

// MarkdownRuns writes one table comparing several runs (the same scenario
// on different brokers): one row per run.
func MarkdownRuns(w io.Writer, runs []*Run) error {
	ew := &errWriter{w: w}
	ew.printf("## mqcheck: %d runs side by side\n\n", len(runs))
	ew.printf("| run | broker | verdict | claims | sent/s | received/s | publish p99 | e2e p50 | e2e p99 | e2e p99.9 | e2e max | lost | duplicated | reordered |\n")
	ew.printf("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	labels := runLabels(runs, false)
	for i, run := range runs {
		r := run.Results
		var claims []string
		for _, c := range r.Claims {
			claims = append(claims, icon(c.Verdict)+" "+md(c.Name))
		}
		for _, t := range r.Thresholds {
			claims = append(claims, icon(t.Verdict)+" "+md(t.Expr))
		}
		e2e := r.Latency.EndToEnd
		ew.printf("| %s | %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			md(labels[i]), md(r.Scenario.Broker+" ("+r.Target+")"), icon(r.Verdict), r.Verdict,
			strings.Join(claims, "<br>"), fmtN(uint64(r.Throughput.SentPerS+0.5)), fmtN(uint64(r.Throughput.ReceivedPerS+0.5)),
			fmtUS(r.Latency.Publish.P99US), fmtUS(e2e.P50US), fmtUS(e2e.P99US), fmtUS(e2e.P999US), fmtUS(e2e.MaxUS),
			fmtN(r.Counts.Lost), fmtN(r.Counts.Duplicated), fmtN(r.Counts.Reordered))
	}
	return ew.err
}

func icon(verdict string) string {
	switch verdict {
	case checker.Pass:
		return "✅"
	case checker.Fail:
		return "❌"
	}
	return "⚠️"
}

func recovery(ms int64) string {
	if ms < 0 {
		return "not seen"
	}
	return fmtMS(ms) + " after"
}

// mdEscaper neutralises what Markdown or the HTML GitHub allows in it would
// read as markup, and keeps a value on one table row.
var mdEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "|", "\\|", "\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_",
	"[", "\\[", "]", "\\]", "#", "\\#", "\r", " ", "\n", " ",
)

func md(s string) string { return mdEscaper.Replace(s) }
