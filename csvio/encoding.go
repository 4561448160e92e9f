package csvio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// textEncoding is a resolved `encoding` option.
//
//   - UTF-8 (the default) is read as it is: the workers check each chunk
//     for NUL bytes and invalid UTF-8, which costs little beside parsing.
//   - Single-byte encodings whose first 128 characters are ASCII (Latin-1,
//     the Windows and ISO-8859 code pages, KOI8, Macintosh, ...) keep the
//     CSV structure in the same bytes, so the splitter cuts the raw input
//     and each worker decodes its own chunk, through a 256-entry table, in
//     parallel: a chunk without a byte above 0x7F is not copied at all.
//   - Every other encoding (UTF-16, the multi-byte Asian encodings, EBCDIC)
//     is decoded by golang.org/x/text in front of the splitter, in one
//     goroutine.
type textEncoding struct {
	name   string
	native bool // UTF-8
	bom    bool // utf-8-sig: write a byte order mark
	cm     *charmap.Charmap
	dec    *[256]decoded // cm's table, when ASCII-compatible
	enc    encoding.Encoding
	utf16  bool // utf-16 with a byte order mark
}

type decoded struct {
	n uint8
	b [3]byte
}

// EncodingNames lists the names `encoding` documents; golang.org/x/text
// knows many more (any IANA or WHATWG label).
var EncodingNames = []string{"utf-8", "utf-8-sig", "latin1 (iso-8859-1)", "windows-1252", "utf-16", "utf-16le", "utf-16be", "iso-8859-15", "windows-1250", "shift_jis", "gbk", "big5", "euc-kr"}

func lookupEncoding(name string) (*textEncoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	e := &textEncoding{name: name}
	switch strings.ReplaceAll(n, "_", "-") {
	case "", "utf-8", "utf8":
		e.native = true
		return e, nil
	case "utf-8-sig", "utf8-sig", "utf-8-bom":
		e.native, e.bom = true, true
		return e, nil
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1":
		e.cm = charmap.ISO8859_1
	case "windows-1252", "cp1252":
		e.cm = charmap.Windows1252
	case "utf-16":
		e.enc = unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM)
		e.utf16 = true
		return e, nil
	}
	if e.cm == nil {
		enc, err := ianaindex.IANA.Encoding(n)
		if err != nil || enc == nil {
			enc, err = htmlindex.Get(n)
		}
		if err != nil || enc == nil {
			return nil, fmt.Errorf("unknown encoding '%s'; use one of %s, or another IANA name", name, strings.Join(EncodingNames, ", "))
		}
		if cm, ok := enc.(*charmap.Charmap); ok {
			e.cm = cm
		} else {
			e.enc = enc
			return e, nil
		}
	}
	ascii := true
	var t [256]decoded
	for b := 0; b < 256; b++ {
		r := e.cm.DecodeByte(byte(b))
		if b < 0x80 && r != rune(b) {
			ascii = false
		}
		t[b].n = uint8(utf8.EncodeRune(t[b].b[:], r))
	}
	if ascii {
		e.dec = &t
	} else {
		e.enc = e.cm
	}
	return e, nil
}

// serial reports whether the input is decoded in front of the splitter.
func (e *textEncoding) serial() bool { return e.enc != nil }

// wrapReader decodes r in front of everything when the encoding needs it.
func (e *textEncoding) wrapReader(r io.Reader) io.Reader {
	if e == nil || e.enc == nil {
		return r
	}
	return transform.NewReader(r, e.enc.NewDecoder())
}

// decodeTo appends src, decoded through the table, to dst.
func (e *textEncoding) decodeTo(dst, src []byte) []byte {
	t := e.dec
	i := 0
	for i < len(src) {
		j := i + asciiPrefix(src[i:])
		dst = append(dst, src[i:j]...)
		if j == len(src) {
			break
		}
		d := &t[src[j]]
		dst = append(dst, d.b[:d.n]...)
		i = j + 1
	}
	return dst
}

// decodeString decodes a header field.
func (e *textEncoding) decodeString(b []byte) string {
	if e == nil || e.dec == nil {
		return string(b)
	}
	return string(e.decodeTo(nil, b))
}

// asciiPrefix returns the length of the leading run of bytes below 0x80.
func asciiPrefix(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(b) && b[i] < 0x80 {
		i++
	}
	return i
}

// hasHigh reports whether b holds a byte above 0x7F.
func hasHigh(b []byte) bool { return asciiPrefix(b) < len(b) }

