// Package kernel holds the vectorised compute the built-in stages share:
// selection predicates (Filter), the typing of Filter's values, the stable
// multi-key sort (Sort, RemoveDuplicates, Aggregator's output order), the
// grouping hash tables and the aggregate functions (Aggregator,
// RemoveDuplicates), the expression compiler and evaluator (Filter's expr,
// Transformer's derive), join keys and the build-side hash table (Joiner,
// Lookup), and row comparison and concatenation helpers.
//
// Kernels work on whole Arrow columns through their typed value slices and
// null bitmaps, never on one row through an interface, and allocate with
// the allocator they are given. Nothing here knows about pipes or stages'
// parameters; package internal/outofcore builds on it for what runs past a
// memory budget, and package stages declares the stages.
package kernel
