package csvio

import (
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

// TestShortestDecimal compares shortestDecimal with strconv's shortest
// formatting ('e', -1) on random bit patterns (every exponent, subnormals
// among them), powers of two (where the spacing below is half the spacing
// above) and their neighbours, and the extremes.
func TestShortestDecimal(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	n := 3000000
	if testing.Short() {
		n = 300000
	}
	check := func(v float64) {
		if v == 0 || math.IsInf(v, 0) || v != v {
			return
		}
		f, e := shortestDecimal(v)
		for f%10 == 0 {
			f /= 10
			e++
		}
		want := strconv.FormatFloat(math.Abs(v), 'e', -1, 64)
		mant, exp, _ := strings.Cut(want, "e")
		digits := strings.Replace(mant, ".", "", 1)
		x, _ := strconv.Atoi(exp)
		if got := strconv.FormatUint(f, 10); got != digits || e != x-(len(digits)-1) {
			t.Fatalf("%v (bits %#x): got %s e%d, strconv %s", v, math.Float64bits(v), got, e, want)
		}
	}
	for _, v := range []float64{math.SmallestNonzeroFloat64, 2 * math.SmallestNonzeroFloat64, 3 * math.SmallestNonzeroFloat64,
		math.MaxFloat64, 2.2250738585072014e-308, 2.225073858507201e-308, 1, 0.1, 0.3, 1e23, 9007199254740993, 5e-324} {
		check(v)
		check(math.Nextafter(v, 0))
		check(math.Nextafter(v, math.Inf(1)))
	}
	for q := -1074; q <= 1023; q++ {
		p := math.Ldexp(1, q)
		check(p)
		check(math.Nextafter(p, 0))
		check(math.Nextafter(p, math.Inf(1)))
	}
	for i := 0; i < n; i++ {
		switch i % 4 {
		case 0:
			check(math.Float64frombits(rng.Uint64()))
		case 1: // subnormals
			check(math.Float64frombits(rng.Uint64() & (1<<52 - 1)))
		case 2: // few significant digits at any scale
			check(float64(rng.Int63n(1e6)) * math.Pow(10, float64(rng.Intn(600)-300)))
		default:
			check(float64(rng.Int63n(2e7)) / 100 * 1.21)
		}
	}
}

// TestAppendPlain compares appendPlain with strconv's 'f', -1 formatting
// over the range the writer uses it for.
func TestAppendPlain(t *testing.T) {
	rng := rand.New(rand.NewSource(18))
	n := 1000000
	if testing.Short() {
		n = 100000
	}
	for i := 0; i < n; i++ {
		v := rng.NormFloat64() * math.Pow(10, float64(rng.Intn(29)-7))
		if i%3 == 0 {
			v = float64(rng.Int63n(1e9)) * math.Pow(10, float64(rng.Intn(29)-16))
		}
		if a := math.Abs(v); a == 0 || a < 1e-7 || a >= 1e21 {
			continue
		}
		if got, want := string(appendPlain(nil, v)), strconv.FormatFloat(v, 'f', -1, 64); got != want {
			t.Fatalf("%v: got %q, strconv %q", v, got, want)
		}
	}
}
