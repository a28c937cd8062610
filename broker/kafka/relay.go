package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mqcheck/mqcheck/broker"
)

// relay is a run's consume-transform-produce stage: its workers read the
// producers' topic in one consumer group and write every record, unchanged
// (value, key, partition number), to the relay's topic, which the
// consumers read instead. mqcheck's header travels in the value, so the
// checker sees the producers' messages; it sees the relay's topic only,
// whose partitions are the ordering domains.
//
// Transactional (broker.RelaySpec.Transactional): each poll's records are
// written in one transaction that also commits the poll's input offsets
// (franz-go's GroupTransactSession, KIP-447): either both happen or
// neither, so a worker that dies writes nothing twice. Without: the
// records are written, flushed, then the input offsets committed; a
// worker that dies in between has its records written again by the next
// owner of its partitions.
//
// Each worker has a transactional id and a static group instance id of its
// own, which the worker that replaces it after a crash takes over: the new
// instance fences the old one at the broker (its producer epoch, its group
// membership), as a restarted process would.
type relay struct {
	set   *settings
	seeds []string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // running workers
	dying  sync.WaitGroup // crashed and zombie clients still closing

	mu      sync.Mutex
	started bool
	stopped bool
	workers []*relayWorker // the current instance of each worker
}

var _ broker.Relay = (*relay)(nil)

// Relay settings. A poll of at most relayBatch records is one transaction.
const (
	relayBatch = 500
	// relayTxnTimeout bounds a transaction the broker holds open for a
	// worker that died without ending it, where no new instance comes to
	// fence it.
	relayTxnTimeout = 10 * time.Second
	// relayIdle: a fault waits this long for a worker to reach the middle
	// of a batch before it acts on the worker where it is (idle, polling).
	relayIdle = 3 * time.Second
	// relayTakeover bounds how long a zombie fault waits for the new
	// instance to take over (its first commit) before the old one goes on.
	relayTakeover = 10 * time.Second
	// relayRestartAfter spaces the restarts of a worker that failed.
	relayRestartAfter = time.Second
)

func newRelay(d *driver) *relay {
	r := &relay{set: &d.set, seeds: d.seeds}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

// start starts every worker; Setup calls it once the topics exist.
func (r *relay) start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil
	}
	r.started = true
	for i := range r.set.relay.Workers {
		w, err := r.newWorker(i, 0)
		if err != nil {
			r.cancel()
			return fmt.Errorf("starting relay worker %d: %w", i, err)
		}
		r.workers = append(r.workers, w)
		r.run(w)
	}
	return ctx.Err()
}

// run runs w until the relay stops or w ends; a worker that failed is
// started again, as a supervisor restarts a process.
func (r *relay) run(w *relayWorker) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := w.run()
		if err == nil || r.ctx.Err() != nil || w.retired.Load() {
			return
		}
		r.notify("relay-error", fmt.Sprintf("relay worker %d (instance %d) failed, starting it again: %v", w.i, w.gen, err), true)
		select {
		case <-time.After(relayRestartAfter):
		case <-r.ctx.Done():
			return
		}
		if _, err := r.replace(w); err != nil && !errors.Is(err, errReplaced) {
			r.notify("relay-error", fmt.Sprintf("relay worker %d: %v", w.i, err), true)
		}
	}()
}

// replace starts a new instance of old's worker in its place.
func (r *relay) replace(old *relayWorker) (*relayWorker, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, errors.New("the relay is stopping")
	}
	if r.workers[old.i] != old {
		return nil, fmt.Errorf("instance %d of relay worker %d: %w", old.gen, old.i, errReplaced)
	}
	old.retired.Store(true)
	w, err := r.newWorker(old.i, old.gen+1)
	if err != nil {
		return nil, fmt.Errorf("starting instance %d of relay worker %d: %w", old.gen+1, old.i, err)
	}
	r.workers[old.i] = w
	r.run(w)
	return w, nil
}

// worker returns the current instance of worker i.
func (r *relay) worker(i int) (*relayWorker, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.started:
		return nil, errors.New("the relay has not started")
	case r.stopped:
		return nil, errors.New("the relay is stopping")
	case i < 0 || i >= len(r.workers):
		return nil, fmt.Errorf("relay worker %d: the relay has workers 0 to %d", i, len(r.workers)-1)
	}
	return r.workers[i], nil
}

// Workers is the number of relay workers.
func (r *relay) Workers() int { return r.set.relay.Workers }

