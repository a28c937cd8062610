package checker

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkIngest feeds the checker the history of 10 million messages (sent,
// acked, received: three events each) from 4 producers over 4 domains and
// reports the cost per event and the state kept per message. Run with
// -benchtime=1x: one op is the whole 10M-message history. "positions"
// deliveries carry storage positions as Kafka's do; "epoch-1" sequence
// numbers start at 2^32.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []struct {
		name            string
		reorder, dupPct int // per 100 messages
		positions       bool
		start           uint64
	}{
		{"in-order", 0, 0, false, 0},
		{"reorder-1pct", 1, 0, false, 0},
		{"dup-1pct", 0, 1, false, 0},
		{"positions-dup-1pct", 0, 1, true, 0},
		{"epoch-1", 0, 0, false, 1 << 32},
	} {
		b.Run(mode.name, func(b *testing.B) {
			const messages = 10_000_000
			const producers = 4
			const batch = 4096
			var events, stateBytes, dups, reorders uint64
			for range b.N {
				b.StopTimer()
				names := NewNames("s0")
				c := New(names)
				doms := [producers]uint32{}
				for p := range doms {
					doms[p] = names.Domain(0, "t/"+string(rune('0'+p)))
				}
				rng := rand.New(rand.NewPCG(1, 2))
				buf := make([]Event, 0, batch+4)
				next := [producers]uint64{mode.start, mode.start, mode.start, mode.start}
				var pos [producers]uint64
				held := [producers]int64{-1, -1, -1, -1}
				sent := 0
				b.StartTimer()
				for sent < messages {
					b.StopTimer()
					buf = buf[:0]
					for len(buf) < batch && sent < messages {
						p := uint32(sent % producers)
						s := next[p]
						next[p]++
						sent++
						at := int64(sent)
						buf = append(buf,
							Event{Kind: Sent, Producer: p, Seq: s, At: at},
							Event{Kind: Acked, Producer: p, Seq: s, At: at})
						recv := Event{Kind: Received, Producer: p, Seq: s, Domain: doms[p], At: at,
							HasPosition: mode.positions, Position: pos[p]}
						pos[p]++
						switch {
						case held[p] >= 0:
							// deliver this one, then the held lower one: one reorder
							buf = append(buf, recv)
							recv.Seq = uint64(held[p])
							held[p] = -1
						case mode.reorder > 0 && rng.IntN(100) < mode.reorder:
							held[p] = int64(s)
							continue
						case mode.dupPct > 0 && rng.IntN(100) < mode.dupPct:
							buf = append(buf, recv)
						}
						buf = append(buf, recv)
					}
					events += uint64(len(buf))
					b.StartTimer()
					c.Apply(buf)
					if sent%(1<<20) < batch/3 {
						c.Compact()
					}
				}
				c.Compact()
				stateBytes += c.SizeBytes()
				l := c.Live()
				dups += l.Duplicated
				reorders += l.Reordered
			}
			ns := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(ns/float64(events), "ns/event")
			b.ReportMetric(float64(events)/ns*1e3, "Mevents/s")
			b.ReportMetric(float64(stateBytes)/float64(uint64(b.N)*messages), "state-B/msg")
			b.ReportMetric(float64(dups)/float64(b.N), "dups")
			b.ReportMetric(float64(reorders)/float64(b.N), "reorders")
		})
	}
}

// BenchmarkFinalize measures the end-of-run computation for 10M messages.
func BenchmarkFinalize(b *testing.B) {
	names := NewNames("s0")
	c := New(names)
	dom := names.Domain(0, "t/0")
	buf := make([]Event, 0, 3*4096)
	for s := uint64(0); s < 10_000_000; s++ {
		buf = append(buf, Event{Kind: Sent, Seq: s}, Event{Kind: Acked, Seq: s})
		if s%1000 != 0 {
			buf = append(buf, Event{Kind: Received, Seq: s, Domain: dom})
		}
		if len(buf) >= 3*4096-3 {
			c.Apply(buf)
			buf = buf[:0]
		}
	}
	c.Apply(buf)
	c.Compact()
	b.ResetTimer()
	for range b.N {
		r := c.Finalize(Options{Drained: true, Claims: allClaims})
		if r.Counts.Lost != 10_000 {
			b.Fatalf("lost %d", r.Counts.Lost)
		}
	}
}
