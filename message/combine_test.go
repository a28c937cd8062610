package message

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCombineCRC: the CRC of A‖B from the CRCs of A and B equals the CRC
// taken over A‖B, for every split of random data, empty parts included.
func TestCombineCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 48, 49, 100, 1024, 4096, 65536} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, cut := range []int{0, n / 3, n / 2, n} {
			a, b := data[:cut], data[cut:]
			got := newShifter(len(b)).combine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli))
			if want := crc32.Checksum(data, castagnoli); got != want {
				t.Errorf("%d bytes cut at %d: combined %08x, want %08x", n, cut, got, want)
			}
		}
	}
}

// TestEncodePooled: every buffer of NewBuffer, encoded again and again,
// carries the checksum of the whole payload (as Decode verifies it
// and as a full CRC-32C computes it), at every size from the bare header
// up; a buffer that is not NewBuffer's, or of another length, is
// checksummed whole.
func TestEncodePooled(t *testing.T) {
	for _, size := range []int{HeaderSize, HeaderSize + 1, 100, HeaderSize + pooledMin - 1, HeaderSize + pooledMin, 1024, 1 << 16} {
		e, err := NewEncoder(9, 3, size, 5)
		if err != nil {
			t.Fatal(err)
		}
		own := []byte(nil)
		for i := range 4 {
			buf := e.NewBuffer()
			for seq := uint64(0); seq < 3; seq++ {
				checkCRC(t, e.EncodePooled(buf, seq+uint64(i)<<32, int64(seq)*7, int64(seq)*9), size)
			}
			own = append(own[:0], buf...)
		}
		if pooled := len(e.padCRC) == 4; pooled != (size-HeaderSize >= pooledMin) {
			t.Errorf("size %d: padding CRCs taken %v, want them from %d bytes of padding", size, pooled, pooledMin)
		}
		checkCRC(t, e.EncodePooled(own, 1, 2, 3), size)
		if size > HeaderSize {
			checkCRC(t, e.EncodePooled(e.NewBuffer()[:size-1], 1, 2, 3), size-1)
		}
	}
}

func checkCRC(t *testing.T, p []byte, size int) {
	t.Helper()
	if len(p) != size {
		t.Fatalf("encoded %d bytes, want %d", len(p), size)
	}
	got := binary.BigEndian.Uint32(p[offCRC:])
	q := append([]byte(nil), p...)
	binary.BigEndian.PutUint32(q[offCRC:], 0)
	if want := crc32.Checksum(q, castagnoli); got != want {
		t.Errorf("size %d: checksum %08x, want %08x", size, got, want)
	}
	if _, err := Decode(p); err != nil {
		t.Errorf("size %d: %v", size, err)
	}
}
