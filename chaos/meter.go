package chaos

import "time"

// meter follows live progress from a fault's start and keeps, for each
// side, the longest stretch in which its count did not move. A side stops
// being measured when it recovered (or, for publishing, when the load
// ended): a stretch still open then ends there.
type meter struct {
	progress     Progress
	loadEnd      time.Time
	pub, deliver side
}

type side struct {
	last    uint64
	since   time.Time // of the last move (or the start)
	longest time.Duration
	stopped bool
}

func newMeter(p Progress, start, loadEnd time.Time) *meter {
	acked, recv := p()
	return &meter{progress: p, loadEnd: loadEnd,
		pub: side{last: acked, since: start}, deliver: side{last: recv, since: start}}
}

// sample reads progress at now and returns it.
func (m *meter) sample(now time.Time) (acked, received uint64) {
	acked, received = m.progress()
	if !m.loadEnd.IsZero() && now.After(m.loadEnd) {
		m.stopPublish(m.loadEnd)
	}
	m.pub.move(acked, now)
	m.deliver.move(received, now)
	return acked, received
}

func (s *side) move(n uint64, now time.Time) {
	if s.stopped || n == s.last {
		return
	}
	s.longest = max(s.longest, now.Sub(s.since))
	s.last, s.since = n, now
}

func (s *side) stop(now time.Time) {
	if s.stopped {
		return
	}
	if now.After(s.since) {
		s.longest = max(s.longest, now.Sub(s.since))
	}
	s.stopped = true
}

func (m *meter) stopPublish(now time.Time)  { m.pub.stop(now) }
func (m *meter) stopDelivery(now time.Time) { m.deliver.stop(now) }

// finish closes both sides at now and returns their longest stretches.
func (m *meter) finish(now time.Time) (noPublish, noDelivery time.Duration) {
	m.pub.stop(now)
	m.deliver.stop(now)
	return m.pub.longest, m.deliver.longest
}