// errReplaced: the instance a fault took was replaced meanwhile (it had
// failed, and the relay started it again).
var errReplaced = errors.New("it was already replaced")

// Crash kills worker i in the middle of a batch: it writes (and flushes)
// half the batch, then its connections are cut with nothing ended or
// committed. A new instance takes its place. A worker that reaches no batch
// within relayIdle is killed where it is. An instance that failed by itself
// meanwhile and was started again makes the crash take the new one.
func (r *relay) Crash(ctx context.Context, i int) error {
	for try := 0; ; try++ {
		err := r.crash(ctx, i)
		if !errors.Is(err, errReplaced) || try == 2 {
			return err
		}
	}
}

func (r *relay) crash(ctx context.Context, i int) error {
	w, err := r.worker(i)
	if err != nil {
		return fmt.Errorf("crashing %w", err)
	}
	reached := w.ask(ctx, hookCrash)
	w.kill.kill()
	r.closeLater(w)
	if _, err := r.replace(w); err != nil {
		return fmt.Errorf("crashing relay worker %d: %w", i, err)
	}
	where := "idle, between batches"
	if reached != nil {
		where = fmt.Sprintf("mid-batch, after writing %d of %d records", reached.written, reached.batch)
	}
	r.notify("relay-crash", fmt.Sprintf("relay worker %d (instance %d) killed %s; instance %d took over", i, w.gen, where, w.gen+1), false)
	return nil
}

// Zombie starts a second instance of worker i while the first is held in
// the middle of a batch; once the new instance has taken over (its first
// commit), the first goes on as if nothing happened: it writes the rest of
// its batch and commits. The broker must refuse what it writes and commits.
func (r *relay) Zombie(ctx context.Context, i int) (string, error) {
	for try := 0; ; try++ {
		d, err := r.zombie(ctx, i)
		if !errors.Is(err, errReplaced) || try == 2 {
			return d, err
		}
	}
}

func (r *relay) zombie(ctx context.Context, i int) (string, error) {
	old, err := r.worker(i)
	if err != nil {
		return "", fmt.Errorf("starting a zombie of %w", err)
	}
	reached := old.ask(ctx, hookZombie)
	nw, err := r.replace(old)
	if err != nil {
		if reached != nil {
			close(reached.resume)
		}
		return "", fmt.Errorf("starting a zombie of relay worker %d: %w", i, err)
	}
	took := "it took over"
	select {
	case <-nw.firstCommit:
	case <-time.After(relayTakeover):
		took = fmt.Sprintf("it had not committed within %s", relayTakeover)
	case <-ctx.Done():
		took = "the run ended first"
	}
	if reached == nil {
		old.kill.kill()
		r.closeLater(old)
		detail := fmt.Sprintf("relay worker %d: instance %d started while instance %d was idle (%s); the old instance wrote nothing more", i, nw.gen, old.gen, took)
		r.notify("relay-zombie", detail, false)
		return detail, nil
	}
	close(reached.resume)
	var res zombieResult
	select {
	case res = <-reached.result:
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	old.kill.kill()
	r.closeLater(old)
	detail := fmt.Sprintf("relay worker %d: instance %d started while instance %d was mid-batch (%d of %d records written), and %s; "+
		"the old instance then wrote %d more records (%d accepted by the broker, %d refused) and committed: %s",
		i, nw.gen, old.gen, reached.written, reached.batch, took, res.wrote, res.accepted, res.wrote-res.accepted, res.commit())
	r.notify("relay-zombie", detail, false)
	return detail, nil
}

// closeLater closes a crashed or fenced instance's client in the
// background: its connections are cut, so whatever it tries fails, and
// nothing it does may hold up the run.
func (r *relay) closeLater(w *relayWorker) {
	r.dying.Add(1)
	go func() {
		defer r.dying.Done()
		w.stop()
		<-w.done
		w.close()
	}()
}

// stop ends every worker after its current batch (Driver.Close: the
// consumers have stopped) and closes their clients, within ctx.
func (r *relay) stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		r.mu.Lock()
		ws := append([]*relayWorker(nil), r.workers...)
		r.mu.Unlock()
		for _, w := range ws {
			w.close()
		}
		r.dying.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping the relay: %w", ctx.Err())
	}
}

func (r *relay) notify(kind, detail string, warning bool) {
	if r.set.log != nil {
		r.set.log.Info("relay", "kind", kind, "detail", detail)
	}
	if n := r.set.env.Notify; n != nil {
		n(broker.Notice{Kind: kind, Detail: detail, At: time.Now(), Warning: warning})
	}
}
