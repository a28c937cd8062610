package checker

import (
	"strconv"
	"strings"
	"testing"
)

// history parses a tiny shorthand so tests read like the histories they
// describe. Statements are separated by ";" or newlines:
//
//	s 0:0-9          producer 0 sent seqs 0..9 (a acked, f failed, i indeterminate)
//	r s0 p1 0:0-4,6  subscription s0 received, in domain p1, seqs 0..4 then 6, in that order
//	R s0 p1 0:3      the same, flagged redelivered by the broker
//	r s0 p1 0:3-4@7  the same, from storage positions 7 and 8 (a range of positions follows the seqs)
//	c s0 p1 0:7      a corrupted delivery claiming producer 0 seq 7
//	F s0 p1 0:1      a foreign delivery (another run's message)
//	j s0 p1 0:4      the harness rejected (failed on purpose) the delivery of seq 4
//	d s0 dlq 0:4     subscription s0 read seq 4 back from its dead-letter queue
//	x 0:5-9#2        producer 0's seqs 5..9 were aborted, in its transaction 2
//	e s0 - 0:4       subscription s0's side effect of seq 4, read back from the store
//
// Seq lists are in delivery order: "0:5,3" delivers 5 then 3.
func history(t testing.TB, names *Names, text string) []Event {
	t.Helper()
	var out []Event
	var at int64
	for _, stmt := range strings.FieldsFunc(text, func(r rune) bool { return r == ';' || r == '\n' }) {
		f := strings.Fields(stmt)
		if len(f) == 0 {
			continue
		}
		var kind Kind
		switch f[0] {
		case "s":
			kind = Sent
		case "a":
			kind = Acked
		case "f":
			kind = Failed
		case "i":
			kind = Indeterminate
		case "r", "R":
			kind = Received
		case "c":
			kind = Corrupted
		case "F":
			kind = Foreign
		case "d":
			kind = DeadLettered
		case "j":
			kind = Rejected
		case "x":
			kind = Aborted
		case "e":
			kind = Processed
		default:
			t.Fatalf("history: unknown statement %q", stmt)
		}
		var sub uint16
		var dom uint32
		rest := f[1:]
		if kind >= Received && kind != Aborted {
			if len(rest) < 2 {
				t.Fatalf("history: %q needs a subscription and a domain", stmt)
			}
			sid, err := strconv.Atoi(strings.TrimPrefix(rest[0], "s"))
			if err != nil {
				t.Fatalf("history: bad subscription in %q", stmt)
			}
			sub = uint16(sid)
			dom = names.Domain(sub, rest[1])
			rest = rest[2:]
		}
		for _, ps := range rest {
			pstr, seqs, ok := strings.Cut(ps, ":")
			if !ok {
				t.Fatalf("history: %q: want producer:seqs", ps)
			}
			p, err := strconv.Atoi(pstr)
			if err != nil {
				t.Fatalf("history: bad producer in %q", ps)
			}
			for _, part := range strings.Split(seqs, ",") {
				part, txnText, hasTxn := strings.Cut(part, "#")
				var txn uint64
				if hasTxn {
					var err error
					if txn, err = strconv.ParseUint(txnText, 10, 32); err != nil {
						t.Fatalf("history: bad transaction in %q", ps)
					}
				}
				part, posText, hasPos := strings.Cut(part, "@")
				var pos uint64
				if hasPos {
					var err error
					if pos, err = strconv.ParseUint(posText, 10, 64); err != nil {
						t.Fatalf("history: bad position in %q", ps)
					}
				}
				lo, hi, isRange := strings.Cut(part, "-")
				a, err1 := strconv.ParseUint(lo, 10, 64)
				b := a
				var err2 error
				if isRange {
					b, err2 = strconv.ParseUint(hi, 10, 64)
				}
				if err1 != nil || err2 != nil || b < a {
					t.Fatalf("history: bad seqs %q", part)
				}
				for s := a; s <= b; s++ {
					at++
					e := Event{Kind: kind, Redelivered: f[0] == "R", Sub: sub, Domain: dom,
						Producer: uint32(p), Seq: s, At: at, HasPosition: hasPos, Position: pos + (s - a), Txn: uint32(txn)}
					if kind == Foreign {
						e.Reason = OtherRun
					}
					out = append(out, e)
					if s == b { // b may be the top of the space
						break
					}
				}
			}
		}
	}
	return out
}
