package openstage_test

import (
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/open-stage/openstage"
)

// TestNormalizeValueInt64Boundary pins the float -> int64 boundary that
// AppendValue (Builder, Generator) and NormalizeValue (Transformer) share:
// [-2^63, 2^63) converts, nothing else does.
func TestNormalizeValueInt64Boundary(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want int64
		ok   bool
	}{
		{"2^63-1 as int64", int64(math.MaxInt64), math.MaxInt64, true},
		{"-2^63 as int64", int64(math.MinInt64), math.MinInt64, true},
		{"2^63-1 as uint64", uint64(math.MaxInt64), math.MaxInt64, true},
		{"2^63 as uint64", uint64(1 << 63), 0, false},
		{"2^63 as float", 0x1p63, 0, false},
		{"float64(2^63-1) rounds to 2^63", float64(math.MaxInt64), 0, false},
		{"largest float below 2^63", math.Nextafter(0x1p63, 0), 1<<63 - 1024, true},
		{"-2^63 as float", -0x1p63, math.MinInt64, true},
		{"below -2^63 as float", math.Nextafter(-0x1p63, math.Inf(-1)), 0, false},
		{"NaN", math.NaN(), 0, false},
		{"+Inf", math.Inf(1), 0, false},
		{"-Inf", math.Inf(-1), 0, false},
		{"2.5", 2.5, 0, false},
		{"-0", math.Copysign(0, -1), 0, true},
		{"float32 2^24", float32(1 << 24), 1 << 24, true},
		{"int8", int8(-7), -7, true},
		{"string", "-9223372036854775808", math.MinInt64, true},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := openstage.NormalizeValue(arrow.PrimitiveTypes.Int64, c.v)
			if (err == nil) != c.ok {
				t.Fatalf("NormalizeValue(%v) = %v, %v; want ok=%v", c.v, got, err, c.ok)
			}
			if c.ok && got != c.want {
				t.Fatalf("NormalizeValue(%v) = %v, want %d", c.v, got, c.want)
			}
			// AppendValue follows the same rule and appends nothing on error.
			b := array.NewInt64Builder(mem)
			defer b.Release()
			err2 := openstage.AppendValue(b, c.v)
			if (err2 == nil) != c.ok || (err2 != nil && err2.Error() != err.Error()) {
				t.Fatalf("AppendValue(%v) error %v, NormalizeValue error %v", c.v, err2, err)
			}
			if c.ok && (b.Len() != 1 || b.Value(0) != c.want) {
				t.Fatalf("AppendValue(%v) appended %v", c.v, b)
			}
			if !c.ok && b.Len() != 0 {
				t.Fatalf("AppendValue(%v) appended %d values on error", c.v, b.Len())
			}
		})
	}
}

// TestNormalizeValueOtherTypes checks that NormalizeValue and AppendValue
// agree on every column type, for values that convert and values that do not.
func TestNormalizeValueOtherTypes(t *testing.T) {
	ts := time.Date(2024, 2, 29, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		dt   arrow.DataType
		v    any
		want any // nil: an error
	}{
		{arrow.PrimitiveTypes.Float64, math.Inf(-1), math.Inf(-1)},
		{arrow.PrimitiveTypes.Float64, int64(math.MaxInt64), 0x1p63},
		{arrow.PrimitiveTypes.Float64, uint64(math.MaxUint64), 0x1p64},
		{arrow.PrimitiveTypes.Float64, "1e3", 1000.0},
		{arrow.PrimitiveTypes.Float64, true, nil},
		{arrow.FixedWidthTypes.Boolean, "true", true},
		{arrow.FixedWidthTypes.Boolean, 1, nil},
		{arrow.BinaryTypes.String, 42, "42"},
		{arrow.BinaryTypes.String, ts, ts.String()},
		{arrow.FixedWidthTypes.Date32, "2024-02-29", arrow.Date32FromTime(ts)},
		{arrow.FixedWidthTypes.Date32, "soon", nil},
		{arrow.FixedWidthTypes.Timestamp_us, ts, arrow.Timestamp(ts.UnixMicro())},
		{arrow.FixedWidthTypes.Timestamp_us, 3.5, nil},
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, c := range cases {
		got, err := openstage.NormalizeValue(c.dt, c.v)
		if c.want == nil {
			if err == nil {
				t.Errorf("%s %v: got %v, want an error", c.dt, c.v, got)
			}
		} else if err != nil || got != c.want {
			t.Errorf("%s %v: got %v (%T), %v; want %v (%T)", c.dt, c.v, got, got, err, c.want, c.want)
		}
		b := array.NewBuilder(mem, c.dt)
		err2 := openstage.AppendValue(b, c.v)
		if (err == nil) != (err2 == nil) {
			t.Errorf("%s %v: NormalizeValue error %v, AppendValue error %v", c.dt, c.v, err, err2)
		}
		if err == nil {
			b2 := array.NewBuilder(mem, c.dt)
			openstage.AppendNormalized(b2, got)
			a1, a2 := b.NewArray(), b2.NewArray()
			if !array.Equal(a1, a2) {
				t.Errorf("%s %v: AppendValue gave %v, AppendNormalized %v", c.dt, c.v, a1, a2)
			}
			a1.Release()
			a2.Release()
			b2.Release()
		}
		b.Release()
	}
}
