package message

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// headerOnlyEncoder is newEncoder checksumming the header alone.
func headerOnlyEncoder(t testing.TB, size int) *Encoder {
	t.Helper()
	e := newEncoder(t, size)
	e.SetHeaderOnly(true)
	return e
}

// TestWireLayoutHeaderOnly pins version 2's byte layout: the flag, and a checksum of the
// 48 header bytes alone.
func TestWireLayoutHeaderOnly(t *testing.T) {
	e, err := NewEncoder(0x0102030405060708, 0x0a0b0c0d, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	e.SetHeaderOnly(true)
	buf := e.NewBuffer()
	buf[48], buf[49] = 0xee, 0xff
	got := e.Encode(buf, 0x1112131415161718, 0x2122232425262728, -2)
	want := []byte{
		'M', 'Q', 2, 1,
		1, 2, 3, 4, 5, 6, 7, 8,
		0x0a, 0x0b, 0x0c, 0x0d,
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
		0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		0, 0, 0, 50,
		0, 0, 0, 0, // checksum, filled below
		0xee, 0xff,
	}
	binary.BigEndian.PutUint32(want[44:], crc32.Checksum(want[:48], crc32.MakeTable(crc32.Castagnoli)))
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode:\n got % x\nwant % x", got, want)
	}
}

// TestHeaderOnly is what the header-only checksum costs and keeps, binary and text: damage
// to the padding decodes cleanly but says the padding went unchecked; damage to the header
// (the flag included) or a changed length is caught as with a whole-payload checksum; and
// no combination of version and flags other than the two written is accepted.
func TestHeaderOnly(t *testing.T) {
	type codec struct {
		name   string
		decode func([]byte) (Header, error)
		encode func(e *Encoder) []byte
		// edit changes binary header byte i of p by f and re-checksums it (header alone
		// if headerOnly) as a producer that meant it would.
		edit func(p []byte, i int, f func(byte) byte, headerOnly bool) []byte
		hdr  int // size of the header on the wire
	}
	codecs := []codec{
		{"binary", Decode, func(e *Encoder) []byte { return e.Encode(e.NewBuffer(), 9, 1_000, 2_000) },
			func(p []byte, i int, f func(byte) byte, headerOnly bool) []byte {
				p = bytes.Clone(p)
				p[i] = f(p[i])
				binary.BigEndian.PutUint32(p[offCRC:], 0)
				covered := p
				if headerOnly {
					covered = p[:HeaderSize]
				}
				binary.BigEndian.PutUint32(p[offCRC:], crc32.Checksum(covered, castagnoli))
				return p
			}, HeaderSize},
		{"text", DecodeText, func(e *Encoder) []byte { return e.EncodeText(e.NewTextBuffer(), 9, 1_000, 2_000) },
			func(p []byte, i int, f func(byte) byte, headerOnly bool) []byte {
				b, err := base64.RawURLEncoding.DecodeString(string(p[:TextHeaderSize]))
				if err != nil {
					t.Fatal(err)
				}
				b[i] = f(b[i])
				binary.BigEndian.PutUint32(b[offCRC:], 0)
				crc := crc32.Checksum(b, castagnoli)
				if !headerOnly {
					crc = crc32.Update(crc, castagnoli, p[TextHeaderSize:])
				}
				binary.BigEndian.PutUint32(b[offCRC:], crc)
				return append([]byte(base64.RawURLEncoding.EncodeToString(b)), p[TextHeaderSize:]...)
			}, TextHeaderSize},
	}
	set := func(v byte) func(byte) byte { return func(byte) byte { return v } }
	for _, c := range codecs {
		valid := c.encode(headerOnlyEncoder(t, 100))
		orig, err := c.decode(valid)
		if err != nil || !orig.HeaderOnly {
			t.Fatalf("%s: Decode = %+v, %v, want a clean header-only header", c.name, orig, err)
		}
		whole := c.encode(newEncoder(t, 100))
		padding := bytes.Clone(valid)
		padding[90] ^= 0x01
		for _, tc := range []struct {
			name string
			p    []byte
			want error
			h    Header // with no error, ErrSize and ErrChecksum
		}{
			{"sound", valid, nil, orig},
			{"padding changed: not checked, and says so", padding, nil, orig},
			{"truncated padding", valid[:99], ErrSize, orig},
			{"extended", append(bytes.Clone(valid), 'A'), ErrSize, orig},
			{"header changed", c.edit(valid, offSeq+7, func(b byte) byte { return b ^ 1 }, false), ErrChecksum, Header{}},
			// Cleared, the flag would ask for a whole-payload checksum, which the header's
			// is not: damage to the flag never makes a reader check less, or pass.
			{"flag cleared", c.edit(valid, offFlags, set(0), true), ErrChecksum, Header{}},
			{"flag set on version 1", c.edit(whole, offFlags, set(FlagHeaderChecksum), true), ErrChecksum, Header{}},
			{"version 2 without the flag", c.edit(whole, offVersion, set(VersionFlags), false), ErrVersion, Header{}},
			{"version 2, unknown flag too", c.edit(valid, offFlags, set(FlagHeaderChecksum|2), true), ErrVersion, Header{}},
			{"version 3", c.edit(valid, offVersion, set(3), true), ErrVersion, Header{}},
		} {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				h, err := c.decode(tc.p)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("Decode = %v, want %v", err, tc.want)
				}
				if tc.h != (Header{}) && h != tc.h {
					t.Errorf("header = %+v, want %+v", h, tc.h)
				}
				if err == nil && !h.HeaderOnly {
					t.Error("decoded cleanly without saying the padding went unchecked")
				}
			})
		}
		// The same padding damage under a whole-payload checksum is caught.
		whole[90] ^= 0x01
		if _, err := c.decode(whole); !errors.Is(err, ErrChecksum) {
			t.Errorf("%s: padding changed under a whole-payload checksum: %v, want ErrChecksum", c.name, err)
		}
	}
}

// TestHeaderOnlyPooled: a header-only Encoder's pooled path writes what Encode writes.
func TestHeaderOnlyPooled(t *testing.T) {
	for _, size := range []int{100, 4096} {
		e := headerOnlyEncoder(t, size)
		buf := e.NewBuffer()
		for seq := range uint64(3) {
			got := e.EncodePooled(buf, seq, int64(seq), int64(seq)+1)
			want := e.Encode(bytes.Clone(buf), seq, int64(seq), int64(seq)+1)
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d seq %d: EncodePooled differs from Encode", size, seq)
			}
			if h, err := Decode(got); err != nil || !h.HeaderOnly || h.Seq != seq {
				t.Fatalf("size %d seq %d: Decode = %+v, %v", size, seq, h, err)
			}
		}
	}
}
