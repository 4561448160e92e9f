//go:build !race

package kernel

// diffScale divides the rows and random expressions of the differential
// tests (see vexpr_race_test.go).
const diffScale = 1
