//go:build !race

package stages_test

// The oracle tests' data: several thousand rows in many batches (see
// kernel_race_test.go for the smaller set used under the race detector).
const (
	oracleRows  = 6000
	oracleBatch = 257
)
