package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func newEncoder(t testing.TB, size int) *Encoder {
	t.Helper()
	e, err := NewEncoder(0x1122334455667788, 7, size, 42)
	if err != nil {
		t.Fatalf("NewEncoder(size %d): %v", size, err)
	}
	return e
}

// encoded returns a valid binary payload of size bytes with seq 9.
func encoded(t testing.TB, size int) []byte {
	t.Helper()
	e := newEncoder(t, size)
	return e.Encode(e.NewBuffer(), 9, 1_000, 2_000)
}

func TestNewEncoderRejectsSizes(t *testing.T) {
	for _, tc := range []struct {
		size  int
		words []string // what the message must name
	}{
		{-1, []string{"-1", "48"}},
		{0, []string{"0", "48"}},
		{HeaderSize - 1, []string{"47", "48"}},
		{MaxSize + 1, []string{strconv.Itoa(MaxSize + 1), strconv.Itoa(MaxSize)}},
	} {
		_, err := NewEncoder(1, 1, tc.size, 1)
		if err == nil {
			t.Errorf("NewEncoder(size %d): no error", tc.size)
			continue
		}
		for _, w := range tc.words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("NewEncoder(size %d) = %q, want it to mention %s", tc.size, err, w)
			}
		}
	}
	for _, size := range []int{HeaderSize, 100, MaxSize} {
		if err := CheckSize(size, false); err != nil {
			t.Errorf("CheckSize(%d, binary) = %v", size, err)
		}
	}
	if err := CheckSize(HeaderSize, true); err == nil || !strings.Contains(err.Error(), "64") {
		t.Errorf("CheckSize(48, text) = %v, want an error naming 64", err)
	}
}

