package csvio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/text/encoding/charmap"
)

var (
	accentOnce           sync.Once
	accentUTF8, accentL1 []byte
)

// accentInputs returns the orders data with accented words in the notes
// (café, entrega rápida, ...: about every third row has one), in UTF-8 and
// the same text in Latin-1.
func accentInputs(b *testing.B) ([]byte, []byte) {
	accentOnce.Do(func() {
		r := strings.NewReplacer("gift", "café", "fragile", "frágil", "call first", "llamar á", "express", "exprès", "note", "noté")
		accentUTF8 = []byte(r.Replace(string(benchInput())))
		l1, err := charmap.ISO8859_1.NewEncoder().Bytes(accentUTF8)
		if err != nil {
			panic(err)
		}
		accentL1 = l1
	})
	return accentUTF8, accentL1
}

// BenchmarkReaderEncoding reads the same orders file in UTF-8 and in
// Latin-1 (decoded by the workers): compare the two ns/op of one run.
func BenchmarkReaderEncoding(b *testing.B) {
	u8, l1 := accentInputs(b)
	for _, tc := range []struct {
		name, enc string
		data      []byte
	}{{"utf-8", "", u8}, {"latin1", "latin1", l1}, {"utf-8/again", "", u8}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(u8)))
			for i := 0; i < b.N; i++ {
				r := NewReader(bytes.NewReader(tc.data), ordersSchema, ReadOptions{Header: true, Alloc: memory.NewGoAllocator(), Encoding: tc.enc})
				rows := int64(0)
				for {
					rec, err := r.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows += rec.NumRows()
					rec.Release()
				}
				r.Close()
				if rows != benchRows {
					b.Fatalf("rows = %d", rows)
				}
			}
		})
	}
}
