package beam

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// keyCol is one column of a key: its index and direction.
type keyCol struct {
	Col  int
	Desc bool
}

// keyEncoder encodes the key of a row as bytes whose bytewise order is the
// order of the local engine's sort (kernel.CompareRows): per column, nulls
// and float NaN first or last whatever the direction, then the value
// (numbers, dates and timestamps by value with -0 = 0, strings bytewise,
// false before true), reversed for a descending column. Equal keys have
// equal bytes, so the encoding also groups.
type keyEncoder struct {
	cols       []keyCol
	nullsFirst bool
}

func (k keyEncoder) check(s *arrow.Schema) error {
	for _, c := range k.cols {
		if c.Col < 0 || c.Col >= s.NumFields() {
			return fmt.Errorf("key column %d of %d", c.Col, s.NumFields())
		}
		switch s.Field(c.Col).Type.ID() {
		case arrow.INT64, arrow.FLOAT64, arrow.BOOL, arrow.STRING, arrow.DATE32, arrow.TIMESTAMP:
		default:
			return fmt.Errorf("column '%s' of type %s cannot be a key on Beam", s.Field(c.Col).Name, s.Field(c.Col).Type)
		}
	}
	return nil
}

// append appends the key of row i of rec to dst.
func (k keyEncoder) append(dst []byte, rec arrow.RecordBatch, i int) []byte {
	for _, c := range k.cols {
		dst = k.appendValue(dst, rec.Column(c.Col), i, c.Desc)
	}
	return dst
}

func (k keyEncoder) appendValue(dst []byte, arr arrow.Array, i int, desc bool) []byte {
	null := arr.IsNull(i)
	if f, ok := arr.(*array.Float64); ok && !null && math.IsNaN(f.Value(i)) {
		null = true
	}
	if null {
		if k.nullsFirst {
			return append(dst, 0x00)
		}
		return append(dst, 0xFF)
	}
	dst = append(dst, 0x01)
	start := len(dst)
	switch a := arr.(type) {
	case *array.Int64:
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.Value(i))^(1<<63))
	case *array.Date32:
		dst = binary.BigEndian.AppendUint64(dst, uint64(int64(a.Value(i)))^(1<<63))
	case *array.Timestamp:
		dst = binary.BigEndian.AppendUint64(dst, uint64(int64(a.Value(i)))^(1<<63))
	case *array.Float64:
		v := a.Value(i)
		if v == 0 {
			v = 0 // -0 = 0
		}
		bits := math.Float64bits(v)
		if bits>>63 == 0 {
			bits ^= 1 << 63
		} else {
			bits = ^bits
		}
		dst = binary.BigEndian.AppendUint64(dst, bits)
	case *array.Boolean:
		if a.Value(i) {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
	case *array.String:
		// 0x00 escaped as 0x00 0xFF, ended by 0x00 0x00: no encoding is a
		// prefix of another, so the bytewise order is the strings' order.
		s := a.Value(i)
		for j := 0; j < len(s); j++ {
			if s[j] == 0 {
				dst = append(dst, 0x00, 0xFF)
			} else {
				dst = append(dst, s[j])
			}
		}
		dst = append(dst, 0x00, 0x00)
	}
	if desc {
		for j := start; j < len(dst); j++ {
			dst[j] = ^dst[j]
		}
	}
	return dst
}

// bucket is a hash of a key, for hash partitioning.
func bucket(key []byte, n int) int {
	h := fnv.New64a()
	h.Write(key)
	return int(h.Sum64() % uint64(n))
}
