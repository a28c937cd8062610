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
