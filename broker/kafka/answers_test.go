package kafka

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

type reqHeader struct {
	key  int16
	corr int32
}

// frame is one request as a client writes it: size, api key, version,
// correlation id, then body bytes.
func frame(key int16, corr int32, body int) []byte {
	b := make([]byte, 12+body)
	binary.BigEndian.PutUint32(b[0:4], uint32(8+body))
	binary.BigEndian.PutUint16(b[4:6], uint16(key))
	binary.BigEndian.PutUint16(b[6:8], 3)
	binary.BigEndian.PutUint32(b[8:12], uint32(corr))
	return b
}

// TestRequestFramesFindEveryHeader: however the stream is cut into reads
// (kfake reads the size, then the body; a socket may split either), every
// request's key and correlation id is found, in order, and bodies that
// look like headers are skipped.
func TestRequestFramesFindEveryHeader(t *testing.T) {
	var stream []byte
	var want []reqHeader
	for i, key := range []int16{18, 0, 26, 1, 26, 22, 26} {
		body := []int{0, 5000, 30, 12, 0, 100, 7}[i]
		f := frame(key, int32(100+i), body)
		for j := 12; j < len(f); j++ {
			f[j] = 26 // a body full of EndTxn keys must not be read as headers
		}
		stream = append(stream, f...)
		want = append(want, reqHeader{key, int32(100 + i)})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		var f requestFrames
		var got []reqHeader
		rest := stream
		for len(rest) > 0 {
			n := 1 + rng.IntN(min(len(rest), []int{1, 4, 13, 64, 9000}[trial%5]))
			f.feed(rest[:n], func(k int16, c int32) { got = append(got, reqHeader{k, c}) })
			rest = rest[n:]
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trial %d: headers %v, want %v", trial, got, want)
		}
	}
}

// TestLostAnswers: the answer to a marked correlation id is taken once;
// others pass.
func TestLostAnswers(t *testing.T) {
	var l lostAnswers
	l.add(7)
	answer := func(corr int32) []byte {
		b := make([]byte, 20)
		binary.BigEndian.PutUint32(b[0:4], 16)
		binary.BigEndian.PutUint32(b[4:8], uint32(corr))
		return b
	}
	if l.take(answer(6)) || !l.take(answer(7)) || l.take(answer(7)) || l.take([]byte{1, 2, 3}) {
		t.Error("want only the first answer to correlation id 7 taken")
	}
}

func FuzzRequestFrames(f *testing.F) {
	f.Add(frame(26, 9, 3), uint8(2))
	f.Add(append(frame(0, 1, 40), frame(26, 2, 0)...), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// Whole and cut into chunks, the stream must give the same
		// headers, and never more than one per 12 bytes.
		var whole, cut requestFrames
		var a, b []reqHeader
		whole.feed(stream, func(k int16, c int32) { a = append(a, reqHeader{k, c}) })
		n := int(chunk%16) + 1
		for i := 0; i < len(stream); i += n {
			cut.feed(stream[i:min(i+n, len(stream))], func(k int16, c int32) { b = append(b, reqHeader{k, c}) })
		}
		if !slices.Equal(a, b) || len(a) > len(stream)/12 {
			t.Fatalf("whole %v, in chunks of %d %v", a, n, b)
		}
	})
}
