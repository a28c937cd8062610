// Package message is the identity every mqcheck payload carries: a small checksummed header
// (run, producer, sequence, send times) followed by padding up to the requested size.
package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// Binary wire layout, big endian. The header lives in the payload rather than in broker
// headers so that it survives every protocol (MQTT 3.1.1 has none) and every reconnect.
//
//	offset size field
//	     0    2 magic "MQ"
//	     2    1 version (1 or 2)
//	     3    1 flags: 0 in version 1; in version 2, FlagHeaderChecksum and nothing else
//	     4    8 run id
//	    12    4 producer id
//	    16    8 sequence number
//	    24    8 intended send time, unix nanoseconds
//	    32    8 actual send time, unix nanoseconds
//	    40    4 size: total payload length in bytes
//	    44    4 CRC-32C (Castagnoli) of the whole payload with these 4 bytes taken as zero;
//	             with FlagHeaderChecksum, of the 48 header bytes alone (same rule)
//	    48    - padding up to size
//
// A payload whose checksum covers it whole is written as version 1, which every mqcheck
// reads. One whose checksum covers the header alone (Encoder.SetHeaderOnly) is version 2
// with the flag: a reader from before version 2 calls it an unknown version (foreign),
// never corrupted for failing a whole-payload checksum, never clean with its padding
// unchecked.
const (
	offMagic    = 0
	offVersion  = 2
	offFlags    = 3
	offRunID    = 4
	offProducer = 12
	offSeq      = 16
	offIntended = 24
	offSent     = 32
	offSize     = 40
	offCRC      = 44
)

const (
	// HeaderSize is the length of the binary header and so the smallest binary payload.
	HeaderSize = 48
	// Version is the layout version of payloads checksummed whole, written and accepted.
	Version = 1
	// VersionFlags is the layout version whose flags byte says what the checksum covers,
	// written for payloads checksummed by header alone and accepted.
	VersionFlags = 2
	// FlagHeaderChecksum (version 2): the checksum covers the header alone, so damage to
	// the padding goes unseen. Encoding and verifying then cost the same at any size.
	FlagHeaderChecksum = 1
	// MaxSize bounds payload sizes: far beyond broker defaults (about 1 MiB for Kafka, NATS
	// and SQS, tens of MiB for RabbitMQ) yet small enough that a pool of buffers per producer
	// fits in memory. Anything larger is taken as a typo in a scenario.
	MaxSize = 256 << 20
)

const (
	magic0 = 'M'
	magic1 = 'Q'
)

// The checker must tell "not ours" (TooShort, BadMagic, Version) from "ours but damaged"
// (Size, Checksum), so each outcome is a distinct sentinel for errors.Is.
var (
	// ErrTooShort: the payload cannot even hold a header.
	ErrTooShort = errors.New("message: payload shorter than the header")
	// ErrBadMagic: the payload does not start with the mqcheck magic.
	ErrBadMagic = errors.New("message: bad magic, not an mqcheck payload")
	// ErrVersion: an mqcheck payload of a layout version (or with flags) this code does not know.
	ErrVersion = errors.New("message: unsupported header version or flags")
	// ErrSize: the payload length differs from the length the producer encoded, so the broker
	// or a client truncated or extended it.
	ErrSize = errors.New("message: payload length differs from the encoded size")
	// ErrChecksum: the payload has the encoded length but its bytes changed in transit.
	ErrChecksum = errors.New("message: checksum mismatch, payload corrupted")
)

