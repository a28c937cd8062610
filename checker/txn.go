package checker

import "fmt"

// maxTxnSpans bounds how many aborted transactions a producer's evidence can
// name: the set of aborted messages is exact whatever the run's length, the
// names of their transactions are kept for the first ones only.
const maxTxnSpans = 4096

// txnSpan is one aborted transaction of a producer: its number and the
// sequence numbers written in it.
type txnSpan struct {
	first, last uint64
	txn         uint32
}

// txnSpans lists a producer's first aborted transactions in the order their
// messages were reported.
type txnSpans []txnSpan

// add records that seq was written in aborted transaction txn (0: unknown).
func (ts *txnSpans) add(seq uint64, txn uint32) {
	if n := len(*ts); n > 0 {
		last := &(*ts)[n-1]
		if last.txn == txn && seq == last.last+1 {
			last.last = seq
			return
		}
	}
	if len(*ts) < maxTxnSpans {
		*ts = append(*ts, txnSpan{first: seq, last: seq, txn: txn})
	}
}

// of returns the transaction seq was written in, if it is one of those kept.
func (ts txnSpans) of(seq uint64) (txnSpan, bool) {
	for _, t := range ts {
		if seq >= t.first && seq <= t.last {
			return t, true
		}
	}
	return txnSpan{}, false
}

func (ts txnSpans) sizeBytes() uint64 { return uint64(24 * cap(ts)) }

// abortedReadExamples adds evidence of aborted messages sub received: one
// example per aborted transaction (or per run of sequence numbers, past the
// transactions whose names were kept), naming it.
func (c *Checker) abortedReadExamples(r *Result, set *seqSet, producer uint32, sub uint16, p *producer) {
	const anomaly = "aborted_read"
	var start, prev uint64
	var span txnSpan
	var named, open bool
	flush := func() bool {
		if len(r.Examples[anomaly]) >= MaxExamples {
			return false
		}
		x := Example{Anomaly: anomaly, Producer: producer, Seq: start, SeqEnd: prev, Subscription: c.names.Sub(sub)}
		if at := p.sentAt.estimate(start); at != 0 {
			x.At, x.Approximate = at, true
		}
		n := prev - start + 1
		switch {
		case named && span.txn != 0:
			x.Txn = span.txn
			x.Detail = fmt.Sprintf("written in transaction %d of producer %d (seq %d to %d), which the broker confirmed aborted; %d of its messages delivered",
				span.txn, producer, span.first, span.last, n)
		default:
			x.Detail = fmt.Sprintf("written in a transaction the broker confirmed aborted; %d messages delivered", n)
		}
		r.Examples[anomaly] = append(r.Examples[anomaly], x)
		return true
	}
	for v := range set.All() {
		t, ok := p.txns.of(v)
		switch {
		case !open:
		case v == prev+1 && ok == named && (!ok || t == span):
			prev = v
			continue
		default:
			if !flush() {
				return
			}
		}
		start, prev, span, named, open = v, v, t, ok, true
	}
	if open {
		flush()
	}
}
