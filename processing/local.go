package processing

import (
	"context"
	"sync"
)

// local is the memory and none stores: there is no server, so the side
// effect is an entry appended to a ledger of the mqcheck process (standing
// for the business effect: a row written, a mail sent), and that ledger is
// what Effects reads back. With dedupe (memory), each consumer process
// keeps the keys it processed in a map of its own, gone when it crashes.
type local struct {
	dedupe bool
	mu     sync.Mutex
	ledger []Effect
}

func newLocal(dedupe bool) *local { return &local{dedupe: dedupe} }

func (l *local) Kind() string {
	if l.dedupe {
		return Memory
	}
	return None
}

func (l *local) Open(context.Context, int) (Processor, error) {
	p := &localProc{l: l}
	if l.dedupe {
		p.seen = map[Key]struct{}{}
	}
	return p, nil
}

func (l *local) Effects(_ context.Context, fn func([]Effect)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	const chunk = 4096
	for i := 0; i < len(l.ledger); i += chunk {
		fn(l.ledger[i:min(i+chunk, len(l.ledger))])
	}
	return nil
}

func (l *local) Close(context.Context) error { return nil }

func (l *local) effect(e Effect) {
	l.mu.Lock()
	l.ledger = append(l.ledger, e)
	l.mu.Unlock()
}

type localProc struct {
	l    *local
	seen map[Key]struct{} // nil without dedupe
}

func (p *localProc) Process(_ context.Context, k Key, at int64, stop Point) (Outcome, error) {
	if p.seen != nil {
		if _, ok := p.seen[k]; ok {
			return Skipped, nil
		}
		p.seen[k] = struct{}{}
	}
	if stop == AfterDedupe {
		return Stopped, nil
	}
	p.l.effect(Effect{Key: k, At: at})
	return Applied, nil
}

func (p *localProc) Close() error {
	p.seen = nil
	return nil
}
