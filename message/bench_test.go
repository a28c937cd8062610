package message

import (
	"strconv"
	"testing"
)

var benchSizes = []int{100, 1024}

func BenchmarkEncode(b *testing.B) { benchEncode(b, (*Encoder).Encode) }

// BenchmarkEncodePooled: Encode of a pool's buffer, the producers' path.
func BenchmarkEncodePooled(b *testing.B) { benchEncode(b, (*Encoder).EncodePooled) }

func benchEncode(b *testing.B, encode func(e *Encoder, buf []byte, seq uint64, intended, sent int64) []byte) {
	for _, size := range benchSizes {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			e := newEncoder(b, size)
			buf := e.NewBuffer()
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
				b.SetBytes(int64(size))
				b.ReportAllocs()
				var seq uint64
				for b.Loop() {
					seq++
					p := e.EncodePooled(buf, seq, 1, 2)
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