// TestWireLayout pins the documented byte layout independently of putHeader.
func TestWireLayout(t *testing.T) {
	e, err := NewEncoder(0x0102030405060708, 0x0a0b0c0d, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := e.NewBuffer()
	buf[48], buf[49] = 0xee, 0xff
	got := e.Encode(buf, 0x1112131415161718, 0x2122232425262728, -2)
	want := []byte{
		'M', 'Q', 1, 0,
		1, 2, 3, 4, 5, 6, 7, 8,
		0x0a, 0x0b, 0x0c, 0x0d,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		0, 0, 0, 50,
		0, 0, 0, 0, // checksum, filled below
		0xee, 0xff,
	}
	binary.BigEndian.PutUint32(want[44:], crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got % x\nwant % x", got, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := encoded(t, 100)
	orig, err := Decode(valid)
	if err != nil {
		t.Fatal(err)
	}
	// edit returns a copy of valid changed by f.
	edit := func(f func(p []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	// resum recomputes the checksum, as a producer that meant it would.
	resum := func(p []byte) []byte {
		binary.BigEndian.PutUint32(p[offCRC:], 0)
		binary.BigEndian.PutUint32(p[offCRC:], crc32.Checksum(p, castagnoli))
		return p
	}
	lied := orig
	lied.Size = 99
	for _, tc := range []struct {
		name string
		p    []byte
		want error
		h    Header // fields as read with ErrSize and ErrChecksum, zero otherwise
	}{
		{"nil", nil, ErrTooShort, Header{}},
		{"one byte", []byte{'M'}, ErrTooShort, Header{}},
		{"truncated header", valid[:HeaderSize-1], ErrTooShort, Header{}},
		{"truncated padding", valid[:99], ErrSize, orig},
		{"truncated to header", valid[:HeaderSize], ErrSize, orig},
		{"extended", append(bytes.Clone(valid), 0), ErrSize, orig},
		{"wrong magic", edit(func(p []byte) []byte { p[0] = 'X'; return p }), ErrBadMagic, Header{}},
		{"text payload", textEncoded(t, 100), ErrBadMagic, Header{}},
		{"zeros", make([]byte, 100), ErrBadMagic, Header{}},
		{"version 0", edit(func(p []byte) []byte { p[offVersion] = 0; return resum(p) }), ErrVersion, Header{}},
		{"version 2", edit(func(p []byte) []byte { p[offVersion] = 2; return resum(p) }), ErrVersion, Header{}},
		{"flags set", edit(func(p []byte) []byte { p[offFlags] = 1; return resum(p) }), ErrVersion, Header{}},
		{"size field lies", edit(func(p []byte) []byte {
			binary.BigEndian.PutUint32(p[offSize:], 99)
			return resum(p)
		}), ErrSize, lied},
		{"checksum zeroed", edit(func(p []byte) []byte { clear(p[offCRC:HeaderSize]); return p }), ErrChecksum, orig},
		{"padding changed", edit(func(p []byte) []byte { p[99]++; return p }), ErrChecksum, orig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Decode(tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if h != tc.h {
				t.Errorf("header = %+v, want %+v", h, tc.h)
			}
		})
	}
}

// TestDecodeBitFlips flips every bit of a payload, one at a time.
func TestDecodeBitFlips(t *testing.T) {
	valid := encoded(t, 80)
	orig, _ := Decode(valid)
	p := bytes.Clone(valid)
	for i := range len(p) * 8 {
		p[i/8] ^= 1 << (i % 8)
		h, err := Decode(p)
		want := ErrChecksum
		switch {
		case i/8 < offVersion:
			want = ErrBadMagic
		case i/8 == offVersion:
			want = ErrVersion
		}
		if !errors.Is(err, want) {
			t.Errorf("bit %d (byte %d) flipped: Decode = %v, want %v", i, i/8, err, want)
		}
		if want == ErrChecksum {
			if asRead := readHeader(p); h != asRead {
				t.Errorf("bit %d flipped: header %+v, want fields as read %+v", i, h, asRead)
			}
			if i/8 >= offSize+4 && h != orig {
				t.Errorf("bit %d flipped outside the fields: header %+v, want %+v", i, h, orig)
			}
		}
		p[i/8] ^= 1 << (i % 8)
	}
}

// randomHeader draws fields from the whole range, edges included.
func randomHeader(r *rand.Rand) (runID uint64, producer uint32, seq uint64, intended, sent int64) {
	pick := func(edges ...uint64) uint64 {
		if r.IntN(4) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return r.Uint64()
	}
	return pick(0, 1, ^uint64(0)), uint32(pick(0, 1, 1<<32-1)), pick(0, 1, ^uint64(0)),
		int64(pick(0, 1<<63, 1<<63-1)), int64(pick(0, 1<<63, 1<<63-1))
}

// randomSize favours small payloads, where the edges are, but reaches 64 KiB.
func randomSize(r *rand.Rand, minSize int) int {
	if r.IntN(2) == 0 {
		return minSize + r.IntN(64)
	}
	return minSize + r.IntN(64<<10-minSize+1)
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		runID, producer, seq, intended, sent := randomHeader(r)
		size := randomSize(r, HeaderSize)
		e, err := NewEncoder(runID, producer, size, r.Int64())
		if err != nil {
			t.Fatal(err)
		}
		headerOnly := r.IntN(2) == 1
		e.SetHeaderOnly(headerOnly)
		buf := e.NewBuffer()
		padding := bytes.Clone(buf[HeaderSize:])
		// Encoding twice into one buffer checks that reuse leaves nothing behind.
		e.Encode(buf, seq^1, intended^1, sent^1)
		p := e.Encode(buf, seq, intended, sent)
		h, err := Decode(p)
		want := Header{RunID: runID, Producer: producer, Seq: seq, Intended: intended, Sent: sent, Size: uint32(size), HeaderOnly: headerOnly}
		if err != nil || h != want {
			t.Fatalf("Decode(Encode(%+v)) = %+v, %v", want, h, err)
		}
		if !bytes.Equal(p[HeaderSize:], padding) {
			t.Fatalf("Encode changed the padding (size %d)", size)
		}
		if got, err := DecodeAny(p); err != nil || got != want {
			t.Fatalf("DecodeAny = %+v, %v, want %+v", got, err, want)
		}
	}
}

func TestEncodeRefusesBadBuffers(t *testing.T) {
	e := newEncoder(t, 100)
	for _, n := range []int{0, 1, HeaderSize - 1} {
		if p := e.Encode(make([]byte, n), 1, 1, 1); p != nil {
			t.Errorf("Encode into %d bytes = % x, want nil", n, p)
		}
	}
	if p := e.Encode(nil, 1, 1, 1); p != nil {
		t.Errorf("Encode(nil) = % x, want nil", p)
	}
	// A buffer of another length is encoded as that length, so it still verifies.
	h, err := Decode(e.Encode(make([]byte, 60), 1, 2, 3))
	if err != nil || h.Size != 60 {
		t.Errorf("Decode of a 60-byte encoding = %+v, %v", h, err)
	}
}

func TestPaddingIsSeededAndVaries(t *testing.T) {
	a, b := newEncoder(t, 256), newEncoder(t, 256)
	a1, a2 := a.NewBuffer(), a.NewBuffer()
	b1, b2 := b.NewBuffer(), b.NewBuffer()
	if !bytes.Equal(a1, b1) || !bytes.Equal(a2, b2) {
		t.Error("same seed, run and producer gave different padding")
	}
	if bytes.Equal(a1, a2) {
		t.Error("two buffers of one encoder share their padding")
	}
	if bytes.Equal(a1[HeaderSize:], make([]byte, 256-HeaderSize)) {
		t.Error("padding is all zeros")
	}
	other, _ := NewEncoder(0x1122334455667788, 8, 256, 42)
	if bytes.Equal(a1, other.NewBuffer()) {
		t.Error("two producers got the same padding")
	}
	if n := len(a.NewBuffer()); n != 256 {
		t.Errorf("NewBuffer length %d, want 256", n)
	}
}

func TestZeroAllocs(t *testing.T) {
	e := newEncoder(t, 1024)
	buf, text := e.NewBuffer(), e.NewTextBuffer()
	p := e.Encode(bytes.Clone(buf), 1, 2, 3)
	tp := e.EncodeText(bytes.Clone(text), 1, 2, 3)
	damaged := bytes.Clone(p)
	damaged[500]++
	var seq uint64
	for name, f := range map[string]func(){
		"Encode":               func() { seq++; e.Encode(buf, seq, 2, 3) },
		"Decode":               func() { _, _ = Decode(p) },
		"EncodeText":           func() { seq++; e.EncodeText(text, seq, 2, 3) },
		"DecodeText":           func() { _, _ = DecodeText(tp) },
		"DecodeAny":            func() { _, _ = DecodeAny(tp) },
		"Decode/ErrChecksum":   func() { _, _ = Decode(damaged) },
		"Decode/ErrSize":       func() { _, _ = Decode(p[:1000]) },
		"DecodeText/ErrSize":   func() { _, _ = DecodeText(tp[:1000]) },
		"DecodeText/BadMagic:": func() { _, _ = DecodeText(p) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
}
