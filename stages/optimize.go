package stages

// The stages' side of the plan optimizer (the root package's optimize.go):
// which stages are row-wise, which can compute the output they would give
// on sorted input from unsorted rows, and what a Sort says about its order.

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/kernel"
)

var (
	_ openstage.Orderer       = (*Sort)(nil)
	_ openstage.OrderAbsorber = (*Sort)(nil)
	_ openstage.OrderAbsorber = (*RemoveDuplicates)(nil)
	_ openstage.OrderAbsorber = (*Head)(nil)
	_ openstage.RowWise       = (*Filter)(nil)
	_ openstage.RowWise       = (*Copy)(nil)
	_ openstage.RowWise       = (*DeleteColumns)(nil)
)

// RowWise implements openstage.RowWise: Filter keeps or drops each row on
// its own values, in input order.
func (f *Filter) RowWise() bool { return true }

// RowWise implements openstage.RowWise: every output receives the input.
func (c *Copy) RowWise() bool { return true }

// RowWise implements openstage.RowWise: the rows go on, minus columns.
func (d *DeleteColumns) RowWise() bool { return true }

// allKeys returns the Sort's keys followed by those it absorbed.
func (s *Sort) allKeys() []SortKey {
	return append(append([]SortKey(nil), s.Keys...), s.absorbed...)
}

// Ordering implements openstage.Orderer.
func (s *Sort) Ordering() (openstage.Ordering, bool) {
	nullsFirst, err := sortNullsFirst(s.Nulls)
	if err != nil || s.in == nil {
		return openstage.Ordering{}, false
	}
	return openstage.Ordering{Keys: toOrderKeys(s.allKeys()), NullsFirst: nullsFirst}, true
}

// SkipSort implements openstage.Orderer.
func (s *Sort) SkipSort(skip bool) { s.skip = skip }

// AbsorbOrder implements openstage.OrderAbsorber: a stable sort by this
// stage's keys of rows sorted stably by o is a sort by this stage's keys,
// then o's, then input position. Both must place nulls alike.
func (s *Sort) AbsorbOrder(o *openstage.Ordering) (string, bool) {
	if o == nil {
		s.absorbed = nil
		return "", true
	}
	nullsFirst, err := sortNullsFirst(s.Nulls)
	if err != nil || nullsFirst != o.NullsFirst || !sortableIn(s.in, o.Keys) {
		return "", false
	}
	s.absorbed = fromOrderKeys(o.Keys)
	return fmt.Sprintf("sorts once by %s", openstage.Ordering{Keys: toOrderKeys(s.allKeys()), NullsFirst: nullsFirst}), true
}

// AbsorbOrder implements openstage.OrderAbsorber: keeping the first (or
// last) row of each key of rows sorted by o is sort_by o (after sort_by,
// if given), which finds the best row of each key in one streaming pass
// and sorts only the rows kept (dedup_best.go). RemoveDuplicates orders
// nulls last only.
func (r *RemoveDuplicates) AbsorbOrder(o *openstage.Ordering) (string, bool) {
	if o == nil {
		r.absorbed = nil
		return "", true
	}
	if o.NullsFirst || !sortableIn(r.in, o.Keys) {
		return "", false
	}
	r.absorbed = fromOrderKeys(o.Keys)
	keep := "first"
	if r.Keep == "last" {
		keep = "last"
	}
	by := o.String()
	if len(r.SortBy) > 0 {
		by = strings.Join(r.SortBy, ", ") + " then " + by
	}
	return fmt.Sprintf("keeps the %s row of each %s by (%s) in one streaming pass (one row held per key) and sorts only the rows it keeps", keep, strings.Join(r.Key, ", "), by), true
}

func toOrderKeys(keys []SortKey) []openstage.OrderKey {
	out := make([]openstage.OrderKey, len(keys))
	for i, k := range keys {
		out[i] = openstage.OrderKey{Column: k.Field, Descending: k.Descending}
	}
	return out
}

func fromOrderKeys(keys []openstage.OrderKey) []SortKey {
	out := make([]SortKey, len(keys))
	for i, k := range keys {
		out[i] = SortKey{Field: k.Column, Descending: k.Descending}
	}
	return out
}

// sortableIn reports whether every key is a column of s that can be sorted.
func sortableIn(s *arrow.Schema, keys []openstage.OrderKey) bool {
	if s == nil {
		return false
	}
	for _, k := range keys {
		idx := s.FieldIndices(k.Column)
		if len(idx) != 1 {
			return false
		}
		if _, ok := kernel.KeyKindOf(s.Field(idx[0]).Type); !ok {
			return false
		}
	}
	return true
}
