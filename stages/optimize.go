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

var (
	_ openstage.ConditionPasser = (*Sort)(nil)
	_ openstage.ConditionPasser = (*Filter)(nil)
	_ openstage.ConditionPasser = (*Copy)(nil)
	_ openstage.ConditionPasser = (*DeleteColumns)(nil)
	_ openstage.ConditionPasser = (*RemoveDuplicates)(nil)
	_ openstage.ConditionPasser = (*Aggregator)(nil)
	_ openstage.ConditionPasser = (*Joiner)(nil)
)

// PassesCondition implements openstage.ConditionPasser: a Sort reorders
// rows, whatever their values.
func (s *Sort) PassesCondition(_, _ string) bool { return true }

// PassesCondition implements openstage.ConditionPasser: rows the Filter
// keeps go on unchanged. Only the field form: an expression may fail on a
// row, which must then still fail the job.
func (f *Filter) PassesCondition(_, _ string) bool { return f.prog == nil && f.pred != nil }

// PassesCondition implements openstage.ConditionPasser (a Copy with one
// output: the engine does not walk through a Copy that feeds others).
func (c *Copy) PassesCondition(_, _ string) bool { return true }

// PassesCondition implements openstage.ConditionPasser.
func (d *DeleteColumns) PassesCondition(_, _ string) bool { return true }

// PassesCondition implements openstage.ConditionPasser: every row of a key
// has the key's value, so a condition on a key column drops whole keys,
// whichever row of them would be kept.
func (r *RemoveDuplicates) PassesCondition(_, col string) bool {
	for _, k := range r.Key {
		if k == col {
			return true
		}
	}
	return false
}

// PassesCondition implements openstage.ConditionPasser: a condition on a
// key column drops whole groups (SQL's HAVING on a grouping column is its
// WHERE).
func (a *Aggregator) PassesCondition(_, col string) bool {
	for _, k := range a.keyNames() {
		if k == col {
			return true
		}
	}
	return false
}

// PassesCondition implements openstage.ConditionPasser: an output column
// that is a column of input in, not renamed, when the join keeps every row
// of that side (each output row carries the value of the one row it comes
// from, so dropping that row drops exactly its output rows); or a merged
// key (equal on both sides of a match, and the side that has the row gives
// it otherwise).
func (j *Joiner) PassesCondition(in, col string) bool {
	pl := &j.plan
	if pl.Schema == nil {
		return false
	}
	idx := pl.Schema.FieldIndices(col)
	if len(idx) != 1 {
		return false
	}
	c := pl.Out[idx[0]]
	if c.Key >= 0 {
		return in == pl.LeftPipe || in == pl.RightPipe
	}
	left := in == pl.LeftPipe
	if !left && in != pl.RightPipe || c.Left != left {
		return false
	}
	src := pl.RSchema
	if left {
		src = pl.LSchema
	}
	if src.Field(c.Col).Name != col {
		return false
	}
	// Inner: both sides' rows are dropped when unmatched anyway; left
	// keeps every left row (and drops unmatched right ones), right the
	// reverse. An outer join keeps the other side's unmatched rows with a
	// null here, which a condition other than is null drops.
	return left && !pl.KeepRight || !left && !pl.KeepLeft
}

// keyNames returns the grouping columns (key or keys).
func (a *Aggregator) keyNames() []string {
	if len(a.Keys) > 0 {
		return a.Keys
	}
	return a.Key
}
