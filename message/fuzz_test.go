package message

import (
	"bytes"
	"testing"
)

// The property for both targets: no input panics, and whatever decodes cleanly is exactly
// what the Encoder would produce for that header and padding, checksummed as the header
// says (whole, or the header alone), so nothing unverified is accepted. Only the seed corpus runs under plain go test.

func FuzzDecode(f *testing.F) {
	for _, size := range []int{HeaderSize, 49, 100} {
		p := encoded(f, size)
		f.Add(p)
		f.Add(p[:len(p)-1])
		// Header-only (version 2, the flag): its padding may change, its header not.
		e := headerOnlyEncoder(f, size)
		p = e.Encode(e.NewBuffer(), 9, 1_000, 2_000)
		f.Add(p)
		f.Add(p[:len(p)-1])
	}
	f.Add([]byte{})
	f.Add([]byte("MQ"))
	f.Add(textEncoded(f, 100))
	f.Fuzz(func(t *testing.T, p []byte) {
		in := bytes.Clone(p)
		h, err := Decode(p)
		if !bytes.Equal(in, p) {
			t.Fatal("Decode wrote to its input")
		}
		if err != nil {
			return
		}
		e, err := NewEncoder(h.RunID, h.Producer, len(p), 0)
		if err != nil {
			t.Fatalf("accepted a payload of %d bytes that cannot be encoded: %v", len(p), err)
		}
		e.SetHeaderOnly(h.HeaderOnly)
		if got := e.Encode(bytes.Clone(p), h.Seq, h.Intended, h.Sent); !bytes.Equal(got, p) {
			t.Fatalf("accepted % x\nre-encoded % x", p, got)
		}
	})
}

func FuzzDecodeText(f *testing.F) {
	for _, size := range []int{TextHeaderSize, 65, 100} {
		p := textEncoded(f, size)
		f.Add(p)
		f.Add(p[:len(p)-1])
		e := headerOnlyEncoder(f, size)
		p = e.EncodeText(e.NewTextBuffer(), 9, 1_000, 2_000)
		f.Add(p)
		f.Add(p[:len(p)-1])
	}
	f.Add([]byte{})
	f.Add([]byte("TVEB"))
	f.Add(encoded(f, 100))
	f.Fuzz(func(t *testing.T, p []byte) {
		in := bytes.Clone(p)
		h, err := DecodeText(p)
		if !bytes.Equal(in, p) {
			t.Fatal("DecodeText wrote to its input")
		}
		if err != nil {
			return
		}
		e, err := NewEncoder(h.RunID, h.Producer, len(p), 0)
		if err != nil {
			t.Fatalf("accepted a payload of %d bytes that cannot be encoded: %v", len(p), err)
		}
		e.SetHeaderOnly(h.HeaderOnly)
		if got := e.EncodeText(bytes.Clone(p), h.Seq, h.Intended, h.Sent); !bytes.Equal(got, p) {
			t.Fatalf("accepted %q\nre-encoded %q", p, got)
		}
	})
}
