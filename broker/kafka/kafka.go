// Package kafka drives Kafka through franz-go: one client per producer and per
// consumer, an embedded kfake cluster or an existing cluster as the target.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
)

// Open obtains a Kafka target for cfg and spec, and a driver for it. A nil
// cfg is an empty configuration (every default).
//
//   - embedded (or no target): an in-process kfake cluster of
//     cfg.Brokers nodes on kernel-picked 127.0.0.1 ports, its data in
//     <run dir>/kafka-data (removed at Close unless spec.Keep), with a
//     Restarter.
//   - url: the existing cluster at spec.URL ("host:port,host:port"), with
//     cfg.SASL and cfg.TLS. Open fails within seconds with
//     an error wrapping broker.ErrUnreachable when no broker answers. The
//     topic is created by Setup if missing and deleted, with the run's
//     consumer groups, at Driver.Close unless spec.Keep; a topic that
//     existed before is never deleted.
//
// The topic is spec.Destination, or "mqcheck-<run id>"; subscription i
// consumes in group "mqcheck-<run id>-s<i>".
func Open(ctx context.Context, cfg *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	set, err := newSettings(cfg, spec, env)
	if err != nil {
		return nil, fmt.Errorf("opening kafka target: %w: %w", broker.ErrConfig, err)
	}
	switch spec.Target {
	case "", broker.TargetEmbedded:
		return openEmbedded(&set, env)
	case broker.TargetURL:
		return openURL(ctx, &set, spec.URL)
	case broker.TargetContainer:
		return openContainer(ctx, &set, spec, env)
	}
	return nil, fmt.Errorf("opening kafka target: target %q is not supported (embedded, url, container)", spec.Target)
}

func openEmbedded(set *settings, env broker.Env) (*broker.Target, error) {
	e, err := startEmbedded(set, env.Dir)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(*set, e.addrs(), false)
	if err != nil {
		return nil, errors.Join(err, e.close(context.Background()))
	}
	t := &broker.Target{
		Driver:      d,
		Restarter:   e,
		Endpoints:   e.addrs(),
		Description: e.describe(),
		Close:       e.close,
	}
	if d.relay != nil {
		t.Relay = d.relay
	}
	return t, nil
}

func openURL(ctx context.Context, set *settings, url string) (*broker.Target, error) {
	seeds, err := parseSeeds(url)
	if err != nil {
		return nil, err
	}
	d, err := newDriver(*set, seeds, true)
	if err != nil {
		return nil, err
	}
	if err := ping(ctx, d.admCl, url); err != nil {
		d.admCl.Close()
		return nil, err
	}
	t := &broker.Target{
		Driver:      d,
		Endpoints:   endpoints(ctx, d.adm, seeds),
		Description: "kafka at " + strings.Join(seeds, ","),
		Close:       func(context.Context) error { return nil },
	}
	if d.relay != nil {
		t.Relay = d.relay
	}
	return t, nil
}

// endpoints are the seeds and every broker the cluster advertises: clients
// dial the advertised addresses after the first metadata answer, so a
// proxy in front of the seeds alone would miss most connections.
func endpoints(ctx context.Context, adm *kadm.Client, seeds []string) []string {
	out := slices.Clone(seeds)
	lctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	bs, err := adm.ListBrokers(lctx)
	if err != nil {
		return out
	}
	for _, b := range bs {
		a := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// parseSeeds reads "host:port,host:port"; a port is required because a
// missing one would silently mean 9092.
func parseSeeds(url string) ([]string, error) {
	var seeds []string
	for _, a := range strings.Split(url, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, fmt.Errorf("broker.url: %q is not host:port (write e.g. 10.0.0.1:9092,10.0.0.2:9092)", a)
		} else if err := broker.CheckPort("broker.url", port); err != nil {
			return nil, err
		}
		seeds = append(seeds, a)
	}
	if len(seeds) == 0 {
		return nil, errors.New("broker.url: no broker address (write e.g. 10.0.0.1:9092,10.0.0.2:9092)")
	}
	return seeds, nil
}

// ping asks the cluster for metadata within a bounded time.
func ping(ctx context.Context, cl *kgo.Client, url string) error {
	pctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	err := cl.Ping(pctx)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("connecting to kafka at %s: %w", url, ctx.Err())
	}
	return pingError(url, err)
}

// pingError tells an unreachable cluster (no answer, refused or dropped
// connections: mqcheck exits 3) from one that answered with a refusal (a
// failed login, missing rights: the scenario is wrong). kfake drops the
// connection on a failed login where Kafka answers SASL_AUTHENTICATION_FAILED,
// so against kfake a wrong password reads as unreachable.
func pingError(url string, err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return fmt.Errorf("connecting to kafka at %s: %w", url, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: no kafka broker at %s answered within %s: %w", broker.ErrUnreachable, url, unreachableAfter, err)
	}
	return fmt.Errorf("%w: kafka at %s: %w", broker.ErrUnreachable, url, err)
}

// Addrs returns the broker addresses a Kafka target's clients use (for an
// embedded target the 127.0.0.1 ports it keeps across restarts), or nil
// when t is not a Kafka target. Benchmarks and proxies use it to reach the
// same cluster as the driver.
func Addrs(t *broker.Target) []string {
	if t == nil {
		return nil
	}
	d, ok := t.Driver.(*driver)
	if !ok {
		return nil
	}
	return slices.Clone(d.seeds)
}
