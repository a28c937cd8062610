package checker

import (
	"encoding/gob"
	"fmt"
	"io"
)

// stateVersion changes whenever the saved layout does. 2: 64-bit sets (one
// bitmap per 2^32 epoch), ack times, storage positions per domain. 3:
// aborted messages and the transactions they were in. 4: duplicates per
// producer. 5: the processed layer (side effects read back).
const stateVersion = 5

// savedState is the checker's state on disk: names instead of ids, so that
// states from different processes (workers of one run) can be merged.
type savedState struct {
	Version   int
	Subs      []string
	Producers []savedProducer
	Recv      []savedRecv
	Domains   []savedDomain
	Foreign   uint64
	Corrupt   uint64
	// Unchecked: header-only deliveries (gob leaves it zero in a state
	// saved before it existed, which had none).
	Unchecked uint64
	Beyond    uint64
	Reorders  uint64
	Received  uint64
	Examples  map[string][]Example
}

type savedProducer struct {
	ID                                          uint32
	Sent, Acked, Failed, Indeterminate, Aborted []byte
	SentAt, AckedAt                             savedTimes
	Txns                                        []SavedTxn
}

// SavedTxn is one aborted transaction named in saved state.
type SavedTxn struct {
	First, Last uint64
	Txn         uint32
}

type savedRecv struct {
	Sub                                          string
	Dup, DupRedel, DupStored, DupNoPos, Rejected uint64
	Producers                                    []uint32
	Sets                                         [][]byte
	DeadProducers                                []uint32
	DeadSets                                     [][]byte
	// DupsBy are the duplicates of each producer that had any.
	DupsBy []savedDups
	// The processed layer (side effects read back), when the run had one.
	ProcTwice, ProcAll uint64
	ProcProducers      []uint32
	ProcSets           [][]byte
}

type savedDups struct {
	Producer                  uint32
	Dup, Redel, Stored, NoPos uint64
}

type savedDomain struct {
	Sub       string
	Name      string
	High      []uint64 // the highest first delivery of producer i, if Seen[i]
	Seen      []bool
	Positions []byte
}

// Save writes the whole state (sets, counters, evidence) to w.
func (c *Checker) Save(w io.Writer) error {
	c.Compact()
	subs, domains := c.names.snapshot()
	st := savedState{Version: stateVersion, Subs: subs, Foreign: c.foreign, Corrupt: c.corrupt,
		Unchecked: c.unchecked, Beyond: c.beyond, Reorders: c.reorders, Received: c.received, Examples: c.examples}
	for id, p := range c.producers {
		if p == nil {
			continue
		}
		sp := savedProducer{ID: uint32(id), SentAt: p.sentAt.save(), AckedAt: p.ackedAt.save()}
		for _, t := range p.txns {
			sp.Txns = append(sp.Txns, SavedTxn{First: t.first, Last: t.last, Txn: t.txn})
		}
		var err error
		for _, f := range []struct {
			dst *[]byte
			set *seqSet
		}{{&sp.Sent, &p.sent}, {&sp.Acked, &p.acked}, {&sp.Failed, &p.failed}, {&sp.Indeterminate, &p.indeterminate},
			{&sp.Aborted, &p.aborted}} {
			if *f.dst, err = f.set.MarshalBinary(); err != nil {
				return fmt.Errorf("saving checker state of producer %d: %w", id, err)
			}
		}
		st.Producers = append(st.Producers, sp)
	}
	for sid, s := range c.subs {
		sr := savedRecv{Sub: c.names.Sub(uint16(sid)), Dup: s.dups.all, DupRedel: s.dups.redel, DupStored: s.dups.stored,
			DupNoPos: s.dups.noPos, Rejected: s.rejected, ProcTwice: s.procTwice, ProcAll: s.procAll}
		for p, d := range s.dupsBy {
			if d.all > 0 {
				sr.DupsBy = append(sr.DupsBy, savedDups{Producer: uint32(p), Dup: d.all, Redel: d.redel, Stored: d.stored, NoPos: d.noPos})
			}
		}
		var err error
		if sr.Producers, sr.Sets, err = saveSets(s.recv); err != nil {
			return fmt.Errorf("saving received set of %s: %w", sr.Sub, err)
		}
		if sr.DeadProducers, sr.DeadSets, err = saveSets(s.dead); err != nil {
			return fmt.Errorf("saving dead-lettered set of %s: %w", sr.Sub, err)
		}
		if sr.ProcProducers, sr.ProcSets, err = saveSets(s.proc); err != nil {
			return fmt.Errorf("saving processed set of %s: %w", sr.Sub, err)
		}
		st.Recv = append(st.Recv, sr)
	}
	for id, d := range c.domains {
		if d == nil || id >= len(domains) {
			continue
		}
		pos, err := d.positions.MarshalBinary()
		if err != nil {
			return fmt.Errorf("saving the positions of domain %s: %w", domains[id].Name, err)
		}
		sd := savedDomain{Sub: subName(subs, domains[id].Sub), Name: domains[id].Name, Positions: pos}
		for _, h := range d.high {
			sd.High, sd.Seen = append(sd.High, h.seq), append(sd.Seen, h.seen)
		}
		st.Domains = append(st.Domains, sd)
	}
	if err := gob.NewEncoder(w).Encode(&st); err != nil {
		return fmt.Errorf("saving checker state: %w", err)
	}
	return nil
}