// Header is what a payload says about itself. Times are unix nanoseconds so that encoding
// needs no time.Time conversion on the hot path.
type Header struct {
	RunID    uint64
	Producer uint32
	Seq      uint64
	Intended int64 // when the pacer meant to send: latency is measured from here in open loop
	Sent     int64 // when the payload was actually published
	Size     uint32
	// HeaderOnly: the checksum covered the header alone (FlagHeaderChecksum), so the
	// payload's bytes past the header were not verified.
	HeaderOnly bool
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroCRC stands in for the checksum field while checksumming, so Decode never writes to a
// payload that a client library may still share with other readers.
var zeroCRC [4]byte

// Encoder fills reusable buffers for one producer. Encode, EncodePooled and EncodeText only
// read the Encoder and may run concurrently on distinct buffers; NewBuffer and
// NewTextBuffer advance its random stream, and EncodeWithPadding makes its header in the
// Encoder: they must not.
type Encoder struct {
	runID    uint64
	producer uint32
	size     int
	rng      *rand.Rand
	// headerOnly: checksum the header alone (version 2, FlagHeaderChecksum).
	headerOnly bool

	// shift moves a header's CRC past the padding (see combine.go), shared by every
	// Encoder of the size; set by NewBuffer, so that encoding only reads it. Nil when the
	// payload is the header alone.
	shift *shifter
	// header is where EncodeWithPadding makes a header (on the stack it
	// escaped to the heap through the CRC's function table).
	header [HeaderSize]byte
}

// CheckSize reports whether payloads of size bytes can be encoded, binary or text, so a
// scenario can be rejected before anything runs.
func CheckSize(size int, text bool) error {
	minSize, kind := HeaderSize, "binary"
	if text {
		minSize, kind = TextHeaderSize, "text"
	}
	switch {
	case size < minSize:
		return fmt.Errorf("message: size %d is below the %d-byte %s header", size, minSize, kind)
	case size > MaxSize:
		return fmt.Errorf("message: size %d is above the %d-byte limit", size, MaxSize)
	}
	return nil
}

// NewEncoder prepares payloads of size bytes for one producer of one run. The padding is a
// function of (seed, runID, producer) and of how many buffers were made before, so a run
// repeated with the same seed sends the same bytes.
func NewEncoder(runID uint64, producer uint32, size int, seed int64) (*Encoder, error) {
	if err := CheckSize(size, false); err != nil {
		return nil, err
	}
	return &Encoder{
		runID:    runID,
		producer: producer,
		size:     size,
		rng:      rand.New(rand.NewPCG(uint64(seed)^runID, uint64(producer))),
	}, nil
}

// Size is the payload length the Encoder was made for.
func (e *Encoder) Size() int { return e.size }

// SetHeaderOnly makes the Encoder checksum the header alone (true) or the whole payload
// (false, the default), binary and text alike. A header-only checksum costs the same at
// every size, on both sides, but a receiver can no longer tell a damaged padding byte
// from a sound one: the flag it writes says so to every reader. Not concurrently with
// Encode.
func (e *Encoder) SetHeaderOnly(on bool) { e.headerOnly = on }

// NewBuffer returns a payload buffer whose padding is random, so brokers that compress cannot
// make a run unrealistically cheap and corruption anywhere changes the checksum. Each call
// yields different padding: a pool of buffers then also resists compression across a batch.
// The buffer comes encoded (sequence 0, times 0), checksum included: EncodePooled takes the
// padding's checksum from it, and relies on the padding never changing afterwards.
func (e *Encoder) NewBuffer() []byte {
	buf := make([]byte, e.size)
	fillRandom(e.rng, buf[HeaderSize:])
	if e.size > HeaderSize && e.shift == nil {
		e.shift = shifterFor(e.size - HeaderSize)
	}
	return e.Encode(buf, 0, 0, 0)
}

// Encode writes the header for (seq, intended, sent) and the checksum into buf and returns
// buf. The padding is left as it is, so buf can be reused for every message. Size is taken
// from len(buf). A buffer shorter than HeaderSize or longer than MaxSize yields nil, which
// any receiver rejects with ErrTooShort instead of accepting a malformed payload.
func (e *Encoder) Encode(buf []byte, seq uint64, intended, sent int64) []byte {
	if len(buf) < HeaderSize || len(buf) > MaxSize {
		return nil
	}
	e.putHeader(buf, seq, intended, sent, uint32(len(buf)))
	covered := buf
	if e.headerOnly {
		covered = buf[:HeaderSize]
	}
	binary.BigEndian.PutUint32(buf[offCRC:], crc32.Checksum(covered, castagnoli))
	return buf
}

// EncodePooled is Encode for a buffer this Encoder encoded last (NewBuffer's, reused for every
// message of a producer's pool) whose bytes have not changed since: it checksums the header
// alone. The buffer's checksum is its old header's combined with its padding's, so the
// padding's comes out of it with the old header's, and goes into the new one (see
// combine.go). A buffer without this Encoder's header is encoded by Encode; one whose bytes
// were changed since it was encoded would get a checksum its bytes do not match.
// Below pooledMin bytes of padding the combination costs more than the checksum it saves.
func (e *Encoder) EncodePooled(buf []byte, seq uint64, intended, sent int64) []byte {
	if e.headerOnly || !e.pooled() || len(buf) != e.size || !e.hasHeader(buf) {
		return e.Encode(buf, seq, intended, sent)
	}
	// Taken from the buffer rather than kept per buffer: a lookup by address cost more, in
	// a producer's pool of a thousand buffers, than the two header checksums.
	old := binary.BigEndian.Uint32(buf[offCRC:])
	binary.BigEndian.PutUint32(buf[offCRC:], 0)
	pad := e.shift.combine(crc32.Checksum(buf[:HeaderSize], castagnoli), old)
	e.putHeader(buf, seq, intended, sent, uint32(len(buf)))
	crc := e.shift.combine(crc32.Checksum(buf[:HeaderSize], castagnoli), pad)
	binary.BigEndian.PutUint32(buf[offCRC:], crc)
	return buf
}

// PaddingCRC is the CRC-32C of buf's padding (what follows the header): kept beside a
// buffer from NewBuffer, it lets EncodeWithPadding checksum the header alone.
func (e *Encoder) PaddingCRC(buf []byte) uint32 {
	if len(buf) < HeaderSize {
		return 0
	}
	return crc32.Checksum(buf[HeaderSize:], castagnoli)
}

// EncodeWithPadding is Encode for a buffer whose padding's CRC-32C is padCRC (PaddingCRC
// of the buffer, its padding unchanged since): it checksums the 48 header bytes and moves
// their CRC past the padding, reading neither the padding nor the old header. In a
// producer's window of thousands of messages a buffer is no longer in the cache when it is
// reused, and reading the padding was most of what encoding a 100-byte message cost
// (EncodePooled still reads the old header, and checksums it). A wrong padCRC gives a
// checksum the message fails: the caller keeps it with its buffer. Unlike Encode, it
// writes the Encoder (a header it makes there): not concurrently on one Encoder.
func (e *Encoder) EncodeWithPadding(buf []byte, padCRC uint32, seq uint64, intended, sent int64) []byte {
	if e.headerOnly || len(buf) != e.size || len(buf) == HeaderSize {
		return e.Encode(buf, seq, intended, sent)
	}
	sh := e.shift
	if sh == nil { // a buffer from elsewhere than NewBuffer
		sh = shifterFor(len(buf) - HeaderSize)
	}
	// The header is made and checksummed in the Encoder, then copied: stores
	// into a buffer out of the cache wait in the store buffer, but
	// checksumming it there loaded from the line being fetched, and that
	// wait was most of the encoding (66ns of 105 at 100 bytes).
	h := e.header[:]
	e.putHeader(h, seq, intended, sent, uint32(len(buf)))
	binary.BigEndian.PutUint32(h[offCRC:], sh.combine(crc32.Checksum(h, castagnoli), padCRC))
	copy(buf, h)
	return buf
}

// pooled says whether EncodePooled combines CRCs: from pooledMin bytes of padding, once
// NewBuffer made a buffer.
func (e *Encoder) pooled() bool { return e.shift != nil && e.size-HeaderSize >= pooledMin }

// hasHeader says buf starts with a header this Encoder wrote: the fields that every message
// of its pool shares.
func (e *Encoder) hasHeader(buf []byte) bool {
	_ = buf[HeaderSize-1]
	return buf[offMagic] == magic0 && buf[offMagic+1] == magic1 && buf[offVersion] == Version && buf[offFlags] == 0 &&
		binary.BigEndian.Uint64(buf[offRunID:]) == e.runID && binary.BigEndian.Uint32(buf[offProducer:]) == e.producer &&
		binary.BigEndian.Uint32(buf[offSize:]) == uint32(e.size)
}

// Decode parses and verifies a binary payload without allocating or writing to p.
//
// With ErrSize and ErrChecksum the header is returned as read so that evidence can name the
// probable producer and sequence; those fields are untrusted, since any of them may be the
// damaged part. With every other error the header is zero.
//
// A bit flip in the size field alone is reported as ErrChecksum, not ErrSize: the payload
// still verifies once its real length is put in the field, so its length did not change.
func Decode(p []byte) (Header, error) {
	if len(p) < HeaderSize {
		return Header{}, ErrTooShort
	}
	if p[offMagic] != magic0 || p[offMagic+1] != magic1 {
		return Header{}, ErrBadMagic
	}
	if p[offVersion] != Version && p[offVersion] != VersionFlags {
		return Header{}, ErrVersion
	}
	h := readHeader(p)
	want := binary.BigEndian.Uint32(p[offCRC:])
	if uint64(h.Size) != uint64(len(p)) {
		// Header-only or not, a checksum that verifies once the real length is in the
		// size field says the field, not the length, changed.
		if len(p) <= math.MaxUint32 && binaryCRC(p, uint32(len(p)), h.HeaderOnly) == want {
			return h, ErrChecksum
		}
		return h, ErrSize
	}
	if binaryCRC(p, h.Size, h.HeaderOnly) != want {
		return h, ErrChecksum
	}
	// Checked after the checksum so that a flipped flag bit reads as corruption (the flags
	// byte is covered either way); other flags under a valid checksum mean a newer layout.
	if !knownFlags(p[offVersion], p[offFlags]) {
		return Header{}, ErrVersion
	}
	return h, nil
}

// headerOnly says what a header's checksum covers: the header alone with the flag of
// version 2, else the whole payload. A version 1 payload is checksummed whole whatever its
// flags byte holds, so no damage to that byte makes a reader check less.
func headerOnly(version, flags byte) bool {
	return version == VersionFlags && flags&FlagHeaderChecksum != 0
}

// knownFlags: the only layouts written and accepted, version 1 without flags and version 2
// with the header-only flag alone. Anything else is a layout this code does not know.
func knownFlags(version, flags byte) bool {
	return version == Version && flags == 0 || version == VersionFlags && flags == FlagHeaderChecksum
}

// binaryCRC is the payload checksum (of the header alone if headerOnly) as if the size field
// held size and the checksum field held zero, without writing either into p.
func binaryCRC(p []byte, size uint32, headerOnly bool) uint32 {
	crc := crc32.Update(0, castagnoli, p[:offSize])
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], size)
	// A local array handed to crc32.Update would escape to the heap (it calls through a
	// function variable), hence the small table-driven update for these few bytes.
	crc = updateSmall(crc, s[:])
	crc = crc32.Update(crc, castagnoli, zeroCRC[:])
	if headerOnly {
		return crc
	}
	return crc32.Update(crc, castagnoli, p[HeaderSize:])
}

