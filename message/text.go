package message

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// Text layout, for brokers whose bodies must be text (SQS): the 48-byte binary header in
// unpadded base64url (exactly 64 characters, no partial group, so every valid header text
// has exactly one spelling), then padding up to size drawn from the same 64-character
// alphabet. Restricting padding to that alphabet keeps it free of anything JSON, XML or a
// URL would escape, so the bytes on the wire are the bytes asked for.
//
// The size field holds the length of the text payload, and the checksum covers the binary
// header (checksum field as zero) followed by the text padding; with FlagHeaderChecksum
// (version 2), the binary header alone.
//
// A text payload starts with "TVE" (base64 of "MQ" and a version below 64) and a binary one
// with "MQ"; neither can start the other, which is what DecodeAny relies on.
const TextHeaderSize = 64

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// invalidChar marks bytes outside the alphabet. Its low six bits are zero so a damaged
// character still decodes (as zero bits) and the rest of the header can be reported.
const invalidChar = 0x80

var decodeTable = func() (t [256]byte) {
	for i := range t {
		t[i] = invalidChar
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// NewTextBuffer is NewBuffer for text payloads: the padding is random characters of the
// base64url alphabet. It returns nil if the Encoder's size is below TextHeaderSize; call
// CheckSize(size, true) first when a driver needs text bodies.
func (e *Encoder) NewTextBuffer() []byte {
	if e.size < TextHeaderSize {
		return nil
	}
	buf := make([]byte, e.size)
	fillText(e.rng, buf[TextHeaderSize:])
	return buf
}

// EncodeText is Encode for text payloads made by NewTextBuffer. A buffer shorter than
// TextHeaderSize or longer than MaxSize yields nil.
func (e *Encoder) EncodeText(buf []byte, seq uint64, intended, sent int64) []byte {
	if len(buf) < TextHeaderSize || len(buf) > MaxSize {
		return nil
	}
	var h [HeaderSize]byte
	e.putHeader(h[:], seq, intended, sent, uint32(len(buf)))
	crc := updateSmall(0, h[:])
	if !e.headerOnly {
		crc = crc32.Update(crc, castagnoli, buf[TextHeaderSize:])
	}
	binary.BigEndian.PutUint32(h[offCRC:], crc)
	base64.RawURLEncoding.Encode(buf[:TextHeaderSize], h[:])
	return buf
}

// DecodeText is Decode for text payloads, with the same errors and the same rule that the
// header returned with ErrSize or ErrChecksum is untrusted. A character outside the alphabet
// in the header after the magic and version is reported as ErrChecksum, the character read
// as zero bits.
//
// Because a character carries six bits that may straddle two fields, a flip in the two
// characters shared by the size field and its neighbours can read as ErrSize.
func DecodeText(p []byte) (Header, error) {
	if len(p) < TextHeaderSize {
		return Header{}, ErrTooShort
	}
	var b [HeaderSize]byte
	valid := decodeHeaderText(&b, p[:TextHeaderSize])
	if b[offMagic] != magic0 || b[offMagic+1] != magic1 {
		return Header{}, ErrBadMagic
	}
	if b[offVersion] != Version && b[offVersion] != VersionFlags {
		return Header{}, ErrVersion
	}
	h := readHeader(b[:])
	if !valid {
		return h, ErrChecksum
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	binary.BigEndian.PutUint32(b[offCRC:], 0)
	if uint64(h.Size) != uint64(len(p)) {
		if len(p) <= math.MaxUint32 {
			binary.BigEndian.PutUint32(b[offSize:], uint32(len(p)))
			if textCRC(&b, p, h.HeaderOnly) == want {
				return h, ErrChecksum
			}
		}
		return h, ErrSize
	}
	if textCRC(&b, p, h.HeaderOnly) != want {
		return h, ErrChecksum
	}
	if !knownFlags(b[offVersion], b[offFlags]) {
		return Header{}, ErrVersion
	}
	return h, nil
}

// DecodeAny decodes binary or text payloads, choosing by the first two bytes: "MQ" is
// binary, anything else goes to DecodeText. The choice is safe because no valid text payload
// starts with "MQ" and no valid binary one starts otherwise; a damaged or foreign payload
// ends as ErrTooShort or ErrBadMagic either way. Callers that know their driver's encoding
// should call Decode or DecodeText directly.
func DecodeAny(p []byte) (Header, error) {
	if len(p) >= 2 && p[0] == magic0 && p[1] == magic1 {
		return Decode(p)
	}
	return DecodeText(p)
}

// textCRC checksums the binary header b (its checksum field already zero) and, unless
// headerOnly, the text padding of p.
func textCRC(b *[HeaderSize]byte, p []byte, headerOnly bool) uint32 {
	crc := updateSmall(0, b[:])
	if headerOnly {
		return crc
	}
	return crc32.Update(crc, castagnoli, p[TextHeaderSize:])
}

// decodeHeaderText decodes exactly TextHeaderSize characters into b. Unlike
// encoding/base64 it never skips newlines, so a payload has one spelling, and it decodes
// past bad characters (as zero) so a damaged header still names its producer.
func decodeHeaderText(b *[HeaderSize]byte, s []byte) (valid bool) {
	_ = s[TextHeaderSize-1]
	var bad byte
	for i, j := 0, 0; i < TextHeaderSize; i, j = i+4, j+3 {
		c0, c1, c2, c3 := decodeTable[s[i]], decodeTable[s[i+1]], decodeTable[s[i+2]], decodeTable[s[i+3]]
		bad |= c0 | c1 | c2 | c3
		v := uint32(c0&63)<<18 | uint32(c1&63)<<12 | uint32(c2&63)<<6 | uint32(c3&63)
		b[j], b[j+1], b[j+2] = byte(v>>16), byte(v>>8), byte(v)
	}
	return bad&invalidChar == 0
}

// fillText draws ten characters from each random word, six bits apiece.
func fillText(r *rand.Rand, p []byte) {
	for len(p) > 0 {
		v := r.Uint64()
		for k := 0; k < 10 && len(p) > 0; k++ {
			p[0] = alphabet[v&63]
			v >>= 6
			p = p[1:]
		}
	}
}
