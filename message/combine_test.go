package message

import (
	"encoding/binary"
	"errors"
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
		if pooled := e.pooled(); pooled != (size-HeaderSize >= pooledMin) {
			t.Errorf("size %d: combining CRCs %v, want it from %d bytes of padding", size, pooled, pooledMin)
		}
		checkCRC(t, e.EncodePooled(own, 1, 2, 3), size)
		if size > HeaderSize {
			checkCRC(t, e.EncodePooled(e.NewBuffer()[:size-1], 1, 2, 3), size-1)
		}
		// Not this Encoder's: zeros, another producer's, another run's.
		checkCRC(t, e.EncodePooled(fillRand(make([]byte, size)), 1, 2, 3), size)
		for _, other := range []struct {
			run      uint64
			producer uint32
		}{{9, 4}, {10, 3}} {
			o, err := NewEncoder(other.run, other.producer, size, 5)
			if err != nil {
				t.Fatal(err)
			}
			buf := o.NewBuffer()
			fillRand(buf[HeaderSize:]) // its padding changed: its checksum is stale
			checkCRC(t, e.EncodePooled(buf, 1, 2, 3), size)
		}
	}
}

// TestEncodePooledChangedPadding: a pool buffer whose padding changed after it was encoded
// (a driver writing into a payload it must not change) goes out with a checksum that fails,
// so consumers report it corrupted rather than passing it.
func TestEncodePooledChangedPadding(t *testing.T) {
	e, err := NewEncoder(9, 3, 1024, 5)
	if err != nil {
		t.Fatal(err)
	}
	buf := e.EncodePooled(e.NewBuffer(), 1, 2, 3)
	buf[500] ^= 1
	if _, err := Decode(e.EncodePooled(buf, 2, 3, 4)); !errors.Is(err, ErrChecksum) {
		t.Errorf("Decode after the padding changed: %v, want ErrChecksum", err)
	}
}

func fillRand(p []byte) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
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

// TestEncodeWithPadding: a buffer encoded with its padding's CRC carries
// the checksum of the whole payload, at every size from the bare header
// up, for any header; with header-only checksums it is Encode's; a wrong
// padding CRC (or padding changed since) gives a checksum Decode rejects.
func TestEncodeWithPadding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{HeaderSize, HeaderSize + 1, 100, HeaderSize + pooledMin - 1, 1024, 1 << 16} {
		e, err := NewEncoder(9, 3, size, 5)
		if err != nil {
			t.Fatal(err)
		}
		for range 4 {
			buf := e.NewBuffer()
			pad := e.PaddingCRC(buf)
			for range 3 {
				seq, at := rng.Uint64(), int64(rng.Uint64())
				got := e.EncodeWithPadding(buf, pad, seq, at, at+7)
				checkCRC(t, got, size)
				if h, err := Decode(got); err != nil || h.Seq != seq || h.Intended != at || h.Sent != at+7 {
					t.Errorf("size %d: decoded %+v, %v", size, h, err)
				}
			}
		}
		if size == HeaderSize {
			continue
		}
		buf := e.NewBuffer()
		if _, err := Decode(e.EncodeWithPadding(buf, e.PaddingCRC(buf)^1, 1, 2, 3)); !errors.Is(err, ErrChecksum) {
			t.Errorf("size %d, a wrong padding CRC: %v, want ErrChecksum", size, err)
		}
		pad := e.PaddingCRC(buf)
		buf[size-1] ^= 1
		if _, err := Decode(e.EncodeWithPadding(buf, pad, 1, 2, 3)); !errors.Is(err, ErrChecksum) {
			t.Errorf("size %d, padding changed: %v, want ErrChecksum", size, err)
		}
		e.SetHeaderOnly(true)
		q := e.NewBuffer()
		want := e.Encode(append([]byte(nil), q...), 4, 5, 6)
		if got := e.EncodeWithPadding(q, 12345, 4, 5, 6); string(got) != string(want) {
			t.Errorf("size %d, header-only: EncodeWithPadding differs from Encode", size)
		}
	}
}
