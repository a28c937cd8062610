package chaos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Network is the run's in-path TCP proxy layer: one toxiproxy proxy on
// 127.0.0.1 for every broker endpoint, run in-process, and a dial function
// that sends a client's connection to an endpoint through its proxy
// (addresses without one are dialed directly). Kafka clients dial the
// addresses brokers advertise, and those are endpoints too, so every broker
// connection goes through a proxy without changing what brokers advertise.
// Network faults add toxics to every proxy.
type Network struct {
	mu      sync.Mutex
	srv     *toxiproxy.ApiServer
	routes  map[string]string // endpoint -> proxy address
	proxies []*toxiproxy.Proxy
	accepts []*acceptor // proxies[i]'s listener and accept loop
	log     *slog.Logger
	closed  bool
	seq     int // toxics named so far
}

// NewNetwork returns a Network with no proxy yet: Dial dials directly
// until Start.
func NewNetwork() *Network {
	// toxiproxy's own logs and metrics stay inside: a nop logger and a
	// registry of its own, never the process's default ones.
	return &Network{srv: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		routes: map[string]string{}, log: slog.New(slog.DiscardHandler)}
}

// LogTo sends the proxies' warnings and errors to log at debug level
// (mqcheck run -v): an upstream they could not dial, a link whose side
// ended. Twice in CI a container's clients got nothing through its proxy
// after a restart, with nothing in the log to say why. Call it before
// Start: each proxy takes the logger when it is made.
func (n *Network) LogTo(log *slog.Logger) {
	n.mu.Lock()
	defer n.mu.Unlock()
	zl := zerolog.New(slogWriter{log}).Level(zerolog.WarnLevel)
	n.srv.Logger = &zl
	n.log = log
}

// slogWriter takes zerolog's JSON lines, one per Write, into log.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("toxiproxy", "event", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Start puts a proxy in front of every endpoint, each listening on a
// kernel-picked 127.0.0.1 port. On error none is left running.
func (n *Network) Start(endpoints []string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("starting proxies: the network is closed")
	}
	if len(n.proxies) > 0 {
		return errors.New("starting proxies: already started")
	}
	for i, ep := range endpoints {
		if _, ok := n.routes[ep]; ok {
			continue
		}
		p := toxiproxy.NewProxy(n.srv, fmt.Sprintf("mqcheck-%d", i), "127.0.0.1:0", ep)
		a, err := startAcceptor(p, n.srv, n.log)
		if err != nil {
			n.stopLocked()
			return fmt.Errorf("starting the proxy for %s: %w", ep, err)
		}
		n.proxies, n.accepts = append(n.proxies, p), append(n.accepts, a)
		n.routes[ep] = p.Listen
	}
	return nil
}

// Dial connects to addr, through its proxy when it has one. It is the
// broker.Env.Dial of a run with network faults.
func (n *Network) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	to, ok := n.routes[addr]
	n.mu.Unlock()
	if !ok {
		to = addr
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, to)
	if err != nil && ok {
		return nil, fmt.Errorf("dialing %s through its proxy %s: %w", addr, to, err)
	}
	return c, err
}

// Routes returns endpoint -> proxy address.
func (n *Network) Routes() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.routes))
	for k, v := range n.routes {
		out[k] = v
	}
	return out
}

// Close stops every proxy: listeners closed, connections through them
// cut. Dial then dials directly. Safe to call more than once.
func (n *Network) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	n.stopLocked()
}

func (n *Network) stopLocked() {
	for _, a := range n.accepts {
		a.close()
	}
	n.proxies, n.accepts = nil, nil
	clear(n.routes)
}

// toxic is one toxiproxy toxic, as its JSON API takes it.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// add puts t on every proxy; seeds, when set, gives proxy i the seed
// seeds(i) (so each proxy's jitter is its own reproducible sequence).
func (n *Network) add(t toxic, seeds func(i int) uint64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.proxies) == 0 {
		return errors.New("no proxy is running")
	}
	for i, p := range n.proxies {
		tt := t
		if seeds != nil {
			tt.Attributes = map[string]any{}
			for k, v := range t.Attributes {
				tt.Attributes[k] = v
			}
			tt.Attributes["seed"] = seeds(i)
		}
		b, err := jsonReader(tt)
		if err != nil {
			return err
		}
		if _, err := p.Toxics.AddToxicJson(b); err != nil {
			hint := ""
			if t.Type == latencyToxic {
				hint = " (was chaos.RegisterToxics called at program start?)"
			}
			return fmt.Errorf("adding toxic %s to the proxy of %s: %w%s", t.Name, p.Upstream, err, hint)
		}
	}
	return nil
}

// remove takes the toxic name off every proxy that has it.
func (n *Network) remove(ctx context.Context, name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for _, p := range n.proxies {
		err := p.Toxics.RemoveToxic(ctx, name)
		if err != nil && !strings.Contains(err.Error(), toxiproxy.ErrToxicNotFound.Error()) {
			errs = append(errs, fmt.Errorf("removing toxic %s from the proxy of %s: %w", name, p.Upstream, err))
		}
	}
	return errors.Join(errs...)
}
