// Package sqs drives Amazon SQS through aws-sdk-go-v2, standard and FIFO queues, with SNS
// fan-out for several subscriptions: goaws in process, a private fauxqs, an emulator in a
// container, or a real endpoint.
package sqs

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// unreachableAfter bounds how long Open waits for a url target to answer
// before it reports broker.ErrUnreachable.
const unreachableAfter = 5 * time.Second

// Open obtains an SQS target for cfg and spec, and a driver for it. A nil
// cfg is an empty configuration (every default).
//
//   - embedded (the default): goaws in the mqcheck process, on a free
//     127.0.0.1 port. Its Restarter stops it and starts it again on the
//     same port, empty (a killed emulator forgets everything), and creates
//     the run's queues again.
//   - exec: a private fauxqs (Node.js) on a free 127.0.0.1 port, from the
//     npm package installed in the cache directory (FauxqsDir); its
//     Restarter kills the process and starts another, as empty.
//   - url: the SQS endpoint at broker.url (https://sqs.<region>.amazonaws.com,
//     LocalStack, ElasticMQ), credentials and region from the AWS chain.
//     A queue that exists already is used as it is and never deleted.
//   - container: broker.image, an SQS emulator (softwaremill/elasticmq-native,
//     LocalStack with broker.ports: [4566/tcp]), started by mqcheck with its
//     port mapped to 127.0.0.1; clients use it as an emulator (any
//     credentials, queues created by Setup). Its Restarter kills, starts
//     and pauses the container, and creates the run's queues again after a
//     start: an in-memory emulator comes back without them.
func Open(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	return broker.OpenTarget(ctx, "sqs", c, spec, env,
		broker.TargetOpener[*Config]{Target: broker.TargetEmbedded, Open: openEmbedded},
		broker.TargetOpener[*Config]{Target: broker.TargetExec, Open: openFauxqs},
		broker.TargetOpener[*Config]{Target: broker.TargetURL, Open: openURL},
		broker.TargetOpener[*Config]{Target: broker.TargetContainer, Open: openContainer})
}

func openURL(ctx context.Context, c *Config, spec broker.Spec, env broker.Env) (*broker.Target, error) {
	if spec.URL == "" {
		return nil, fmt.Errorf("opening sqs target: %w: broker.url is required with target url", broker.ErrConfig)
	}
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("opening sqs target: %w: broker.url must be an http(s) endpoint (https://sqs.eu-west-1.amazonaws.com)", broker.ErrConfig)
	}
	if u.User != nil {
		return nil, fmt.Errorf("opening sqs target: %w: broker.url must not hold credentials: they come from the AWS chain (AWS_ACCESS_KEY_ID, a profile)", broker.ErrConfig)
	}
	ep := endpoint{url: u.Scheme + "://" + u.Host + u.Path}
	d, err := newDriver(ctx, c, spec, ep, env)
	if err != nil {
		return nil, fmt.Errorf("opening sqs target: %w", err)
	}
	if err := d.ping(ctx); err != nil {
		return nil, err
	}
	return &broker.Target{Driver: d, Endpoints: []string{hostPort(u)}, Description: "sqs at " + ep.url,
		Close: func(context.Context) error { return nil }}, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// ping lists at most one queue within unreachableAfter: a server that
// answered, even with a refusal, is there.
func (d *driver) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, unreachableAfter)
	defer cancel()
	err := d.listOne(pctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("reaching %s: %w", d.ep.url, ctx.Err())
	case refused(err):
		return fmt.Errorf("%s refused mqcheck: %w", d.ep.url, err)
	}
	return fmt.Errorf("%w: %s: %w", broker.ErrUnreachable, d.ep.url, err)
}
