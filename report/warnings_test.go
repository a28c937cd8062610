package report

import (
	"fmt"
	"strings"
	"testing"
)

// TestTextShowsWarnings: warning notices (a client that could not
// reconnect) are in the summary, at most maxWarnings of them; other
// notices stay in results.json.
func TestTextShowsWarnings(t *testing.T) {
	r := sampleResults()
	r.Notices = append(r.Notices, Notice{AtMS: 1500, Kind: "reconnected", Detail: "consumer 0 reconnected after 1s"})
	for i := range maxWarnings + 2 {
		r.Notices = append(r.Notices, Notice{AtMS: 12_000, Kind: "reconnect-failing", Warning: true,
			Detail: fmt.Sprintf("consumer %d has had no connection for 10s", i)})
	}
	var b strings.Builder
	if err := Text(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, "warning at 12.0s: consumer"); n != maxWarnings {
		t.Errorf("%d warnings shown, want %d:\n%s", n, maxWarnings, out)
	}
	if !strings.Contains(out, "more warnings in results.json") || strings.Contains(out, "reconnected after") {
		t.Errorf("want the rest named, and no plain notice:\n%s", out)
	}
}
