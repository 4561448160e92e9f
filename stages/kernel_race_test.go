//go:build race

package stages_test

// Under the race detector the SQLite oracle (a C library translated to Go,
// fully instrumented) is about 40 times slower, so the oracle tests use
// fewer rows; they still span many batches.
const (
	oracleRows  = 1200
	oracleBatch = 97
)