// updateSmall is crc32.Update for short local slices that must not escape; it gives the same
// result as the stdlib's generic byte-at-a-time path.
func updateSmall(crc uint32, p []byte) uint32 {
	crc = ^crc
	for _, v := range p {
		crc = castagnoli[byte(crc)^v] ^ (crc >> 8)
	}
	return ^crc
}

// putHeader writes every header field, the checksum as zero.
func (e *Encoder) putHeader(b []byte, seq uint64, intended, sent int64, size uint32) {
	_ = b[HeaderSize-1]
	b[offMagic], b[offMagic+1] = magic0, magic1
	b[offVersion], b[offFlags] = Version, 0
	if e.headerOnly {
		b[offVersion], b[offFlags] = VersionFlags, FlagHeaderChecksum
	}
	binary.BigEndian.PutUint64(b[offRunID:], e.runID)
	binary.BigEndian.PutUint32(b[offProducer:], e.producer)
	binary.BigEndian.PutUint64(b[offSeq:], seq)
	binary.BigEndian.PutUint64(b[offIntended:], uint64(intended))
	binary.BigEndian.PutUint64(b[offSent:], uint64(sent))
	binary.BigEndian.PutUint32(b[offSize:], size)
	binary.BigEndian.PutUint32(b[offCRC:], 0)
}

func readHeader(b []byte) Header {
	_ = b[HeaderSize-1]
	return Header{
		RunID:    binary.BigEndian.Uint64(b[offRunID:]),
		Producer: binary.BigEndian.Uint32(b[offProducer:]),
		Seq:      binary.BigEndian.Uint64(b[offSeq:]),
		Intended: int64(binary.BigEndian.Uint64(b[offIntended:])),
		Sent:     int64(binary.BigEndian.Uint64(b[offSent:])),
		Size:     binary.BigEndian.Uint32(b[offSize:]),

		HeaderOnly: headerOnly(b[offVersion], b[offFlags]),
	}
}

func fillRandom(r *rand.Rand, p []byte) {
	for len(p) >= 8 {
		binary.LittleEndian.PutUint64(p, r.Uint64())
		p = p[8:]
	}
	if len(p) > 0 {
		v := r.Uint64()
		for i := range p {
			p[i] = byte(v >> (8 * i))
		}
	}
}