func saveSets(sets []*seqSet) (ids []uint32, data [][]byte, err error) {
	for pid, set := range sets {
		if set == nil {
			continue
		}
		b, err := set.MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		ids = append(ids, uint32(pid))
		data = append(data, b)
	}
	return ids, data, nil
}

func subName(subs []string, id uint16) string {
	if int(id) < len(subs) {
		return subs[id]
	}
	return fmt.Sprintf("sub-%d", id)
}

// Load reads a state written by Save into a new checker.
func Load(r io.Reader) (*Checker, error) {
	var st savedState
	if err := gob.NewDecoder(r).Decode(&st); err != nil {
		return nil, fmt.Errorf("reading checker state: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("checker state has version %d, this mqcheck reads version %d", st.Version, stateVersion)
	}
	c := New(NewNames(st.Subs...))
	if err := c.mergeSaved(&st); err != nil {
		return nil, err
	}
	return c, nil
}

// MergeState folds a state written by Save into c, as Merge does, without
// building a checker of it first (mqcheck merge reads many large states).
func (c *Checker) MergeState(r io.Reader) error {
	var st savedState
	if err := gob.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("reading checker state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("checker state has version %d, this mqcheck reads version %d", st.Version, stateVersion)
	}
	return c.mergeSaved(&st)
}

// Merge folds another checker's state into c, as if one checker had seen
// both histories: sets are united, and a message both received within one
// subscription counts as a duplicate. Order is judged per process, so
// reorder counts add up.
func (c *Checker) Merge(o *Checker) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(o.Save(pw)) }()
	var st savedState
	if err := gob.NewDecoder(pr).Decode(&st); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("merging checker state: %w", err)
	}
	_, _ = io.Copy(io.Discard, pr)
	return c.mergeSaved(&st)
}

