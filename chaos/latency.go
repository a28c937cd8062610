package chaos

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2/toxics"
)

// latencyToxic is the toxiproxy type of seededLatency.
const latencyToxic = "mqcheck_latency"

// RegisterToxics makes mqcheck's toxics (a seeded latency) known to
// toxiproxy, whose toxics can only be added by a type name from its
// process-wide registry. That registry is the program's to change, not a
// library's: call this once at program start (main, or a test's TestMain),
// before any Network applies a latency fault.
func RegisterToxics() {
	toxics.Register(latencyToxic, new(seededLatency))
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
// removed) forwards the chunk in hand rather than dropping it. No send
// waits without also heeding an interrupt: a connection whose broker was
// killed stops reading, and a send blocked on it held the heal (toxiproxy's
// RemoveToxic) for ever, so the run never ended (seen with a container kill
// at the latency fault's end).
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
				select {
				case stub.Output <- c:
				case <-stub.Interrupt:
					_ = stub.WriteOutput(c, interruptedWrite)
					return
				}
			case <-stub.Interrupt:
				wait.Stop()
				_ = stub.WriteOutput(c, interruptedWrite)
				return
			}
		}
	}
}

// Cleanup, called by RemoveToxic once the toxic stopped (an interrupt that
// restarts it, to add or update a toxic, does not call it), hands on the
// chunks queued behind the toxic at that moment, each within
// interruptedWrite. One the next stage does not take in that time means
// its connection is gone (a killed broker's): the stub is closed, which
// ends the link, as toxiproxy's timeout toxic does. Otherwise RemoveToxic
// hands them on itself, waiting 5 s for each while it holds the proxy's
// lock: a link of a killed broker's connection with dozens queued held
// the heal for minutes (2m16s in CI), and no client could connect to the
// proxy meanwhile.
func (t *seededLatency) Cleanup(stub *toxics.ToxicStub) {
	// What is queued now, not what keeps coming: RemoveToxic stops the
	// stage before this one after Cleanup. This is the queue's only
	// reader, so what was queued is there.
	for range len(stub.Input) {
		c := <-stub.Input
		if c == nil {
			stub.Close()
			return
		}
		if stub.WriteOutput(c, interruptedWrite) != nil {
			stub.Close()
			return
		}
	}
}

// interruptedWrite bounds how long a removed latency toxic tries to hand on
// the chunk it holds (toxiproxy's own toxics wait 5 s): past it, the next
// stage is not reading, its connection is gone, and so is the chunk.
const interruptedWrite = time.Second
