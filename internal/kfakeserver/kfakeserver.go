// Package kfakeserver is the command kfakeserver (broker/kafka/kfakeserver),
// callable from a test binary too, which then serves as the broker process
// of a test: it runs franz-go's kfake cluster in a process of its own,
// so that benchmarks measure mqcheck out of process, as users run it against
// a broker, and tests restart a broker mqcheck did not start. It prints the
// brokers' addresses, comma-separated, on one line and runs until SIGINT or
// SIGTERM, when it saves the cluster to -data-dir (if given) and removes
// its -pidfile.
//
//	kfakeserver -brokers 3 -data-dir /tmp/kfake
//
// A restart keeps the cluster's addresses, records and committed offsets
// when it is given the same -ports and -data-dir. As a fault's commands
// (restart_command, heal_command: run without a shell, waited for):
//
//	kfakeserver -stop -pidfile /tmp/kfake.pid      # stops it, returns once it has saved and exited
//	kfakeserver -detach -ports 21001,21002 -data-dir /tmp/kfake -pidfile /tmp/kfake.pid -log /tmp/kfake.log
//
// -detach starts the server in a session of its own, its output to -log,
// and returns once it listens.
package kfakeserver

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// waitFor bounds -detach's wait for the server to listen and -stop's wait
// for it to exit.
const waitFor = 30 * time.Second

// slowClose is how long a stop's save may take before the server writes
// where its goroutines are to its log.
const slowClose = 10 * time.Second

type options struct {
	brokers int
	ports   []int
	dir     string
	pidfile string
	log     string
}

// Main runs the command with args (without the program's name) and
// returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("kfakeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.brokers, "brokers", 3, "brokers in the cluster, on free ports of 127.0.0.1")
	ports := fs.String("ports", "", "comma-separated ports of 127.0.0.1 to listen on, one per broker (overrides -brokers): a restart keeps the addresses")
	fs.StringVar(&o.dir, "data-dir", "", "persist the cluster here (default: in memory)")
	fs.StringVar(&o.pidfile, "pidfile", "", "write the process id here once listening; removed at exit")
	fs.StringVar(&o.log, "log", "", "with -detach: the server's output (default: discarded)")
	detach := fs.Bool("detach", false, "start the server in a session of its own and return once it listens (needs -pidfile)")
	stop := fs.Bool("stop", false, "stop the server of -pidfile and return once it has exited")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if o.ports, err = parsePorts(*ports); err == nil {
		if len(o.ports) > 0 {
			o.brokers = len(o.ports)
		}
		switch {
		case *stop:
			err = stopServer(o.pidfile)
		case *detach:
			err = detachServer(o, stdout)
		default:
			err = run(o, stdout)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "kfakeserver:", err)
		return 1
	}
	return 0
}

func parsePorts(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("-ports: %q is no port", f)
		}
		out = append(out, p)
	}
	return out, nil
}

func run(o options, stdout io.Writer) error {
	if o.brokers < 1 {
		return fmt.Errorf("-brokers %d: at least 1", o.brokers)
	}
	opts := []kfake.Opt{kfake.NumBrokers(o.brokers)}
	if len(o.ports) > 0 {
		opts = append(opts, kfake.Ports(o.ports...))
	}
	if o.dir != "" {
		opts = append(opts, kfake.DataDir(o.dir))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	fmt.Fprintln(stdout, strings.Join(c.ListenAddrs(), ","))
	if o.pidfile != "" {
		if err := writeFileAtomic(o.pidfile, strconv.Itoa(os.Getpid())); err != nil {
			c.Close()
			return err
		}
	}
	<-sig
	// Close saves the cluster; the pidfile goes only after, so that -stop
	// returns when a restart finds everything on disk. A save that takes
	// long leaves its reason in the log: how long, and where every
	// goroutine was while it waited (a stop command killed by its timeout
	// was seen once, on a loaded machine).
	began := time.Now()
	fmt.Fprintf(stdout, "%s: stopping: saving the cluster\n", began.Format(time.RFC3339Nano))
	var mu sync.Mutex // the dump and the last line may meet
	slow := time.AfterFunc(slowClose, func() {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, "the save has taken %s so far; goroutines:\n", slowClose)
		_ = pprof.Lookup("goroutine").WriteTo(stdout, 1)
	})
	c.Close()
	slow.Stop()
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(stdout, "%s: saved and closed in %s\n", time.Now().Format(time.RFC3339Nano), time.Since(began).Round(time.Millisecond))
	if o.pidfile != "" {
		if err := os.Remove(o.pidfile); err != nil {
			return fmt.Errorf("removing the pidfile: %w", err)
		}
	}
	return nil
}

// writeFileAtomic writes path whole or not at all: a reader never sees a
// pid half written.
func writeFileAtomic(path, s string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the pidfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing the pidfile: %w", err)
	}
	return nil
}

func readPid(pidfile string) (int, error) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid < 1 {
		return 0, fmt.Errorf("%s holds no process id: %q", pidfile, b)
	}
	return pid, nil
}

// detachServer starts this program again without -detach, in a session of
// its own (a fault command's process group is killed when it times out;
// the server must outlive it), and waits for its pidfile.
func detachServer(o options, stdout io.Writer) error {
	if o.pidfile == "" {
		return errors.New("-detach needs -pidfile: the server is stopped by it")
	}
	if _, err := os.Stat(o.pidfile); err == nil {
		return fmt.Errorf("%s exists: a server may be running (stop it with -stop; remove the file if it was killed)", o.pidfile)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program: %w", err)
	}
	args := []string{self, "-brokers", strconv.Itoa(o.brokers), "-pidfile", o.pidfile}
	if len(o.ports) > 0 {
		ps := make([]string, len(o.ports))
		for i, p := range o.ports {
			ps[i] = strconv.Itoa(p)
		}
		args = append(args, "-ports", strings.Join(ps, ","))
	}
	if o.dir != "" {
		args = append(args, "-data-dir", o.dir)
	}
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if o.log != "" {
		out, err = os.OpenFile(o.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	if err != nil {
		return fmt.Errorf("opening the server's log: %w", err)
	}
	defer out.Close()
	in, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer in.Close()
	// Its output never goes to ours: whoever waits for this command's
	// output would wait for the server's end too.
	p, err := os.StartProcess(self, args, &os.ProcAttr{Files: []*os.File{in, out, out},
		Sys: &syscall.SysProcAttr{Setsid: true}})
	if err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		st, err := p.Wait()
		if err == nil {
			err = fmt.Errorf("the server exited: %s (see -log)", st)
		}
		exited <- err
	}()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if pid, err := readPid(o.pidfile); err == nil && pid == p.Pid {
			fmt.Fprintln(stdout, pid)
			return nil
		}
		select {
		case err := <-exited:
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = p.Kill()
	return fmt.Errorf("the server did not listen within %s", waitFor)
}

// stopServer asks the server of pidfile to stop and waits until it has
// saved the cluster and removed the pidfile.
func stopServer(pidfile string) error {
	if pidfile == "" {
		return errors.New("-stop needs -pidfile")
	}
	pid, err := readPid(pidfile)
	if err != nil {
		return fmt.Errorf("no server to stop: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping process %d: %w", pid, err)
	}
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pidfile); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("process %d did not stop within %s", pid, waitFor)
}
