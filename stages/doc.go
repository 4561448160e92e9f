// Package stages holds Open-Stage's built-in processing stages, the seed's
// Transformation and Routing layers: Filter, Transformer, DeleteColumns,
// Aggregator, Sort, RemoveDuplicates, Joiner, Lookup, Funnel, Switcher and
// Copy (with Generator and Printer for tests and demos). Each registers its
// type for job files in an init function, declares its parameters once as
// tagged struct fields, and has a Go constructor in the seed's positional
// form:
//
//	filter := stages.NewFilter("adults", "age", ">=", 18)
//	agg := stages.NewAggregator("sum_by_user", "user_id", "total", "sum", "amount")
//
// # Common semantics
//
// Nulls follow SQL where the seed (pandas) is silent and pandas where SQL and
// pandas disagree on aggregation:
//
//   - Filter: a null never satisfies a comparison, not even != or not in;
//     only is null keeps null rows.
//   - Aggregator: aggregates skip nulls as pandas does (count counts
//     non-null values, sum of nothing is 0, mean of nothing is null), but
//     null keys form a group of their own, as in SQL GROUP BY and DataStage.
//   - Sort, and the ordering of Aggregator output and RemoveDuplicates'
//     sort_by: nulls last by default (pandas' na_position='last').
//   - RemoveDuplicates: null keys equal each other (pandas' drop_duplicates).
//   - A float NaN is treated as null by Filter, Aggregator, Sort and
//     RemoveDuplicates, as pandas does.
//
// Strings compare bytewise, in UTF-8 byte order (SQLite's BINARY collation,
// pandas' default); sorts are stable.
//
// # Expressions
//
// Filter's expr and Transformer's derive take expressions in the expr
// language (github.com/expr-lang/expr): arithmetic, comparisons, and/or/not,
// the ?: and ?? operators, in [...], string functions such as upper, lower,
// trim, hasPrefix, len, the date and duration builtins and more. The row's
// columns are the variables, with these Go types: int64 columns are int,
// float64 columns float64, bool, string, and dates and timestamps time.Time
// in UTC. An expression is compiled and type-checked once, when the job is
// validated, so a misspelt column or a type error (a string compared with a
// number) is reported before any data moves. It is sandboxed: it sees only
// the row; it cannot call Go code, and its size is capped.
//
// A null is nil inside an expression. x == nil, x != nil and x ?? default
// handle nulls explicitly. Any other operation on a nil fails inside expr,
// and when an evaluation fails while a column the expression uses is null,
// the result is null instead of an error (SQL's "null in, null out"): a
// Filter does not keep the row, a derived column is null. Evaluation stops
// at the first failure and and/or short-circuit from left to right, so
// `a > 1 or b == "x"` is null (not true) when a is null, while
// `b == "x" or a > 1` is true when b is "x"; write `(a ?? 0) > 1 or b == "x"`
// to make the intent explicit. An evaluation that fails on a row without
// nulls (an integer division by zero, say) is an error.
//
// Expressions are not evaluated row by row: their checked syntax tree is
// compiled into column kernels that evaluate each node on a whole batch
// (package internal/kernel), with the same results; a node without a kernel
// runs on expr's VM for that node only. `openstage validate --verbose` says
// which. docs/expressions.md lists the kernels and the rules.
//
// # Performance
//
// Filter's field/condition form runs typed, vectorised kernels over Arrow
// column buffers and builds a selection vector; a batch whose rows all match
// is passed on untouched. Filter and DeleteColumns are Mappers, which the
// engine runs on several batches in parallel. Aggregator and
// RemoveDuplicates hash keys with typed tables (a direct-index table for
// dense integer keys); sorting is a sequence of stable radix sorts, one per
// key, with string keys dictionary-encoded first. Aggregator keeps one entry
// per group (median and nunique keep values per group); Sort and
// RemoveDuplicates with sort_by or keep: last hold their whole input.
// Transformer with derive is a BatchProcessor, run on several batches at
// once in order; with a Go function it runs on one goroutine, in order.
package stages
