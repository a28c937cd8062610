package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/metrics"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

// watchFlags are the run command's flags about watching a run rather than
// defining it: what is printed, logged and served while it goes.
type watchFlags struct {
	quiet, verbose bool
	progress       string
	logFormat      string
	metricsAddr    string
}

func (f *watchFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing but errors; the exit code tells the verdict")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log what mqcheck does, at debug level (to stderr)")
	fl.StringVar(&f.progress, "progress", progressAuto,
		"progress display: auto (live on a terminal, a line every 5s in CI or a pipe), live, plain")
	fl.StringVar(&f.logFormat, "log-format", logText, "log format on stderr: text or json")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "",
		"serve live Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464); off by default")
	_ = cmd.RegisterFlagCompletionFunc("progress", completeValues(progressAuto, progressLive, progressPlain))
	_ = cmd.RegisterFlagCompletionFunc("log-format", completeValues(logText, logJSON))
	_ = cmd.RegisterFlagCompletionFunc("metrics-addr", cobra.NoFileCompletions)
}

// check rejects contradictory or unknown values before anything runs.
func (f *watchFlags) check() error {
	if f.quiet && f.verbose {
		return usageError("--quiet and --verbose contradict each other: pick one")
	}
	if !slices.Contains([]string{progressAuto, progressLive, progressPlain}, f.progress) {
		return usageError("--progress %q: want auto, live or plain", f.progress)
	}
	if !slices.Contains([]string{logText, logJSON}, f.logFormat) {
		return usageError("--log-format %q: want text or json", f.logFormat)
	}
	if f.metricsAddr != "" {
		if err := metrics.CheckAddr(f.metricsAddr); err != nil {
			return usageError("%v", err)
		}
	}
	return nil
}

// session is the terminal side of one run: the logger, the progress
// display and the metrics endpoint, set up before the run and torn down,
// in order, after it.
type session struct {
	log       *slog.Logger
	observers []runner.Observer
	disp      display
	restore   func()
	metrics   *metrics.Server
}

// startSession binds the metrics address (a port in use is reported before
// the run starts, exit 2), prints header unless quiet, and starts the
// progress display on stdout.
func startSession(ctx context.Context, f *watchFlags, s *scenarios.Scenario, header string, stdout, stderr io.Writer) (*session, error) {
	errOut := noticesOf(ctx)
	if errOut == nil {
		errOut = &switchWriter{w: stderr}
	}
	ss := &session{restore: func() {}}
	ss.log = newLogger(errOut, f.logFormat, logLevel(f.quiet, f.verbose), s.Scrubber())
	if f.metricsAddr != "" {
		exp := metrics.New(metrics.Run{Scenario: s.Name, Broker: s.Broker.Kind, Load: s.Duration.D()})
		srv, err := metrics.Listen(f.metricsAddr, exp.Handler())
		if err != nil {
			return nil, usageError("%v", err)
		}
		ss.metrics = srv
		ss.observers = append(ss.observers, exp)
		ss.log.Info("serving metrics", "url", "http://"+srv.Addr()+"/metrics")
		header += fmt.Sprintf("\nmqcheck: metrics at http://%s/metrics", srv.Addr())
	}
	if f.quiet {
		return ss, nil
	}
	fmt.Fprintln(stdout, header)
	interrupted := func() bool { return ctx.Err() != nil }
	load := s.Duration.D()
	if s.Consumers.Backlog != "" {
		load = 0 // a consume-only run drains from the start
	}
	switch chooseProgress(f.progress, stdout) {
	case progressLive:
		live := newLiveProgress(stdout, load, interrupted)
		ss.disp = live
		// Logs and notices go above the status when both share the
		// terminal; stderr redirected to a file keeps them there.
		if isTerminal(stderr) && isTerminal(stdout) {
			ss.restore = errOut.set(live)
		}
	default:
		ss.disp = newPlainProgress(stdout, load, interrupted)
	}
	ss.observers = append(ss.observers, ss.disp)
	return ss, nil
}

// stopDisplay ends the progress display, before the summary is printed.
func (ss *session) stopDisplay() {
	if ss.disp != nil {
		ss.disp.Stop()
		ss.disp = nil
	}
	ss.restore()
}

// close stops everything the session started; the metrics endpoint last,
// so a scrape can still read the final figures while results are written.
func (ss *session) close() {
	ss.stopDisplay()
	if ss.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ss.metrics.Close(ctx); err != nil {
			ss.log.Warn("stopping the metrics endpoint", "err", err)
		}
	}
}
