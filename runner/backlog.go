package runner

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/checker"
	"github.com/mqcheck/mqcheck/report"
	"github.com/mqcheck/mqcheck/scenarios"
)

// backlog is the produce-only run a consume-only run reads
// (consumers.backlog): its run id, which the consumers take as their own,
// and its checker state, which says what was sent and acked.
type backlog struct {
	dir      string
	runID    uint64
	runIDHex string
	res      *report.Results
	state    string // path of its checker state
}

// backlogNote is what results say of a consume-only run's figures.
const backlogNote = "consume-only run: the consume rate is throughput.received_per_s; " +
	"end-to-end latency counts from the intended send time in the produce-only run, " +
	"so it includes the time each message waited in the backlog"

// CheckBacklog refuses a consumers.backlog that s cannot read (Run refuses
// it as well), so that the CLI can say so before it makes a run directory.
// It fills s's destination from the backlog's, as Run does.
func CheckBacklog(s *scenarios.Scenario, ks broker.Kinds) error {
	if s.Consumers.Backlog == "" {
		return nil
	}
	_, err := openBacklog(s, ks)
	return err
}

// openBacklog checks that s's consumers.backlog is a finished produce-only
// run whose messages s can read, and fills s's destination from it. Every
// problem names both runs' values: the user picks which to change.
func openBacklog(s *scenarios.Scenario, ks broker.Kinds) (*backlog, error) {
	dir := s.Consumers.Backlog
	field := "consumers.backlog " + dir
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", field, pathErr(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is a file: give the run directory of a produce-only run", field)
	}
	for _, f := range []string{"results.json", "scenario.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("%s is not an mqcheck run directory (no %s): give the directory a produce-only run wrote", field, f)
		}
	}
	res, err := report.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	// Before the checker state: a run killed with SIGKILL leaves its
	// partial results and no state, and is told as what it is.
	switch {
	case res.Partial || res.EndedAt == "":
		return nil, fmt.Errorf("%s is a partial run (it was killed before it ended): what it sent is not known for sure", field)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckerStateFile)); err != nil {
		return nil, fmt.Errorf("%s has no %s (what the run sent and had acked): give the directory a produce-only run wrote", field, CheckerStateFile)
	}
	switch {
	case res.Error != "":
		return nil, fmt.Errorf("%s did not end cleanly (%s): what it sent is not known for sure", field, res.Error)
	case res.Worker != nil:
		return nil, fmt.Errorf("%s is worker %d/%d of a split run: merge the workers' directories first (mqcheck merge) and give the merged one",
			field, res.Worker.Index, res.Worker.Count)
	case res.Backlog != nil:
		return nil, fmt.Errorf("%s is itself a consume-only run: give the produce-only run it read (%s)", field, res.Backlog.Dir)
	}
	data, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	prev, err := (scenarios.Loader{Kinds: ks}).Parse(data, filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		return nil, fmt.Errorf("%s: its scenario: %w", field, err)
	}
	id, err := hex.DecodeString(res.RunID)
	if err != nil || len(id) != 8 {
		return nil, fmt.Errorf("%s: its run id %q is not mqcheck's (16 hex digits)", field, res.RunID)
	}
	pb, b := prev.Broker, s.Redacted().Broker
	var errs []error
	mismatch := func(what, mine, theirs, fix string) {
		errs = append(errs, fmt.Errorf("%s is %s, but the backlog run %s used %s: %s", what, mine, dir, theirs, fix))
	}
	if prev.Consumers.Count != 0 {
		errs = append(errs, fmt.Errorf("%s is not a produce-only run (its consumers.count is %d: they read its messages already); "+
			"give a run with consumers.count: 0", field, prev.Consumers.Count))
	}
	if pb.Kind != b.Kind {
		mismatch("broker.kind", b.Kind, pb.Kind, "read a backlog with the kind that published it")
	}
	// A broker mqcheck started (embedded, exec, a container it removes)
	// stopped with the produce-only run, and its messages with it.
	if pb.Target != scenarios.TargetURL {
		errs = append(errs, fmt.Errorf("%s ran on a broker of target %s, which stopped with it and took its messages along: "+
			"a backlog needs a broker that outlives the run (target url)", field, pb.Target))
	}
	if b.Target != scenarios.TargetURL {
		mismatch("broker.target", b.Target, pb.Target, "read the backlog on the broker that holds it (target url)")
	} else if pb.Target == scenarios.TargetURL && b.URL != pb.URL {
		mismatch("broker.url", b.URL, pb.URL, "read the backlog on the broker that holds it")
	}
	if !pb.Keep {
		errs = append(errs, fmt.Errorf("%s did not keep its destination (broker.keep is false): what it created, it deleted at its end with "+
			"the messages in it; run the produce-only scenario with broker.keep: true", field))
	}
	if b.Destination != "" && b.Destination != pb.Destination {
		theirs := pb.Destination
		if theirs == "" {
			theirs = "its default (named after its run id)"
		}
		mismatch("broker.destination", b.Destination, theirs, "leave broker.destination out to read the backlog's")
	}
	if s.Consumers.Subscriptions != prev.Consumers.Subscriptions {
		mismatch("consumers.subscriptions", fmt.Sprint(s.Consumers.Subscriptions), fmt.Sprint(prev.Consumers.Subscriptions),
			"the backlog was published for that many subscriptions")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.Broker.Destination = pb.Destination
	return &backlog{dir: dir, runID: binary.BigEndian.Uint64(id), runIDHex: res.RunID, res: res,
		state: filepath.Join(dir, CheckerStateFile)}, nil
}

func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// seed starts c from the backlog's checker state: what was sent and
// acked, against which the consumers' receipts are judged.
func (b *backlog) seed(c *checker.Checker) error {
	f, err := os.Open(b.state)
	if err != nil {
		return fmt.Errorf("reading the backlog's checker state: %w", err)
	}
	defer f.Close()
	if err := c.MergeState(f); err != nil {
		return fmt.Errorf("the backlog's checker state %s: %w", b.state, err)
	}
	return nil
}

// info is what results.json says of the backlog.
func (b *backlog) info() *report.Backlog {
	return &report.Backlog{Dir: b.dir, RunID: b.runIDHex, Sent: b.res.Counts.Sent, Acked: b.res.Counts.Acked,
		EndedAt: b.res.EndedAt, LoadStartNS: b.res.LoadStartNS, Note: backlogNote}
}

// backlogAge says how long ago the backlog run ended, for the log.
func (b *backlog) age(now time.Time) time.Duration {
	t, err := time.Parse(time.RFC3339Nano, b.res.EndedAt)
	if err != nil {
		return 0
	}
	return now.Sub(t)
}
