//go:build race

package kernel

// Under the race detector expr's VM (the reference) is many times slower:
// the differential tests use fewer rows and random expressions.
const diffScale = 5
