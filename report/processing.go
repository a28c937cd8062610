package report

import "fmt"

// layerRow is one line of the received and processed layers side by side:
// what the broker delivered and what the consumers' side effects were, as
// read back from the store.
type layerRow struct {
	Name                string
	Received, Processed uint64
	// RecvAnomaly and ProcAnomaly name the evidence the figure is (""
	// for no anomaly), for the HTML's colouring.
	RecvAnomaly, ProcAnomaly string
}

// layerRows lists the two layers of an idempotent-consumer run (nil
// without a processed layer).
func layerRows(r *Results) []layerRow {
	c := r.Counts
	p := c.Processed
	if p == nil {
		return nil
	}
	never, pNever := c.Lost, p.Never
	neverName := "never (lost / processed never)"
	if c.Unaccounted > 0 || p.Unaccounted > 0 {
		never, pNever = never+c.Unaccounted, pNever+p.Unaccounted
		neverName = "never, or not yet (drain incomplete)"
	}
	return []layerRow{
		{"total (copies / effects)", c.Received, p.Effects, "", ""},
		{"distinct messages", c.Unique, p.Unique, "", ""},
		{"twice (duplicated / processed twice)", c.Duplicated, p.Twice, "duplicated", "processed_twice"},
		{neverName, never, pNever, "lost", "processed_never"},
	}
}

// processingLine is the consumers' own account of their processing.
func processingLine(p *Processing) string {
	if p == nil {
		return ""
	}
	s := fmt.Sprintf("processing (%s store): %s side effects made, %s deliveries skipped as repeats, %s cut by a crash after the dedupe step, %s store errors",
		p.Store, fmtN(p.Applied), fmtN(p.Skipped), fmtN(p.Stopped), fmtN(p.Errors))
	if p.FirstError != "" {
		s += " (first: " + p.FirstError + ")"
	}
	if p.ReadBackError != "" {
		s += "; effects not read back: " + p.ReadBackError
	}
	return s
}
