package restio

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/valyala/fastjson"

	"github.com/open-stage/openstage/internal/jsonflat"
)

// outColumn is one column of the origin's output.
type outColumn = jsonflat.Column

// converter appends records to Arrow builders with a known schema
// (internal/jsonflat, shared with JSONOrigin).
type converter struct{ *jsonflat.Converter }

func newConverter(alloc memory.Allocator, cols []outColumn, explode string) *converter {
	return &converter{jsonflat.NewConverter(alloc, cols, explode)}
}

func (c *converter) release() { c.Release() }

// add appends the rows of record rec (record number n of its page, from 1).
func (c *converter) add(rec *fastjson.Value, where string, n int) error { return c.Add(rec, where, n) }

// build returns the rows appended so far as a batch.
func (c *converter) build() arrow.RecordBatch { return c.Build() }
