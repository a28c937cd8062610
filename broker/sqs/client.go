package sqs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/mqcheck/mqcheck/broker"
)

// endpoint is where the clients of one target send their requests.
type endpoint struct {
	// url is the base endpoint ("http://127.0.0.1:40123"); it never holds
	// credentials (those come from the AWS chain).
	url string
	// emulator: the server is one mqcheck started, which takes any
	// credentials; url targets use the AWS chain.
	emulator bool
}

// emulatorKey is the access key every request to an emulator is signed
// with: emulators check none.
const emulatorKey = "mqcheck"

// awsConfig is the SDK configuration one client (a producer, a consumer,
// the driver's admin calls) uses: its own HTTP transport (so that a
// client's connections are its own, as separate processes' would be),
// every connection dialled through dial, the configured retries, and the
// attempt counter outcomes rely on.
//
// Each attempt is bounded by request_timeout plus extra (a long poll's
// wait), so that a request to a broker that stopped answering becomes a
// retry, then an error, rather than a hang.
func awsConfig(ctx context.Context, c *Config, ep endpoint, dial func(ctx context.Context, network, addr string) (net.Conn, error),
	extra time.Duration) (aws.Config, error) {
	hc := awshttp.NewBuildableClient().WithTimeout(c.RequestTimeout.D() + extra).WithTransportOptions(func(t *http.Transport) {
		t.DialContext = dial
		// A producer keeps send_concurrency requests in flight; a little
		// headroom keeps connections from being closed and reopened.
		t.MaxIdleConnsPerHost = max(c.SendConcurrency, 1) + 4
	})
	retryer := func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = max(c.MaxAttempts, 1) })
	}
	if ep.emulator {
		return aws.Config{
			Region:       c.region(),
			Credentials:  credentials.NewStaticCredentialsProvider(emulatorKey, emulatorKey, ""),
			HTTPClient:   hc,
			Retryer:      retryer,
			APIOptions:   []func(*middleware.Stack) error{countAttempts},
			BaseEndpoint: aws.String(ep.url),
		}, nil
	}
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(hc), config.WithRetryer(retryer),
		config.WithAPIOptions([]func(*middleware.Stack) error{countAttempts})}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading the AWS configuration (credentials, region): %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	cfg.BaseEndpoint = aws.String(ep.url)
	return cfg, nil
}

func (c *Config) region() string {
	if c.Region != "" {
		return c.Region
	}
	return defaultRegion
}

// clients are one client's SQS and SNS APIs over one configuration.
type clients struct {
	sqs *awssqs.Client
	sns *sns.Client
}

func newClients(ctx context.Context, c *Config, ep endpoint, env broker.Env, extra time.Duration) (*clients, error) {
	cfg, err := awsConfig(ctx, c, ep, env.DialContext, extra)
	if err != nil {
		return nil, err
	}
	// The endpoint again as a client option, which comes last: the SDK
	// lets AWS_ENDPOINT_URL_SQS (_SNS) or a profile's services section
	// take the place of the configuration's BaseEndpoint, and a url
	// target's traffic must go to broker.url.
	return &clients{
		sqs: awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = aws.String(ep.url) }),
		sns: sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(ep.url) }),
	}, nil
}

// attempts counts the attempts of one call (the SDK retries inside it)
// and whether any of them may have reached the broker without an answer.
type attempts struct {
	n int
	// unsure: an attempt ended without a refusal from the server (a
	// timeout, a lost connection, a 5xx): it may have been stored.
	unsure bool
	// failed is the first failed attempt's error, for a notice.
	failed error
}

type attemptsKey struct{}

// withAttempts returns a context whose calls count their attempts into a.
func withAttempts(ctx context.Context) (context.Context, *attempts) {
	a := &attempts{}
	return context.WithValue(ctx, attemptsKey{}, a), a
}

// countAttempts runs inside the SDK's retry loop (it is added after the
// retry middleware in the finalize step), once per attempt.
func countAttempts(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("mqcheckAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleFinalize(ctx, in)
			if a, ok := ctx.Value(attemptsKey{}).(*attempts); ok {
				a.n++
				if err != nil && !refused(err) {
					a.unsure = true
				}
				if err != nil && a.failed == nil {
					a.failed = err
				}
			}
			return out, md, err
		}), middleware.After)
}

// refused reports an error that is the server's answer refusing the
// request (a 4xx status: invalid parameter, no such queue, throttled):
// nothing was stored. A 5xx, a timeout or a lost connection are no such
// proof.
func refused(err error) bool {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		return false
	}
	code := re.HTTPStatusCode()
	return code >= 400 && code < 500
}

// callTimeout bounds one call with its retries: each attempt's timeout
// and the retryer's backoff (at most 20s per retry in the SDK, far less
// at first).
func (c *Config) callTimeout(extra time.Duration) time.Duration {
	n := time.Duration(max(c.MaxAttempts, 1))
	return n*(c.RequestTimeout.D()+extra) + (n-1)*2*time.Second
}
