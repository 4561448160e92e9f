package csvio

import (
	"math"
	"math/big"
	"math/bits"
	"sync"
)

// Shortest decimal of a float64 by Raffaello Giulietti's Schubfach
// algorithm ("The Schubfach way to render doubles", 2020; the algorithm of
// Java's Double.toString since JDK 19), written for the writer: it gives
// the digits as an integer and a power of ten, which appendPlain writes
// without strconv's intermediate digit buffer. The result is the one
// strconv's shortest formatting gives: the decimal with the fewest digits
// that reads back as v and, of those, the closest to v (ties to an even
// last digit). TestShortestDecimal compares the two on random bit patterns
// of every exponent.

const (
	sfQMin = -1074   // the exponent of the smallest subnormal
	sfCMin = 1 << 52 // the smallest normal significand
	sfKMin = -324    // the range of k = floor(log10(2^q))
	sfKMax = 292
)

// sfG holds, for k in [sfKMin, sfKMax], g = floor(10^-k * 2^(125 -
// floor(log2(10^-k)))) + 1 as g1 2^63 + g0 (2^125 <= g < 2^126): a 126-bit
// approximation from above of 10^-k.
var (
	sfOnce sync.Once
	sfG    [sfKMax - sfKMin + 1][2]uint64
)

func sfTable() {
	mask := new(big.Int).SetUint64(1<<63 - 1)
	ten := big.NewInt(10)
	for k := sfKMin; k <= sfKMax; k++ {
		e := -k
		r := 125 - flog2pow10(e)
		num, den := big.NewInt(1), big.NewInt(1)
		if e >= 0 {
			num.Exp(ten, big.NewInt(int64(e)), nil)
		} else {
			den.Exp(ten, big.NewInt(int64(-e)), nil)
		}
		if r >= 0 {
			num.Lsh(num, uint(r))
		} else {
			den.Lsh(den, uint(-r))
		}
		g := num.Quo(num, den)
		g.Add(g, big.NewInt(1))
		g0 := new(big.Int).And(g, mask).Uint64()
		g1 := new(big.Int).Rsh(g, 63).Uint64()
		sfG[k-sfKMin] = [2]uint64{g1, g0}
	}
}

// flog10pow2 is floor(e log10(2)), flog10threeQuartersPow2 floor(log10(3/4
// 2^e)), flog2pow10 floor(e log2(10)), exact in the ranges used here.
func flog10pow2(e int) int { return int((int64(e) * 661_971_961_083) >> 41) }

func flog10threeQuartersPow2(e int) int {
	return int((int64(e)*661_971_961_083 - 274_743_187_321) >> 41)
}

func flog2pow10(e int) int { return int((int64(e) * 913_124_641_741) >> 38) }

// rop is the rounding to odd of g cp 2^-127 (g = g1 2^63 + g0).
func rop(g1, g0, cp uint64) uint64 {
	x1, _ := bits.Mul64(g0, cp)
	y1, y0 := bits.Mul64(g1, cp)
	z := (y0 >> 1) + x1
	vbp := y1 + (z >> 63)
	return vbp | ((z&(1<<63-1))+(1<<63-1))>>63
}

// shortestDecimal returns f and e with f 10^e the shortest decimal that
// reads back as v (finite, not zero, sign ignored); f may end in zeros.
func shortestDecimal(v float64) (f uint64, e int) {
	sfOnce.Do(sfTable)
	b := math.Float64bits(v)
	t := b & (1<<52 - 1)
	bq := int(b>>52) & 0x7ff
	if bq == 0 { // subnormal
		return sfDecimal(sfQMin, t)
	}
	mq := -sfQMin + 1 - bq
	c := sfCMin | t
	if 0 < mq && mq < 53 { // an integer below 2^53: its own digits
		if f := c >> uint(mq); f<<uint(mq) == c {
			return f, 0
		}
	}
	return sfDecimal(-mq, c)
}

// sfDecimal is the core of Schubfach for v = c 2^q.
func sfDecimal(q int, c uint64) (uint64, int) {
	out := c & 1
	cb := c << 2
	cbr := cb + 2
	var cbl uint64
	var k int
	if c != sfCMin || q == sfQMin {
		cbl = cb - 2
		k = flog10pow2(q)
	} else {
		cbl = cb - 1
		k = flog10threeQuartersPow2(q)
	}
	h := q + flog2pow10(-k) + 2
	g := &sfG[k-sfKMin]
	vb := rop(g[0], g[1], cb<<uint(h))
	vbl := rop(g[0], g[1], cbl<<uint(h))
	vbr := rop(g[0], g[1], cbr<<uint(h))
	s := vb >> 2
	// Java requires two digits and tests s >= 100 here; strconv's shortest
	// may have one (5e-324), which only subnormals reach.
	if s >= 10 {
		sp10 := s / 10 * 10
		tp10 := sp10 + 10
		upin := vbl+out <= sp10<<2
		wpin := (tp10<<2)+out <= vbr
		if upin != wpin {
			if upin {
				return sp10, k
			}
			return tp10, k
		}
	}
	t := s + 1
	uin := vbl+out <= s<<2
	win := (t<<2)+out <= vbr
	if uin != win {
		if uin {
			return s, k
		}
		return t, k
	}
	cmp := int64(vb - (s+t)<<1)
	if cmp < 0 || cmp == 0 && s&1 == 0 {
		return s, k
	}
	return t, k
}

// appendPlain appends v (finite, not zero) as strconv.AppendFloat(dst, v,
// 'f', -1, 64) does: the shortest digits, in plain notation.
func appendPlain(dst []byte, v float64) []byte {
	if v < 0 {
		dst = append(dst, '-')
	}
	f, e := shortestDecimal(v)
	for f%10 == 0 {
		f /= 10
		e++
	}
	if e >= 0 {
		dst = appendUint(dst, f)
		for ; e > 0; e-- {
			dst = append(dst, '0')
		}
		return dst
	}
	if dp := decimalLen(f) + e; dp <= 0 {
		dst = append(dst, '0', '.')
		for ; dp < 0; dp++ {
			dst = append(dst, '0')
		}
		return appendUint(dst, f)
	}
	p := pow10u64[-e]
	dst = appendUint(dst, f/p)
	return appendFraction(dst, f%p, -e)
}

// appendFraction appends '.' and the n digits of u (0 < u < 10^n, n <=
// 19), zeros first.
func appendFraction(dst []byte, u uint64, n int) []byte {
	dst = append(dst, '.')
	for z := n - decimalLen(u); z > 0; z-- {
		dst = append(dst, '0')
	}
	return appendUint(dst, u)
}
