package chaos

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
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
	// stuck holds the stubs whose next stage stopped taking chunks when
	// the toxic was being removed (see handOn and Cleanup).
	stuck map[*toxics.ToxicStub]bool
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
			t.handOn(stub, nil)
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
					t.handOn(stub, c)
					return
				}
			case <-stub.Interrupt:
				wait.Stop()
				t.handOn(stub, c)
				return
			}
		}
	}
}

// handOn, as the toxic is removed, hands on the chunk in hand (c, if any)
// and those queued behind it, each within interruptedWrite. One the next
// stage does not take in that time marks the stub stuck: its connection
// is gone, and Cleanup ends the link. Otherwise toxiproxy's RemoveToxic
// hands on what is queued itself, waiting 5 s for each chunk: a link of a
// killed broker's connection with dozens queued held the heal for minutes
// (2m16s in CI, until the run ended and closed the connections).
func (t *seededLatency) handOn(stub *toxics.ToxicStub, c *stream.StreamChunk) {
	// What is queued now, not what keeps coming: RemoveToxic stops the
	// stage before this one once this toxic has returned.
	for queued := len(stub.Input); ; queued-- {
		if c != nil && stub.WriteOutput(c, interruptedWrite) != nil {
			t.mu.Lock()
			if t.stuck == nil {
				t.stuck = map[*toxics.ToxicStub]bool{}
			}
			t.stuck[stub] = true
			t.mu.Unlock()
			return
		}
		if queued == 0 {
			return
		}
		// This toxic is the queue's only reader: what was queued is there.
		if c = <-stub.Input; c == nil {
			stub.Close()
			return
		}
	}
}

// Cleanup, called by RemoveToxic once the toxic stopped, closes a stuck
// stub (handOn), which ends its link and its connection, so that the heal
// does not wait on it; toxiproxy's timeout toxic closes its stub the same
// way.
func (t *seededLatency) Cleanup(stub *toxics.ToxicStub) {
	t.mu.Lock()
	stuck := t.stuck[stub]
	delete(t.stuck, stub)
	t.mu.Unlock()
	if stuck {
		stub.Close()
	}
}

// interruptedWrite bounds how long a removed latency toxic tries to hand on
// the chunk it holds (toxiproxy's own toxics wait 5 s): past it, the next
// stage is not reading, its connection is gone, and so is the chunk.
const interruptedWrite = time.Second
