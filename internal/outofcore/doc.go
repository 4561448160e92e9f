// Package outofcore holds what the stages do past their memory budget, on
// top of package spill's temporary Arrow IPC files: an external merge sort
// (Sorter: Sort, RemoveDuplicates, Aggregator's output), hybrid hash
// aggregation (Aggregation: Aggregator), RemoveDuplicates' two-sort path
// (Dedup), a hash join that turns into a grace hash join (HashJoin:
// Joiner), and the reader that takes several inputs one after the other,
// holding early batches in memory then on disk (SeqReader: Joiner, Lookup,
// Funnel).
//
// Every algorithm here gives the same output as its in-memory path (order
// included, except a grace hash join's probe order, which the Joiner
// documents); the stages' spill tests check it.
package outofcore
