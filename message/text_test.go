package message

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// textEncoded returns a valid text payload of size bytes with seq 9.
func textEncoded(t testing.TB, size int) []byte {
	t.Helper()
	e := newEncoder(t, size)
	return e.EncodeText(e.NewTextBuffer(), 9, 1_000, 2_000)
}

// binaryOf is the binary header a text payload carries, via encoding/base64 as an oracle.
func binaryOf(t testing.TB, p []byte) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(string(p[:TextHeaderSize]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// textWith re-spells p around the binary header b, with a checksum computed as a producer
// that meant b would compute it.
func textWith(b, p []byte) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[offCRC:], 0)
	tab := crc32.MakeTable(crc32.Castagnoli)
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Update(crc32.Checksum(b, tab), tab, p[TextHeaderSize:]))
	return append([]byte(base64.RawURLEncoding.EncodeToString(b)), p[TextHeaderSize:]...)
}

func TestDecodeTextErrors(t *testing.T) {
	valid := textEncoded(t, 100)
	orig, err := DecodeText(valid)
	if err != nil {
		t.Fatal(err)
	}
	bin := binaryOf(t, valid)
	withBinary := func(f func(b []byte)) []byte {
		b := bytes.Clone(bin)
		f(b)
		return textWith(b, valid)
	}
	edit := func(i int, c byte) []byte {
		p := bytes.Clone(valid)
		p[i] = c
		return p
	}
	lied := orig
	lied.Size = 99
	// Characters 20 and 40 carry bits 120-125 and 240-245, inside the producer (96-127) and
	// intended (192-255) fields: only those may read differently.
	badChar, newline := orig, orig
	badChar.Producer = readHeader(decodeAsRead(edit(20, '='))).Producer
	newline.Intended = readHeader(decodeAsRead(edit(40, '\n'))).Intended
	for _, tc := range []struct {
		name string
		p    []byte
		want error
		h    Header
	}{
		{"nil", nil, ErrTooShort, Header{}},
		{"truncated header", valid[:TextHeaderSize-1], ErrTooShort, Header{}},
		{"truncated padding", valid[:99], ErrSize, orig},
		{"truncated to header", valid[:TextHeaderSize], ErrSize, orig},
		{"extended", append(bytes.Clone(valid), 'A'), ErrSize, orig},
		{"binary payload", encoded(t, 100), ErrBadMagic, Header{}},
		{"all A", bytes.Repeat([]byte{'A'}, 100), ErrBadMagic, Header{}},
		{"wrong magic", edit(0, 'U'), ErrBadMagic, Header{}},
		{"version 2", withBinary(func(b []byte) { b[offVersion] = 2 }), ErrVersion, Header{}},
		{"flags set", withBinary(func(b []byte) { b[offFlags] = 1 }), ErrVersion, Header{}},
		{"size field lies", withBinary(func(b []byte) { binary.BigEndian.PutUint32(b[offSize:], 99) }), ErrSize, lied},
		{"character outside the alphabet", edit(20, '='), ErrChecksum, badChar},
		{"newline in the header", edit(40, '\n'), ErrChecksum, newline},
		{"padding changed", edit(99, valid[99]^1), ErrChecksum, orig},
		{"padding made binary", edit(70, 0), ErrChecksum, orig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := DecodeText(tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeText = %v, want %v", err, tc.want)
			}
			if h != tc.h {
				t.Errorf("header = %+v, want %+v", h, tc.h)
			}
		})
	}
}

// decodeAsRead is the binary header DecodeText reads from p, bad characters as zero bits.
func decodeAsRead(p []byte) []byte {
	var b [HeaderSize]byte
	decodeHeaderText(&b, p[:TextHeaderSize])
	return b[:]
}

// TestDecodeTextBitFlips flips every bit of a text payload, one at a time. A header
// character holds six bits, so where it straddles two fields the expected error depends on
// which one changed.
func TestDecodeTextBitFlips(t *testing.T) {
	valid := textEncoded(t, 90)
	orig, _ := DecodeText(valid)
	p := bytes.Clone(valid)
	for i := range len(p) * 8 {
		at := i / 8
		p[at] ^= 1 << (i % 8)
		h, err := DecodeText(p)
		var ok bool
		switch {
		case at < 2: // magic only
			ok = errors.Is(err, ErrBadMagic)
		case at == 2: // magic and the version's top bits
			ok = errors.Is(err, ErrBadMagic) || errors.Is(err, ErrVersion)
		case at == 3: // version only; one flip makes version 1 read as 2, a known layout, whose checksum fails
			ok = errors.Is(err, ErrVersion) || errors.Is(err, ErrChecksum) && decodeAsRead(p)[offVersion] == VersionFlags
		case at == 53 || at == 58: // the size field and a neighbour
			ok = errors.Is(err, ErrChecksum) || errors.Is(err, ErrSize)
		default:
			ok = errors.Is(err, ErrChecksum)
		}
		if !ok {
			t.Errorf("bit %d (char %d) flipped: DecodeText = %v", i, at, err)
		}
		if errors.Is(err, ErrChecksum) {
			if asRead := readHeader(decodeAsRead(p)); h != asRead {
				t.Errorf("bit %d flipped: header %+v, want fields as read %+v", i, h, asRead)
			}
			if at >= TextHeaderSize && h != orig {
				t.Errorf("bit %d flipped in the padding: header %+v, want %+v", i, h, orig)
			}
		}
		p[at] ^= 1 << (i % 8)
	}
}

func TestTextRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		runID, producer, seq, intended, sent := randomHeader(r)
		size := randomSize(r, TextHeaderSize)
		e, err := NewEncoder(runID, producer, size, r.Int64())
		if err != nil {
			t.Fatal(err)
		}
		headerOnly := r.IntN(2) == 1
		e.SetHeaderOnly(headerOnly)
		buf := e.NewTextBuffer()
		padding := bytes.Clone(buf[TextHeaderSize:])
		e.EncodeText(buf, seq^1, intended^1, sent^1)
		p := e.EncodeText(buf, seq, intended, sent)
		want := Header{RunID: runID, Producer: producer, Seq: seq, Intended: intended, Sent: sent, Size: uint32(size), HeaderOnly: headerOnly}
		if h, err := DecodeText(p); err != nil || h != want {
			t.Fatalf("DecodeText(EncodeText(%+v)) = %+v, %v", want, h, err)
		}
		if h, err := DecodeAny(p); err != nil || h != want {
			t.Fatalf("DecodeAny = %+v, %v, want %+v", h, err, want)
		}
		if !bytes.Equal(p[TextHeaderSize:], padding) {
			t.Fatalf("EncodeText changed the padding (size %d)", size)
		}
		if i := bytes.IndexFunc(p, func(c rune) bool { return decodeTable[c]&invalidChar != 0 }); i >= 0 {
			t.Fatalf("byte %d is %q, outside the base64url alphabet", i, p[i])
		}
		if !bytes.HasPrefix(p, []byte("TVE")) {
			t.Fatalf("text payload starts %q, DecodeAny relies on TVE", p[:3])
		}
	}
}

// TestHeaderTextDecoder checks the hand-written decoder against encoding/base64.
func TestHeaderTextDecoder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var bin, got [HeaderSize]byte
	for range 200 {
		for i := range bin {
			bin[i] = byte(r.Uint32())
		}
		s := []byte(base64.RawURLEncoding.EncodeToString(bin[:]))
		if !decodeHeaderText(&got, s) || got != bin {
			t.Fatalf("decodeHeaderText(%s) = % x, want % x", s, got, bin)
		}
		for c := range 256 {
			if bytes.IndexByte([]byte(alphabet), byte(c)) >= 0 {
				continue
			}
			bad := bytes.Clone(s)
			bad[r.IntN(len(bad))] = byte(c)
			if decodeHeaderText(&got, bad) {
				t.Fatalf("byte %#x accepted in %q", c, bad)
			}
		}
	}
}

func TestTextSizes(t *testing.T) {
	e := newEncoder(t, TextHeaderSize-1)
	if b := e.NewTextBuffer(); b != nil {
		t.Errorf("NewTextBuffer at size 63 = %q, want nil", b)
	}
	for _, n := range []int{0, TextHeaderSize - 1} {
		if p := e.EncodeText(make([]byte, n), 1, 1, 1); p != nil {
			t.Errorf("EncodeText into %d bytes = %q, want nil", n, p)
		}
	}
	if b := newEncoder(t, TextHeaderSize).NewTextBuffer(); len(b) != TextHeaderSize {
		t.Errorf("NewTextBuffer at size 64 has length %d", len(b))
	}
}

func TestDecodeAnyRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"binary", encoded(t, 100), nil},
		{"text", textEncoded(t, 100), nil},
		{"empty", nil, ErrTooShort},
		{"M", []byte("M"), ErrTooShort},
		{"short binary", encoded(t, 100)[:50], ErrSize},
		{"short text", textEncoded(t, 100)[:60], ErrTooShort},
		{"garbage", bytes.Repeat([]byte{0xff}, 100), ErrBadMagic},
	} {
		if _, err := DecodeAny(tc.p); !errors.Is(err, tc.want) {
			t.Errorf("%s: DecodeAny = %v, want %v", tc.name, err, tc.want)
		}
	}
}
