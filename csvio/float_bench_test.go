package csvio

import (
	"math"
	"math/rand"
	"strconv"
	"testing"
)

// w7Floats returns n values shaped like W7's amount (two decimals,
// exponential with mean ~500, 0.01..20000) and, with vat, amount * 1.21.
func w7Floats(n int, vat bool) []float64 {
	rng := rand.New(rand.NewSource(42))
	vs := make([]float64, n)
	for i := range vs {
		a := math.Round(math.Min(math.Max(rng.ExpFloat64()*500, 0.01), 20000)*100) / 100
		if vat {
			a *= 1.21
		}
		vs[i] = a
	}
	return vs
}

// BenchmarkAppendFloat formats W7's two float columns with the writer's
// appendFloat and, beside it, with strconv's shortest 'f' formatting.
func BenchmarkAppendFloat(b *testing.B) {
	for _, c := range []struct {
		name string
		vat  bool
	}{{"amount", false}, {"amount_vat", true}} {
		vs := w7Floats(1<<16, c.vat)
		buf := make([]byte, 0, 1<<21)
		b.Run(c.name+"/appendFloat", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				out := buf[:0]
				for _, v := range vs {
					out = appendFloat(out, v)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(vs)), "ns/value")
		})
		b.Run(c.name+"/strconv", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				out := buf[:0]
				for _, v := range vs {
					out = strconv.AppendFloat(out, v, 'f', -1, 64)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(vs)), "ns/value")
		})
	}
}
