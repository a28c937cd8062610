package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

// jobIndexEnv is where a Kubernetes Indexed Job puts a pod's index.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

// workerFlags are run's flags for a run split across workers.
type workerFlags struct {
	worker  string // I/N
	workers int    // N, with the index from JOB_COMPLETION_INDEX
	runID   string
	startAt string
}

func (f *workerFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.worker, "worker", "", "run worker I's part of a run split across N workers: I/N (0 is the first); see --run-id")
	cmd.Flags().IntVar(&f.workers, "workers", 0, "split the run across N workers, this one's index taken from $"+jobIndexEnv+" (a Kubernetes Indexed Job)")
	cmd.Flags().StringVar(&f.runID, "run-id", "", "the id every worker of a split run is given: their consumers take each other's messages as this run's")
	cmd.Flags().StringVar(&f.startAt, "start-at", "", "start the load at this time (RFC 3339, e.g. 2026-12-03T15:00:00Z): a start barrier for the workers")
}

// parse returns the worker the flags name, nil when the run is not split.
// getenv reads the environment (os.Getenv).
func (f *workerFlags) parse(getenv func(string) string) (*runner.Worker, error) {
	if f.worker == "" && f.workers == 0 {
		if f.runID != "" || f.startAt != "" {
			return nil, usageError("--run-id and --start-at belong to a run split across workers: give --worker I/N or --workers N")
		}
		return nil, nil
	}
	w := &runner.Worker{RunID: f.runID}
	switch {
	case f.worker != "" && f.workers != 0:
		return nil, usageError("--worker and --workers contradict each other: --worker I/N names the index, --workers N reads it from $%s", jobIndexEnv)
	case f.worker != "":
		i, n, ok := strings.Cut(f.worker, "/")
		var err1, err2 error
		w.Index, err1 = strconv.Atoi(i)
		w.Count, err2 = strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil {
			return nil, usageError("--worker %q: want I/N, the worker's index and the number of workers (0/4 ... 3/4)", f.worker)
		}
	default:
		w.Count = f.workers
		env := getenv(jobIndexEnv)
		if env == "" {
			return nil, usageError("--workers %d: $%s is not set (a Kubernetes Indexed Job sets it); give --worker I/N elsewhere", f.workers, jobIndexEnv)
		}
		i, err := strconv.Atoi(env)
		if err != nil {
			return nil, usageError("$%s=%q is not a worker index", jobIndexEnv, env)
		}
		w.Index = i
	}
	if w.Count < 1 {
		return nil, usageError("--worker %d/%d: there must be at least one worker", w.Index, w.Count)
	}
	if w.Index < 0 || w.Index >= w.Count {
		return nil, usageError("--worker %d/%d: the index runs from 0 to %d", w.Index, w.Count, w.Count-1)
	}
	if f.startAt != "" {
		t, err := time.Parse(time.RFC3339, f.startAt)
		if err != nil {
			return nil, usageError("--start-at %q: want an RFC 3339 time such as 2026-12-03T15:00:00Z", f.startAt)
		}
		w.StartAt = t
	}
	return w, nil
}

// checkWorker refuses a scenario the worker cannot run its part of, before
// anything runs.
func checkWorker(s *scenarios.Scenario, w *runner.Worker) error {
	if w == nil {
		return nil
	}
	if err := runner.CheckWorker(s, w, time.Now()); err != nil {
		return usageError("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// workerDone tells a worker that ran its part what comes next.
func workerDone(stderr io.Writer, w *runner.Worker, dir string) error {
	fmt.Fprintf(stderr, "mqcheck: worker %d/%d done: its part is in %s; mqcheck merge of every worker's run directory gives the verdict\n",
		w.Index, w.Count, dir)
	return nil
}
