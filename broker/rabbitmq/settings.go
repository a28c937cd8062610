package rabbitmq

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/container"
	"github.com/mqcheck/mqcheck/redact"
)

// settings is everything the driver needs from the scenario, resolved once.
type settings struct {
	r           Config // defaults applied
	runID       string
	keep        bool
	subs        int
	maxInFlight int
	// url carries the credentials: it is only ever handed to amqp091,
	// never logged or put in an error; shown is what people see.
	url   string
	shown string
	tls   *tls.Config // nil unless amqps
	// endpoint is the broker's host:port, for network faults' proxies.
	endpoint string
	env      broker.Env // its DialContext opens every connection
	log      *slog.Logger
	topo     topology
}

func newSettings(cfg *Config, spec broker.Spec, env broker.Env) (*settings, error) {
	var r Config
	if cfg != nil {
		r = *cfg
		// Pointers and slices are shared with the caller: copy what
		// defaults touch.
		r.RoutingKeys = append([]string(nil), r.RoutingKeys...)
		r.BindingKeys = append([]string(nil), r.BindingKeys...)
	}
	r.ApplyDefaults()
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("invalid rabbitmq settings: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if err := r.CheckSpec(spec); err != nil {
		return nil, err
	}
	dest := spec.Destination
	if dest == "" {
		if env.RunID == "" {
			return nil, errors.New("no destination and no run id to name the queues after")
		}
		dest = "mqcheck-" + env.RunID
	}
	runID := env.RunID
	if runID == "" {
		runID = dest
	}
	subs := max(1, spec.Subscriptions)
	return &settings{
		r:           r,
		runID:       runID,
		keep:        spec.Keep,
		subs:        subs,
		maxInFlight: max(1, spec.MaxInFlight),
		env:         env,
		log:         env.Log,
		topo:        newTopology(&r, dest, subs),
	}, nil
}

// CheckSpec rejects combinations of the section with the rest of the run
// that cannot give a meaningful answer (Validate cannot see consumers), and
// a target the section cannot reach: a url that is not amqp(s)://host:port,
// TLS without amqps://. Unset fields count as their defaults.
func (r *Config) CheckSpec(spec broker.Spec) error {
	var ports error
	if spec.Target == broker.TargetContainer {
		ports = container.CheckPorts("broker.ports", spec.Container.Ports, containerPorts, false)
	}
	return errors.Join(r.checkClients(spec), r.checkTarget(spec), ports)
}

func (r *Config) checkTarget(spec broker.Spec) error {
	var tls *TLS
	if r != nil {
		tls = r.TLS
	}
	if spec.Target != broker.TargetURL {
		if tls != nil {
			return broker.Problem("broker.rabbitmq.tls", "applies to amqps:// url targets; a private node listens on plain AMQP")
		}
		return nil
	}
	if spec.URL == "" {
		return nil // validation says broker.url is required
	}
	shown := redact.URL(spec.URL)
	uri, err := amqp.ParseURI(spec.URL)
	switch {
	case err != nil:
		return broker.Problem("broker.url", "%s is not an amqp:// or amqps:// URL: %s", shown, scrub(err.Error(), spec.URL, shown))
	case uri.Scheme != "amqps" && tls != nil:
		return broker.Problem("broker.rabbitmq.tls", "is set but broker.url %s is not amqps://", shown)
	}
	return broker.CheckPort("broker.url", strconv.Itoa(uri.Port))
}

func (r *Config) checkClients(spec broker.Spec) error {
	d := *r
	d.RoutingKeys, d.BindingKeys = nil, nil
	d.ApplyDefaults()
	switch {
	case d.Pattern == "queue" && spec.Subscriptions > 1:
		return broker.Problem("broker.rabbitmq.pattern", "queue has one queue whose consumers compete, so it cannot serve %d subscriptions that each get every message; use pattern: fanout", spec.Subscriptions)
	case spec.FailAction == broker.FailDeadLetter && spec.FailFraction > 0 && !d.DeadLetter:
		return broker.Problem("consumers.fail_action", "dead-letter needs broker.rabbitmq.dead_letter: true, else the broker drops what consumers reject")
	case d.AckMode == "auto" && spec.FailFraction > 0:
		return broker.Problem("consumers.fail_fraction", "auto-ack consumers cannot reject a message (the broker forgot it when it sent it); use ack_mode: manual")
	case d.QueueType == "stream" && spec.FailFraction > 0:
		return broker.Problem("consumers.fail_fraction", "stream consumers cannot requeue or dead-letter a message; use a classic or quorum queue")
	case d.QueueType == "stream" && spec.Consumers > 1:
		return broker.Problem("consumers.count", "every consumer of a stream reads every message, so %d consumers in one subscription would each count it; use count: 1 and more subscriptions", spec.Consumers)
	}
	return nil
}

// Fixed credentials of exec targets: RabbitMQ lets guest in from loopback
// only, which is all a private node listens on.
const (
	execUser     = "guest"
	execPassword = "guest"
)

// setURL points the settings at a broker. For url targets it checks the
// scheme and builds the TLS configuration.
func (st *settings) setURL(raw string) error {
	shown := redact.URL(raw)
	uri, err := amqp.ParseURI(raw)
	if err != nil {
		// amqp091's message may quote the URL: keep only its kind.
		return fmt.Errorf("broker.url %s is not an amqp:// or amqps:// URL: %s", shown, scrub(err.Error(), raw, shown))
	}
	st.url, st.shown = raw, shown
	st.endpoint = net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
	switch uri.Scheme {
	case "amqps":
		c, err := tlsConfig(st.r.TLS)
		if err != nil {
			return err
		}
		st.tls = c
	default:
		if st.r.TLS != nil {
			return fmt.Errorf("broker.rabbitmq.tls is set but broker.url %s is not amqps://", shown)
		}
	}
	return nil
}

// scrub replaces the raw URL (and its password) in a message.
func scrub(msg, raw, shown string) string {
	msg = strings.ReplaceAll(msg, raw, shown)
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, redact.Mask)
		}
	}
	return msg
}

func tlsConfig(t *TLS) (*tls.Config, error) {
	if t == nil {
		return broker.TLSConfig("broker.rabbitmq.tls", broker.TLSFiles{})
	}
	return broker.TLSConfig("broker.rabbitmq.tls", broker.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile,
		KeyFile: t.KeyFile, InsecureSkipVerify: t.InsecureSkipVerify})
}
