package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mqcheck/mqcheck/scenarios"
)

// netFault is a network fault: toxics on every proxy for the fault's
// window.
//
//	kind       toxics (both streams unless said)          heal
//	latency    mqcheck_latency: each chunk delayed        removed; what waits is delivered
//	bandwidth  bandwidth: bytes per second per direction  removed
//	blackhole  timeout 0: every byte dropped, both ways;  removed: the connections that lost
//	           connections stay open, new ones too        bytes are closed (their streams
//	                                                      have gaps), clients reconnect
//	reset      reset_peer 0: a connection is reset (RST)  removed
//	           as soon as it carries data
//	ack-loss   timeout 0 on the downstream only: requests removed: as blackhole; what the
//	           reach the broker, its answers are dropped  broker did is not known to the
//	                                                      client (indeterminate)
type netFault struct {
	kind   string
	nw     *Network
	toxics []toxic
	seed   uint64
	name   string
	added  bool
}

func newNetFault(nw *Network, o Occurrence) (*netFault, error) {
	f := o.Fault
	nw.mu.Lock()
	nw.seq++ // so that two faults' toxics never share a name
	id := nw.seq
	nw.mu.Unlock()
	both := func(typ string, attrs map[string]any) []toxic {
		var ts []toxic
		for _, s := range []string{"upstream", "downstream"} {
			ts = append(ts, toxic{Name: fmt.Sprintf("%s-%d-%s", f.Kind, id, s), Type: typ, Stream: s, Toxicity: 1, Attributes: attrs})
		}
		return ts
	}
	nf := &netFault{kind: f.Kind, nw: nw, seed: o.Seed}
	switch f.Kind {
	case scenarios.FaultLatency:
		nf.toxics = both(latencyToxic, map[string]any{"latency_us": f.Latency.D().Microseconds(), "jitter_us": f.Jitter.D().Microseconds()})
		nf.name = "latency " + f.Latency.String()
		if f.Jitter > 0 {
			nf.name += " ±" + f.Jitter.String()
		}
		nf.name += " each way"
	case scenarios.FaultBandwidth:
		nf.toxics = both("bandwidth", map[string]any{"rate": int64(f.Bandwidth) / 1000})
		nf.name = fmt.Sprintf("bandwidth %s/s each way", f.Bandwidth)
	case scenarios.FaultBlackhole:
		nf.toxics = both("timeout", map[string]any{"timeout": 0})
		nf.name = "blackhole (network partition)"
	case scenarios.FaultReset:
		nf.toxics = both("reset_peer", map[string]any{"timeout": 0})
		nf.name = "reset connections"
	case scenarios.FaultAckLoss:
		nf.toxics = []toxic{{Name: fmt.Sprintf("%s-%d-downstream", f.Kind, id), Type: "timeout", Stream: "downstream", Toxicity: 1,
			Attributes: map[string]any{"timeout": 0}}}
		nf.name = "ack loss (broker replies dropped)"
	default:
		return nil, fmt.Errorf("%s is not a network fault", f.Kind)
	}
	return nf, nil
}

func (f *netFault) Kind() string { return f.kind }
func (f *netFault) Name() string { return f.name }

func (f *netFault) Inject(context.Context) error {
	// Heal takes off whatever part of it got on.
	f.added = true
	for _, t := range f.toxics {
		var seeds func(int) uint64
		if t.Type == latencyToxic {
			seeds = func(i int) uint64 { return mix(f.seed, uint64(i)<<1|boolBit(t.Stream == "downstream")) }
		}
		if err := f.nw.add(t, seeds); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
}

func (f *netFault) Heal(ctx context.Context) error {
	if !f.added {
		return nil
	}
	var first error
	for _, t := range f.toxics {
		if err := f.nw.remove(ctx, t.Name); err != nil && first == nil {
			first = fmt.Errorf("%s: %w", f.name, err)
		}
	}
	f.added = false
	return first
}

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func jsonReader(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding toxic: %w", err)
	}
	return bytes.NewReader(b), nil
}
