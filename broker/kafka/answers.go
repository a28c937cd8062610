package kafka

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Lost answers. kfake's faults refuse an EndTxn before applying it; a
// transaction whose end was applied and whose answer never came back (the
// commit done, the producer unaware) needs the answer dropped on its way
// out. The embedded cluster's connections are ours (connTracker), so each
// one reads the headers of the requests it carries and, while answers to
// ended transactions are being lost, swallows the answer to every EndTxn
// and closes the connection instead, as a connection that died right
// after the broker did the work.

// requestFrames follows the request stream of one connection to read each
// request's header: size (4 bytes), api key (2), version (2), correlation
// id (4). Only the reading goroutine touches it.
type requestFrames struct {
	hdr  [12]byte
	n    int   // header bytes of the current request read so far
	left int64 // body bytes of the current request still to come
}

// feed reads p, the next bytes of the stream, calling header for every
// request header it completes.
func (f *requestFrames) feed(p []byte, header func(key int16, corr int32)) {
	for len(p) > 0 {
		if f.left > 0 {
			k := min(int64(len(p)), f.left)
			f.left -= k
			p = p[k:]
			continue
		}
		k := copy(f.hdr[f.n:], p)
		f.n += k
		p = p[k:]
		if f.n < len(f.hdr) {
			return
		}
		size := int64(binary.BigEndian.Uint32(f.hdr[0:4]))
		header(int16(binary.BigEndian.Uint16(f.hdr[4:6])), int32(binary.BigEndian.Uint32(f.hdr[8:12])))
		f.n, f.left = 0, max(0, size-8)
	}
}

// lostAnswers are the correlation ids of one connection whose answers are
// dropped.
type lostAnswers struct {
	mu   sync.Mutex
	corr map[int32]struct{}
}

func (l *lostAnswers) add(corr int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.corr == nil {
		l.corr = make(map[int32]struct{})
	}
	l.corr[corr] = struct{}{}
}

// take reports whether the answer b (a whole response: size, correlation
// id, body) is to be dropped, and forgets it.
func (l *lostAnswers) take(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	corr := int32(binary.BigEndian.Uint32(b[4:8]))
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.corr[corr]; !ok {
		return false
	}
	delete(l.corr, corr)
	return true
}

// errAnswerLost is what the broker's side of a connection sees when it
// dropped an answer.
var errAnswerLost = errors.New("answer dropped (fault injection: txn-answer-loss)")

// endTxnKey is the request whose answers txn-answer-loss drops.
var endTxnKey = int16(kmsg.EndTxn)

// DropTxnAnswers starts (or stops) losing the answers to every request
// that ends a transaction: the broker commits or aborts, the client hears
// nothing and its connection closes.
func (e *embedded) DropTxnAnswers(drop bool) error {
	e.conns.dropTxn.Store(drop)
	return nil
}
