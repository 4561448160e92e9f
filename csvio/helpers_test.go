package csvio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var ordersSchema = arrow.NewSchema([]arrow.Field{
	{Name: "order_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "age", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "order_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	{Name: "status", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// genOrders generates an orders file shaped like the benchmark target:
// about 57 bytes a row, a third of the notes empty, some quoted with
// delimiters and doubled quotes inside.
func genOrders(rows int, seed int64) []byte {
	var b bytes.Buffer
	b.Grow(rows * 60)
	genOrdersTo(&b, 0, rows, seed, true)
	return b.Bytes()
}

// genOrdersTo writes rows orders with ids from+1 on.
func genOrdersTo(w io.Writer, from, rows int, seed int64, header bool) {
	rng := rand.New(rand.NewSource(seed))
	countries := []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CN", "NL", "ES"}
	statuses := []string{"shipped", "pending", "cancelled", "delivered", "returned"}
	words := []string{"gift", "fragile", "call first", "leave at door", "express", "note", "ok"}
	b := bufio.NewWriterSize(w, 1<<20)
	if header {
		b.WriteString("order_id,user_id,country,age,amount,order_date,status,note\n")
	}
	var tmp []byte
	for i := from; i < from+rows; i++ {
		tmp = strconv.AppendInt(tmp[:0], int64(i+1), 10)
		tmp = append(tmp, ',')
		tmp = strconv.AppendInt(tmp, int64(rng.Intn(1000000)), 10)
		tmp = append(tmp, ',')
		tmp = append(tmp, countries[rng.Intn(len(countries))]...)
		tmp = append(tmp, ',')
		tmp = strconv.AppendInt(tmp, int64(18+rng.Intn(70)), 10)
		tmp = append(tmp, ',')
		cents := rng.Intn(1000000)
		tmp = strconv.AppendInt(tmp, int64(cents/100), 10)
		tmp = append(tmp, '.', byte('0'+cents/10%10), byte('0'+cents%10), ',')
		tmp, _ = appendDate(tmp, 18262+int64(rng.Intn(1826)))
		tmp = append(tmp, ',')
		tmp = append(tmp, statuses[rng.Intn(len(statuses))]...)
		tmp = append(tmp, ',')
		switch r := rng.Intn(12); {
		case r < 4: // empty
		case r < 6: // "word, then ""word""" (delimiter and doubled quotes inside)
			tmp = append(tmp, '"')
			tmp = append(tmp, words[rng.Intn(len(words))]...)
			tmp = append(tmp, `, then ""`...)
			tmp = append(tmp, words[rng.Intn(len(words))]...)
			tmp = append(tmp, `"""`...)
		default:
			tmp = append(tmp, words[rng.Intn(len(words))]...)
			tmp = append(tmp, ' ')
			tmp = append(tmp, words[rng.Intn(len(words))]...)
		}
		tmp = append(tmp, '\n')
		b.Write(tmp)
	}
	b.Flush()
}

// setChunking makes the reader cut tiny chunks for the duration of a test.
func setChunking(t testing.TB, chunk, maxRow int) {
	oc, om := testChunkSize, testMaxRow
	testChunkSize, testMaxRow = chunk, maxRow
	t.Cleanup(func() { testChunkSize, testMaxRow = oc, om })
}

// readAll reads everything, returning the batches (to be released), all
// rejects and the final error (nil at io.EOF).
func readAll(t testing.TB, r *Reader) ([]arrow.RecordBatch, []Reject, error) {
	t.Helper()
	var recs []arrow.RecordBatch
	var rejects []Reject
	for {
		rec, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return recs, rejects, err
		}
		recs = append(recs, rec)
		rejects = append(rejects, r.Rejects()...)
	}
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// cellStrings renders every row of the batches as strings: "<null>" for
// null, else a canonical rendering of the value.
func cellStrings(recs []arrow.RecordBatch) [][]string {
	var out [][]string
	for _, rec := range recs {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := make([]string, rec.NumCols())
			for c := 0; c < int(rec.NumCols()); c++ {
				row[c] = cellString(rec.Column(c), i)
			}
			out = append(out, row)
		}
	}
	return out
}

func cellString(a arrow.Array, i int) string {
	if a.IsNull(i) {
		return "<null>"
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int64:
		return strconv.FormatInt(a.Value(i), 10)
	case *array.Float64:
		return strconv.FormatFloat(a.Value(i), 'g', -1, 64)
	case *array.Boolean:
		return strconv.FormatBool(a.Value(i))
	case *array.Date32:
		b, _ := appendDate(nil, int64(a.Value(i)))
		return string(b)
	case *array.Timestamp:
		b, _ := appendTimestamp(nil, int64(a.Value(i)))
		return string(b)
	}
	return fmt.Sprintf("?%T", a)
}

func newMem(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}
