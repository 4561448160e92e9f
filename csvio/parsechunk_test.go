package csvio

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkParseChunk measures the parser alone on one goroutine: one chunk
// of 65536 orders rows into a batch.
func BenchmarkParseChunk(b *testing.B) {
	data := genOrders(65536, 1)
	data = data[bytes.IndexByte(data, '\n')+1:]
	cfg, _ := ReadOptions{Header: true, Alloc: memory.NewGoAllocator()}.resolve()
	kinds, _ := schemaKinds(ordersSchema)
	p := newParser(cfg, ordersSchema, ordersSchema, kinds, make([]form, len(kinds)))
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		res := p.parse(&chunk{data: data, startLine: 2, rowsHint: 65537, eof: true})
		if res.err != nil {
			b.Fatal(res.err)
		}
		res.batch.Release()
	}
}

// BenchmarkParseChunkRows is BenchmarkParseChunk with the block path off
// (row-at-a-time parsing only), for comparison.
func BenchmarkParseChunkRows(b *testing.B) {
	noBlocks = true
	defer func() { noBlocks = false }()
	BenchmarkParseChunk(b)
}
