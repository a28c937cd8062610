package message

import (
	"hash/crc32"
	"sync"
)

// CRC-32C of a payload is the header's CRC moved past the padding and
// combined with the padding's own, as zlib's crc32_combine does: the
// padding of a buffer from NewBuffer never changes, so EncodePooled
// checksums only the 48 header bytes, old and new. On a 1 KiB payload the
// whole CRC was the bulk of what mqcheck adds to a publish (profiled on
// core NATS, issue 15). Combination is XOR with the moved CRC, so the same
// step takes a header's share back out of a payload's CRC.

// pooledMin is the least padding EncodePooled combines CRCs for: two
// header checksums and combinations cost about the CRC of 500 bytes.
const pooledMin = 512

// multModP returns a(x)·b(x) modulo the Castagnoli polynomial, in the
// reflected bit order of the CRC (x^0 is the top bit).
func multModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.Castagnoli
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8n) modulo the polynomial: the operator that moves a
// CRC past n bytes.
func xPow8n(n int) uint32 {
	p := uint32(1) << 31  // x^0
	sq := uint32(1) << 30 // x^1, squared below to x^(2^k)
	for range 3 {         // x^8 = x^(2^3)
		sq = multModP(sq, sq)
	}
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = multModP(sq, p)
		}
		sq = multModP(sq, sq)
	}
	return p
}

// shifter moves a CRC past a fixed number of bytes: multiplication by
// their xPow8n is linear, so it is four table lookups, one per byte of the
// CRC (multModP alone costs more than checksumming a 1 KiB payload).
type shifter [4][256]uint32

func newShifter(n int) *shifter {
	x := xPow8n(n)
	var s shifter
	for k := range s {
		for b := range 256 {
			s[k][b] = multModP(x, uint32(b)<<(8*k))
		}
	}
	return &s
}

// combine is the CRC-32C of A‖B from crcA and crcB, B being the shifter's
// length.
func (s *shifter) combine(crcA, crcB uint32) uint32 {
	return s[0][byte(crcA)] ^ s[1][byte(crcA>>8)] ^ s[2][byte(crcA>>16)] ^ s[3][byte(crcA>>24)] ^ crcB
}

// shifters holds one shifter per padding length (4 KiB each), shared by
// every Encoder of that size: a fleet of 10,000 producers needs one.
var shifters sync.Map // int -> *shifter

func shifterFor(n int) *shifter {
	if s, ok := shifters.Load(n); ok {
		return s.(*shifter)
	}
	s, _ := shifters.LoadOrStore(n, newShifter(n))
	return s.(*shifter)
}
