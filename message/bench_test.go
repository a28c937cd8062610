package message

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

var benchSizes = []int{100, 1024}

func BenchmarkEncode(b *testing.B) { benchEncode(b, (*Encoder).Encode) }

// BenchmarkEncodePooled: Encode of a pool's buffer, deriving its padding's
// checksum from its old one (the bare verify loop's path).
func BenchmarkEncodePooled(b *testing.B) { benchEncode(b, (*Encoder).EncodePooled) }

// BenchmarkEncodeWithPadding: Encode of a pool's buffer whose padding's
// checksum is kept beside it, the producers' path.
func BenchmarkEncodeWithPadding(b *testing.B) {
	var pad uint32
	benchEncodeBuf(b, func(e *Encoder, buf []byte) { pad = e.PaddingCRC(buf) },
		func(e *Encoder, buf []byte, seq uint64, intended, sent int64) []byte {
			return e.EncodeWithPadding(buf, pad, seq, intended, sent)
		})
}

func benchEncode(b *testing.B, encode func(e *Encoder, buf []byte, seq uint64, intended, sent int64) []byte) {
	benchEncodeBuf(b, nil, encode)
}

// benchEncodeBuf is benchEncode with made(e, buf) called on the buffer
// before the loop.
func benchEncodeBuf(b *testing.B, made func(e *Encoder, buf []byte), encode func(e *Encoder, buf []byte, seq uint64, intended, sent int64) []byte) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			e := newEncoder(b, size)
			buf := e.NewBuffer()
			if made != nil {
				made(e, buf)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				seq++
				encode(e, buf, seq, 1, 2)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			p := encoded(b, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeText(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			e := newEncoder(b, size)
			buf := e.NewTextBuffer()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				seq++
				e.EncodeText(buf, seq, 1, 2)
			}
		})
	}
}

func BenchmarkDecodeText(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			p := textEncoded(b, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeText(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeVerify is one message's checksum work on both sides, as a run does it: the
// producer's pooled encode, then the consumer's decode and verify, with the checksum over
// the whole payload (producers.checksum: payload, the default) or the header alone (header).
// A pooled encode checksums only the header either way (past 512 bytes of padding), so what
// a header-only checksum saves is the consumer's pass over the payload.
func BenchmarkEncodeVerify(b *testing.B) {
	for _, mode := range []struct {
		name       string
		headerOnly bool
	}{{"payload", false}, {"header", true}} {
		for _, size := range []int{100, 1 << 10, 64 << 10, 1 << 20} {
			b.Run(mode.name+"/"+sizeName(size), func(b *testing.B) {
				e := newEncoder(b, size)
				e.SetHeaderOnly(mode.headerOnly)
				buf := e.NewBuffer()
				pad := e.PaddingCRC(buf)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var seq uint64
				for b.Loop() {
					seq++
					p := e.EncodeWithPadding(buf, pad, seq, 1, 2)
					if h, err := Decode(p); err != nil || h.Seq != seq {
						b.Fatal(h, err)
					}
				}
			})
		}
	}
}

// sizeName spells a benchmark's payload size as a scenario would.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkEncodeWindow encodes buffers in turn from a window of 50,000, as
// a producer with that many messages in flight reuses them: each is out of
// the cache by its turn, so what an encoding loads of it waits for memory
// (what it only stores waits less: within a producer's publish, the
// client's own work overlaps the fetch; in this loop nothing does, so the
// figures here are an upper bound, and the out-of-process Kafka benchmark's
// profile is where EncodeWithPadding's gain shows: 73ns a 100-byte message
// against Encode's 122). Encode reads the whole payload, EncodePooled the old header, and
// EncodeWithPadding nothing (it keeps the padding's CRC beside the buffer).
func BenchmarkEncodeWindow(b *testing.B) {
	const window = 50_000
	for _, size := range []int{100, 1024} {
		e := newEncoder(b, size)
		bufs := make([][]byte, window)
		pads := make([]uint32, window)
		for i := range bufs {
			bufs[i] = e.NewBuffer()
			pads[i] = e.PaddingCRC(bufs[i])
		}
		// In the order acks free them, not the order they were made in
		// (which a prefetcher would follow).
		rng := rand.New(rand.NewPCG(1, 2))
		rng.Shuffle(window, func(i, j int) { bufs[i], bufs[j], pads[i], pads[j] = bufs[j], bufs[i], pads[j], pads[i] })
		for _, enc := range []struct {
			name string
			f    func(i int, seq uint64)
		}{
			{"Encode", func(i int, seq uint64) { e.Encode(bufs[i], seq, 1, 2) }},
			{"EncodePooled", func(i int, seq uint64) { e.EncodePooled(bufs[i], seq, 1, 2) }},
			{"EncodeWithPadding", func(i int, seq uint64) { e.EncodeWithPadding(bufs[i], pads[i], seq, 1, 2) }},
		} {
			b.Run(enc.name+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				b.SetBytes(int64(size))
				var seq uint64
				i := 0
				for b.Loop() {
					seq++
					enc.f(i, seq)
					if i++; i == window {
						i = 0
					}
				}
			})
		}
	}
}