func (c *Checker) mergeSaved(st *savedState) error {
	c.foreign += st.Foreign
	c.corrupt += st.Corrupt
	c.unchecked += st.Unchecked
	c.beyond += st.Beyond
	c.reorders += st.Reorders
	c.received += st.Received
	for k, xs := range st.Examples {
		for _, x := range xs {
			if len(c.examples[k]) < MaxExamples {
				c.examples[k] = append(c.examples[k], x)
			}
		}
	}
	for _, sp := range st.Producers {
		p := c.producer(sp.ID)
		if p == nil {
			return fmt.Errorf("merging checker state: producer id %d out of range", sp.ID)
		}
		for _, f := range []struct {
			src []byte
			set *seqSet
		}{{sp.Sent, &p.sent}, {sp.Acked, &p.acked}, {sp.Failed, &p.failed}, {sp.Indeterminate, &p.indeterminate},
			{sp.Aborted, &p.aborted}} {
			if err := f.set.UnmarshalBinary(f.src); err != nil {
				return fmt.Errorf("merging checker state of producer %d: %w", sp.ID, err)
			}
		}
		for _, t := range sp.Txns {
			if len(p.txns) < maxTxnSpans {
				p.txns = append(p.txns, txnSpan{first: t.First, last: t.Last, txn: t.Txn})
			}
		}
		p.sentAt.merge(sp.SentAt)
		p.ackedAt.merge(sp.AckedAt)
	}
	for _, sr := range st.Recv {
		sid := c.names.subID(sr.Sub)
		for int(sid) >= len(c.subs) {
			c.subs = append(c.subs, &subscription{})
		}
		s := c.subs[sid]
		s.rejected += sr.Rejected
		var byProducer uint64
		for _, d := range sr.DupsBy {
			if c.producer(d.Producer) == nil {
				return fmt.Errorf("merging checker state: producer id %d out of range", d.Producer)
			}
			s.addDups(d.Producer, dups{all: d.Dup, redel: d.Redel, stored: d.Stored, noPos: d.NoPos})
			byProducer += d.Dup
		}
		if byProducer != sr.Dup {
			return fmt.Errorf("merging checker state: subscription %s counts %d duplicates, %d by producer", sr.Sub, sr.Dup, byProducer)
		}
		if len(sr.Producers) != len(sr.Sets) || len(sr.DeadProducers) != len(sr.DeadSets) {
			return fmt.Errorf("merging checker state: subscription %s is inconsistent", sr.Sub)
		}
		for i, pid := range sr.Producers {
			both, err := c.mergeSet(&s.recv, pid, sr.Sets[i])
			if err != nil {
				return fmt.Errorf("merging received set of %s: %w", sr.Sub, err)
			}
			// Found only by the merge: no storage position is known.
			n := both.Cardinality()
			s.addDups(pid, dups{all: n, noPos: n})
			// A duplicate found only by the merge needs its evidence too.
			for seq := range both.All() {
				if !c.room("duplicated") {
					break
				}
				c.examples["duplicated"] = append(c.examples["duplicated"], Example{Anomaly: "duplicated",
					Producer: pid, Seq: seq, SeqEnd: seq, Subscription: sr.Sub,
					Detail: "received in this subscription by two merged runs"})
			}
		}
		for i, pid := range sr.DeadProducers {
			if _, err := c.mergeSet(&s.dead, pid, sr.DeadSets[i]); err != nil {
				return fmt.Errorf("merging dead-lettered set of %s: %w", sr.Sub, err)
			}
		}
		if len(sr.ProcProducers) != len(sr.ProcSets) {
			return fmt.Errorf("merging checker state: subscription %s is inconsistent", sr.Sub)
		}
		s.procTwice += sr.ProcTwice
		s.procAll += sr.ProcAll
		for i, pid := range sr.ProcProducers {
			// A message both merged runs processed was processed twice.
			both, err := c.mergeSet(&s.proc, pid, sr.ProcSets[i])
			if err != nil {
				return fmt.Errorf("merging processed set of %s: %w", sr.Sub, err)
			}
			s.procTwice += both.Cardinality()
		}
	}
	for _, sd := range st.Domains {
		d := c.domain(c.names.Domain(c.names.subID(sd.Sub), sd.Name))
		if err := d.positions.UnmarshalBinary(sd.Positions); err != nil {
			return fmt.Errorf("merging the positions of domain %s: %w", sd.Name, err)
		}
		if len(sd.High) != len(sd.Seen) {
			return fmt.Errorf("merging checker state: domain %s is inconsistent", sd.Name)
		}
		for p, seq := range sd.High {
			for len(d.high) <= p {
				d.high = append(d.high, highest{})
			}
			if h := &d.high[p]; sd.Seen[p] && (!h.seen || seq > h.seq) {
				*h = highest{seq, true}
			}
		}
	}
	return nil
}

// mergeSet unites a saved set into (*sets)[pid] and returns the members
// both had.
func (c *Checker) mergeSet(sets *[]*seqSet, pid uint32, data []byte) (*seqSet, error) {
	if c.producer(pid) == nil {
		return nil, fmt.Errorf("producer id %d out of range", pid)
	}
	var set seqSet
	if err := set.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	dst := setAt(sets, pid)
	both := and(dst, &set)
	dst.Or(&set)
	return both, nil
}
