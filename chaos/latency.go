package chaos

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// latencyToxic is the toxiproxy type of seededLatency.
const latencyToxic = "mqcheck_latency"

var registerOnce sync.Once

// registerToxics makes seededLatency known to toxiproxy, whose toxics can
// only be added by a type name from its registry. Called when a Network is
// made, never from init. It also quiets zerolog's global logger, which
// toxiproxy's bandwidth toxic writes trace lines to on stderr (nothing else
// in mqcheck logs through zerolog).
func registerToxics() {
	registerOnce.Do(func() {
		toxics.Register(latencyToxic, new(seededLatency))
		zlog.Logger = zerolog.Nop()
	})
}

// seededLatency is toxiproxy's latency toxic with its jitter drawn from a
// seeded source (toxiproxy's draws from an unseeded one) and microsecond
// units. Each chunk is held until its delay has passed since it arrived,
// in order. Which chunk gets which delay still depends on how TCP splits
// the stream, which no seed controls.
type seededLatency struct {
	LatencyUS int64  `json:"latency_us"`
	JitterUS  int64  `json:"jitter_us"`
	Seed      uint64 `json:"seed"`

	mu  sync.Mutex
	rng *rand.Rand
}

func (t *seededLatency) GetBufferSize() int { return 1024 }

func (t *seededLatency) delay() time.Duration {
	d := t.LatencyUS
	if t.JitterUS > 0 {
		t.mu.Lock()
		if t.rng == nil {
			t.rng = rand.New(rand.NewPCG(t.Seed, 1))
		}
		d += t.rng.Int64N(2*t.JitterUS+1) - t.JitterUS
		t.mu.Unlock()
	}
	return time.Duration(d) * time.Microsecond
}

// Pipe follows toxiproxy's LatencyToxic.Pipe: an interrupt (the toxic is
// removed) forwards the chunk in hand rather than dropping it.
func (t *seededLatency) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			wait := time.NewTimer(t.delay() - time.Since(c.Timestamp))
			select {
			case <-wait.C:
				stub.Output <- c
			case <-stub.Interrupt:
				wait.Stop()
				stub.Output <- c
				return
			}
		}
	}
}