// firstInvalidUTF8 returns the offset of the first byte of b that is not
// part of valid UTF-8, or -1.
func firstInvalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	i := 0
	for i < len(b) {
		i += asciiPrefix(b[i:])
		if i >= len(b) {
			break
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// replaceInvalidUTF8 appends b to dst with every byte that is not part of
// valid UTF-8 replaced by U+FFFD.
func replaceInvalidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		k := firstInvalidUTF8(b)
		if k < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:k]...)
		dst = append(dst, "\uFFFD"...)
		b = b[k+1:]
	}
	return dst
}

// badByte is a byte the reader refuses: a NUL, or a byte of invalid UTF-8.
type badByte struct {
	at  int // offset in the buffer; -1: none
	nul bool
	b   byte
}

// findBad returns the first NUL byte or (when utf8 is set) byte of invalid
// UTF-8 in b.
func findBad(b []byte, utf8 bool) badByte {
	nul := bytes.IndexByte(b, 0)
	lim := b
	if nul >= 0 {
		lim = b[:nul]
	}
	if utf8 {
		if k := firstInvalidUTF8(lim); k >= 0 {
			return badByte{at: k, b: b[k]}
		}
	}
	if nul >= 0 {
		return badByte{at: nul, nul: true}
	}
	return badByte{at: -1}
}

// message describes a bad byte at character char of its line.
func (bb badByte) message(char int) string {
	if bb.nul {
		return fmt.Sprintf("NUL byte (character %d of the line): a CSV file holds text; remove the NUL bytes (a binary or UTF-16 file? then set encoding: utf-16)", char)
	}
	return fmt.Sprintf("invalid UTF-8: byte 0x%02X (character %d of the line); the file is not UTF-8: set its encoding (encoding: latin1, windows-1252, ...), or invalid_utf8: replace to read such bytes as U+FFFD", bb.b, char)
}

// charOfLine returns the 1-based character position of buf[at] in its
// line, the line starting after the last LF before it (or at buf[0]).
func charOfLine(buf []byte, at int) int {
	start := bytes.LastIndexByte(buf[:at], '\n') + 1
	return utf8.RuneCount(buf[start:at]) + 1
}

// encoder turns the writer's UTF-8 blocks into the target encoding. One per
// worker.
type encoder struct {
	e   *textEncoding
	rev map[rune]byte // charmap: the byte of each non-ASCII character
	x   *encoding.Encoder
	buf []byte
}

func (e *textEncoding) newEncoder() *encoder {
	en := &encoder{e: e}
	switch {
	case e.native:
		return nil
	case e.cm != nil:
		en.rev = map[rune]byte{}
		for b := 0x80; b < 256; b++ {
			if r := e.cm.DecodeByte(byte(b)); r != utf8.RuneError {
				en.rev[r] = byte(b)
			}
		}
		if e.dec == nil {
			en.x = e.cm.NewEncoder()
		}
	case e.utf16:
		en.x = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewEncoder()
	default:
		en.x = e.enc.NewEncoder()
	}
	return en
}

// bom returns what the output starts with.
func (e *textEncoding) bomBytes() []byte {
	switch {
	case e.bom:
		return []byte{0xEF, 0xBB, 0xBF}
	case e.utf16:
		return []byte{0xFF, 0xFE}
	}
	return nil
}

// encode returns src in the target encoding (in a buffer reused by the
// next call), or the first character it cannot hold.
func (en *encoder) encode(src []byte) ([]byte, rune, bool) {
	if en.x != nil {
		out, err := en.x.Bytes(src)
		if err != nil {
			return nil, en.firstUnencodable(src), false
		}
		return out, 0, true
	}
	dst := en.buf[:0]
	for i := 0; i < len(src); {
		j := i + asciiPrefix(src[i:])
		dst = append(dst, src[i:j]...)
		if j == len(src) {
			break
		}
		r, n := utf8.DecodeRune(src[j:])
		b, ok := en.rev[r]
		if !ok || r == utf8.RuneError && n <= 1 {
			return nil, r, false
		}
		dst = append(dst, b)
		i = j + n
	}
	en.buf = dst
	return dst, 0, true
}

// canEncode reports whether s can be written in the target encoding.
func (en *encoder) canEncode(s string) bool {
	_, _, ok := en.encode([]byte(s))
	return ok
}

func (en *encoder) firstUnencodable(src []byte) rune {
	for _, r := range string(src) {
		if _, err := en.x.Bytes([]byte(string(r))); err != nil {
			return r
		}
	}
	return utf8.RuneError
}
