package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mqcheck/mqcheck/broker"
	wire "github.com/mqcheck/mqcheck/message"
)

// TestBareVerifierCheck: the bare verified loop's check takes each sequence
// number once, counts it again as a duplicate, and rejects what a verifier
// must: records of another run or producer's numbering beyond n, damaged
// payloads, foreign bytes.
func TestBareVerifierCheck(t *testing.T) {
	t.Parallel()
	const runID, n = 1, 100
	enc, err := wire.NewEncoder(runID, 0, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	other, err := wire.NewEncoder(runID+1, 0, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	damaged := enc.Encode(enc.NewBuffer(), 8, 0, 0)
	damaged[len(damaged)-1] ^= 1
	v := newBareVerifier(n)
	for _, tt := range []struct {
		name  string
		value []byte
		want  int
	}{
		{"first of seq 7", enc.Encode(enc.NewBuffer(), 7, 0, 0), recordNew},
		{"seq 7 again", enc.Encode(enc.NewBuffer(), 7, 0, 0), recordDup},
		{"seq 8", enc.Encode(enc.NewBuffer(), 8, 0, 0), recordNew},
		{"seq 99, the last", enc.Encode(enc.NewBuffer(), 99, 0, 0), recordNew},
		{"seq 100, beyond n", enc.Encode(enc.NewBuffer(), 100, 0, 0), recordBad},
		{"another run", other.Encode(other.NewBuffer(), 9, 0, 0), recordBad},
		{"a flipped padding bit", damaged, recordBad},
		{"foreign bytes", []byte("not an mqcheck payload at all, but long enough for a header"), recordBad},
	} {
		if got := v.check(tt.value, runID); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestBareVerify: on a clean cluster the bare verified loop sees every
// record it produced, with two consumers of one group.
func TestBareVerify(t *testing.T) {
	t.Parallel()
	tgt := openTarget(t, testScenario(func(s *testSetup) { s.cfg.Acks = "all" }))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 5000
	took, err := BareVerify(ctx, tgt, n, 100, 2, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if took <= 0 {
		t.Errorf("took %v producing %d records", took, n)
	}
}

// TestBareProduceFor: the duration-bound bare loops (pooled, and
// franz-go's benchmark loop) produce for about as long as they are given,
// and the topic then holds exactly the records they say they produced,
// each with a value of its own, numbered as the loop numbers it.
func TestBareProduceFor(t *testing.T) {
	t.Parallel()
	for _, loop := range []struct {
		name    string
		produce func(context.Context, *broker.Target, time.Duration, int) (int, time.Duration, error)
		// number reads a record's number back from its value.
		number func(v []byte) (uint64, bool)
	}{
		// One value shared by all (the pooled loop's first design) is
		// cheaper for the client than any real load, and made mqcheck's
		// ratio look worse than it is.
		{"pooled", BareProduceFor, func(v []byte) (uint64, bool) { return binary.BigEndian.Uint64(v), true }},
		{"franz-go bench", BareBenchLoopFor, func(v []byte) (uint64, bool) {
			word, _, ok := bytes.Cut(v, []byte(" "))
			n, err := strconv.ParseUint(string(word), 10, 64)
			return n, ok && err == nil && bytes.Equal(v, fillNumber(make([]byte, len(v)), int(n)))
		}},
	} {
		t.Run(loop.name, func(t *testing.T) {
			t.Parallel()
			tgt := openTarget(t, testScenario(func(s *testSetup) { s.cfg.Acks = "all" }))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const d = 300 * time.Millisecond
			n, took, err := loop.produce(ctx, tgt, d, 100)
			if err != nil {
				t.Fatal(err)
			}
			if n <= 0 || took < d {
				t.Fatalf("%d records in %v, want some, in at least %v", n, took, d)
			}
			drv := tgt.Driver.(*driver)
			ends, err := drv.adm.ListEndOffsets(ctx, drv.set.topic)
			if err != nil {
				t.Fatal(err)
			}
			var held int64
			ends.Each(func(o kadm.ListedOffset) { held += o.Offset })
			if held != int64(n) {
				t.Fatalf("the topic holds %d records, the loop says it produced %d", held, n)
			}
			opts, err := drv.set.clientOpts(drv.seeds, "bare-check")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(drv.set.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			seen := make([]bool, n)
			for got := 0; got < n; {
				fs := cl.PollFetches(ctx)
				if err := fs.Err0(); err != nil {
					t.Fatalf("reading back after %d of %d records: %v", got, n, err)
				}
				for it := fs.RecordIter(); !it.Done(); {
					r := it.Next()
					num, ok := loop.number(r.Value)
					if len(r.Value) != 100 || !ok || num >= uint64(n) || seen[num] {
						t.Fatalf("record at %s/%d offset %d: %d bytes numbered %d (readable: %v), want 100 bytes and a number below %d seen once",
							r.Topic, r.Partition, r.Offset, len(r.Value), num, ok, n)
					}
					seen[num] = true
					got++
				}
			}
		})
	}
}

// TestFillNumber: franz-go's benchmark value, the number and a space over
// and over, cut at the value's end.
func TestFillNumber(t *testing.T) {
	for _, tc := range []struct {
		n    int
		size int
		want string
	}{
		{0, 5, "0 0 0"},
		{7, 1, "7"},
		{42, 8, "42 42 42"},
		{123456, 10, "123456 123"},
		{9, 0, ""},
	} {
		if got := string(fillNumber(make([]byte, tc.size), tc.n)); got != tc.want {
			t.Errorf("fillNumber(%d bytes, %d) = %q, want %q", tc.size, tc.n, got, tc.want)
		}
	}
}
