package containertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/report"
)

// bin is mqcheck built for these tests (with -race when they run with it).
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mqcheck-containertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mqcheck")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/mqcheck/mqcheck/cmd/mqcheck")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mqcheck:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// The images scripts/podman-setup.sh builds: a tiny root that runs the
// host's servers from a read-only bind mount of /usr.
const (
	rabbitImage    = "localhost/mqcheck-test/rabbitmq:3.10"
	redisImage     = "localhost/mqcheck-test/redis:7.0"
	natsImage      = "localhost/mqcheck-test/nats:2.9"
	mosquittoImage = "localhost/mqcheck-test/mosquitto:2.0"
	// fauxqsImage runs the host's Node.js on the fauxqs package the test
	// mounts on /fauxqs (sqs.FauxqsDir, which .ci/run fills).
	fauxqsImage = "localhost/mqcheck-test/fauxqs:1.9"
)

// engineEnv is what testcontainers-go needs for Podman, when the
// environment does not say already.
func engineEnv() []string {
	var out []string
	for k, v := range map[string]string{"DOCKER_HOST": "unix:///run/podman/podman.sock",
		"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_HOST_OVERRIDE": "127.0.0.1"} {
		if os.Getenv(k) == "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// engine returns a client of the container engine, or skips (fails with
// MQCHECK_REQUIRE_BROKERS=1) when there is none or the test images are
// missing.
func engine(t *testing.T, images ...string) *client.Client {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///run/podman/podman.sock"
	}
	var missing error
	if p, ok := strings.CutPrefix(host, "unix://"); ok {
		if _, err := os.Stat(p); err != nil {
			missing = fmt.Errorf("no container engine at DOCKER_HOST=%s (run scripts/podman-setup.sh)", host)
		}
	}
	var cli *client.Client
	if missing == nil {
		var err error
		if cli, err = client.New(client.FromEnv, client.WithHost(host)); err != nil {
			missing = err
		}
	}
	if missing == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, img := range images {
			if _, err := cli.ImageInspect(ctx, img); err != nil {
				missing = fmt.Errorf("test image %s: %w (run scripts/podman-setup.sh)", img, err)
				break
			}
		}
	}
	if missing != nil && cli != nil {
		_ = cli.Close()
	}
	testenv.Optional(t, "container engine", missing)
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

type result struct {
	code           int
	stdout, stderr string
	res            *report.Results
	took           time.Duration
}

// run runs mqcheck with args (the run directory is added) and env added to
// the environment, within limit.
func run(t *testing.T, limit time.Duration, env []string, args ...string) result {
	t.Helper()
	r, err := runIn(filepath.Join(t.TempDir(), "run"), limit, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runIn is run with the run directory dir, for runs started together
// from goroutines (go test runs only GOMAXPROCS parallel tests at once,
// and these wait on mqcheck, not on the CPU).
func runIn(dir string, limit time.Duration, env []string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--out", dir)...)
	cmd.Env = append(append(os.Environ(), "CI=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A test that times out interrupts mqcheck, which removes its
	// container, instead of killing it.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("running mqcheck: %w", err)
	}
	if ctx.Err() != nil {
		return r, fmt.Errorf("mqcheck did not finish within %s; stderr:\n%s\nstdout:\n%s", limit, tail(r.stderr, 60), tail(r.stdout, 30))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "results.json")); err == nil {
		r.res = &report.Results{}
		if err := json.Unmarshal(b, r.res); err != nil {
			return r, fmt.Errorf("results.json: %w", err)
		}
	}
	return r, nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func writeScenario(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// leftovers lists the containers with label (key=value) that are still
// there.
func leftovers(t *testing.T, cli *client.Client, label string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", label)})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	var out []string
	for _, c := range res.Items {
		out = append(out, c.ID[:12]+" "+string(c.State))
	}
	return out
}

// background is an mqcheck run whose load has started and goes on.
type background struct {
	cmd    *exec.Cmd
	exited chan struct{}
	stderr bytes.Buffer // read once exited
}

// startLoad starts mqcheck on scenario with the run directory dir and
// returns once its load has started (the first progress line, "1s/60s
// sent ..."). Whatever the test does, the run ends with it.
func startLoad(t *testing.T, scenario, dir string) *background {
	t.Helper()
	b := &background{exited: make(chan struct{})}
	b.cmd = exec.Command(bin, "run", writeScenario(t, scenario), "--out", dir)
	b.cmd.Env = append(append(os.Environ(), "CI=1"), engineEnv()...)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b.cmd.Stderr = &b.stderr
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), " sent ") {
				seen = true
				started <- true
			}
		}
		close(started)
		// Wait only once stdout is read to its end (os/exec's rule).
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() { b.stop(os.Interrupt, time.Minute) })
	select {
	case ok := <-started:
		if !ok {
			<-b.exited
			t.Fatalf("mqcheck ended before the load started; stderr:\n%s", b.stderr.String())
		}
	case <-time.After(time.Minute):
		b.stop(syscall.SIGKILL, time.Minute)
		t.Fatalf("the load did not start within a minute; stderr:\n%s", b.stderr.String())
	}
	return b
}

// stop sends sig and waits within limit for mqcheck to end, else kills
// it. It reports whether mqcheck ended within limit; a run that ended
// already is left as it is.
func (b *background) stop(sig os.Signal, limit time.Duration) bool {
	select {
	case <-b.exited:
		return true
	default:
	}
	_ = b.cmd.Process.Signal(sig)
	select {
	case <-b.exited:
		return true
	case <-time.After(limit):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return false
	}
}

// containersOf lists the containers of the run with directory dir.
func containersOf(t *testing.T, cli *client.Client, dir string) []container.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", "org.mqcheck.dir="+dir)})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	return res.Items
}
