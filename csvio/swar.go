package csvio

import (
	"encoding/binary"
)

// SWAR helpers: work on 8 input bytes held in a uint64 (little endian, so
// the first byte is the lowest).

const (
	lo7   = 0x7f7f7f7f7f7f7f7f
	ones8 = 0x0101010101010101
)

// zeroBytes sets the high bit of each byte of t that is zero (exactly: no
// false positives from borrows).
func zeroBytes(t uint64) uint64 {
	return ^(((t & lo7) + lo7) | t | lo7)
}

// swarSpec finds special bytes (delimiter, LF, quote) in words.
type swarSpec struct {
	d, nl, q uint64
	quoting  bool
}

func newSwarSpec(d *dialect) swarSpec {
	s := swarSpec{d: ones8 * uint64(d.delim), nl: ones8 * '\n', q: ones8 * uint64(d.quote), quoting: d.quoting}
	if !d.quoting {
		s.q = s.d // a quote is then an ordinary byte: look for the delimiter twice
	}
	return s
}

// gather8 packs the high bit of each byte of y into 8 bits (byte i → bit i).
func gather8(y uint64) uint64 {
	return ((y >> 7) * 0x0102040810204080) >> 56
}

// prefixXor returns, for each bit, the xor of it and all lower bits.
func prefixXor(x uint64) uint64 {
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	return x
}

// blockMasks returns, for the 64 bytes at b, the bitmaps of field
// separators (delimiter or LF), of LFs and of quotes.
func (s *swarSpec) blockMasks(b []byte) (sep, lf, quote uint64) {
	_ = b[63]
	d, nl, q := s.d, s.nl, s.q
	w0 := binary.LittleEndian.Uint64(b[0:])
	w1 := binary.LittleEndian.Uint64(b[8:])
	w2 := binary.LittleEndian.Uint64(b[16:])
	w3 := binary.LittleEndian.Uint64(b[24:])
	w4 := binary.LittleEndian.Uint64(b[32:])
	w5 := binary.LittleEndian.Uint64(b[40:])
	w6 := binary.LittleEndian.Uint64(b[48:])
	w7 := binary.LittleEndian.Uint64(b[56:])
	n0, n1, n2, n3 := zeroBytes(w0^nl), zeroBytes(w1^nl), zeroBytes(w2^nl), zeroBytes(w3^nl)
	n4, n5, n6, n7 := zeroBytes(w4^nl), zeroBytes(w5^nl), zeroBytes(w6^nl), zeroBytes(w7^nl)
	lf = gather8(n0) | gather8(n1)<<8 | gather8(n2)<<16 | gather8(n3)<<24 |
		gather8(n4)<<32 | gather8(n5)<<40 | gather8(n6)<<48 | gather8(n7)<<56
	sep = lf | gather8(zeroBytes(w0^d)) |
		gather8(zeroBytes(w1^d))<<8 |
		gather8(zeroBytes(w2^d))<<16 |
		gather8(zeroBytes(w3^d))<<24 |
		gather8(zeroBytes(w4^d))<<32 |
		gather8(zeroBytes(w5^d))<<40 |
		gather8(zeroBytes(w6^d))<<48 |
		gather8(zeroBytes(w7^d))<<56
	if !s.quoting {
		return sep, lf, 0
	}
	q0, q1, q2, q3 := zeroBytes(w0^q), zeroBytes(w1^q), zeroBytes(w2^q), zeroBytes(w3^q)
	q4, q5, q6, q7 := zeroBytes(w4^q), zeroBytes(w5^q), zeroBytes(w6^q), zeroBytes(w7^q)
	if q0|q1|q2|q3|q4|q5|q6|q7 == 0 {
		return sep, lf, 0
	}
	quote = gather8(q0) | gather8(q1)<<8 | gather8(q2)<<16 | gather8(q3)<<24 |
		gather8(q4)<<32 | gather8(q5)<<40 | gather8(q6)<<48 | gather8(q7)<<56
	return sep, lf, quote
}
