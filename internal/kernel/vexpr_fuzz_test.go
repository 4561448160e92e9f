package kernel

import (
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// exprGen writes random typed expressions over diffSchema from a stream of
// choices (a fuzzer's bytes, or a seeded generator's numbers).
type exprGen struct {
	next  func(n int) int
	depth int
}

func bytesChooser(data []byte) func(n int) int {
	pos := 0
	return func(n int) int {
		if pos >= len(data) || n <= 1 {
			return 0
		}
		c := int(data[pos]) % n
		pos++
		return c
	}
}

func (g *exprGen) pick(options ...func() string) string {
	if g.depth > 4 { // leaves only
		return options[0]()
	}
	g.depth++
	defer func() { g.depth-- }()
	return options[g.next(len(options))]()
}

func (g *exprGen) lit(list ...string) string { return list[g.next(len(list))] }

func (g *exprGen) intE() string {
	return g.pick(
		func() string { return g.lit("i", "j", "i", "0", "1", "-1", "7", "18", "9223372036854775807", "1000") },
		func() string { return "(" + g.intE() + g.lit(" + ", " - ", " * ", " % ") + g.intE() + ")" },
		func() string { return "-" + g.intE() },
		func() string { return "len(" + g.strE() + ")" },
		func() string { return "indexOf(" + g.strE() + ", " + g.strE() + ")" },
		func() string { return "(" + g.boolE() + " ? " + g.intE() + " : " + g.intE() + ")" },
		func() string { return "(" + g.intE() + " ?? " + g.intE() + ")" },
		func() string { return "abs(" + g.intE() + ")" },
		func() string { return "int(" + g.lit(g.floatE(), g.strE(), g.intE()) + ")" },
		func() string { return g.timeE() + g.lit(".Year()", ".Day()", ".Hour()", ".Second()", ".YearDay()") },
		func() string { return "max(" + g.intE() + ", " + g.intE() + ")" }, // no kernel: the VM
	)
}

func (g *exprGen) numE() string { return g.lit(g.intE(), g.floatE()) }

func (g *exprGen) floatE() string {
	return g.pick(
		func() string { return g.lit("f", "g", "f", "0.5", "1.21", "-0.0", "1000.0", "1e300") },
		func() string { return "(" + g.floatE() + g.lit(" + ", " - ", " * ", " / ") + g.numE() + ")" },
		func() string { return "(" + g.numE() + g.lit(" / ", " ** ") + g.numE() + ")" },
		func() string { return "-" + g.floatE() },
		func() string { return g.lit("ceil(", "floor(", "round(", "abs(") + g.floatE() + ")" },
		func() string { return "float(" + g.lit(g.intE(), g.strE()) + ")" },
		func() string { return "(" + g.boolE() + " ? " + g.floatE() + " : " + g.floatE() + ")" },
		func() string { return "(" + g.floatE() + " ?? " + g.floatE() + ")" },
	)
}

func (g *exprGen) strE() string {
	return g.pick(
		func() string { return g.lit("s", "t", "s", "''", "'paid'", "'ñ'", "' a '", "'-'") },
		func() string { return "(" + g.strE() + " + " + g.strE() + ")" },
		func() string { return g.lit("upper(", "lower(", "trim(") + g.strE() + ")" },
		func() string { return g.lit("trim(", "trimPrefix(", "trimSuffix(") + g.strE() + ", " + g.strE() + ")" },
		func() string { return g.strE() + "[" + g.intE() + ":" + g.intE() + "]" },
		func() string { return "string(" + g.lit(g.intE(), g.boolE(), g.strE(), g.floatE()) + ")" },
		func() string { return "(" + g.boolE() + " ? " + g.strE() + " : " + g.strE() + ")" },
		func() string { return "(" + g.strE() + " ?? " + g.strE() + ")" },
		func() string { return "repeat(" + g.strE() + ", 2)" }, // no kernel: the VM
	)
}

func (g *exprGen) timeE() string {
	return g.pick(
		func() string { return g.lit("d", "ts", "date('2024-01-01')", "date('2024-02-29T12:30:15Z')") },
		func() string { return "(" + g.boolE() + " ? " + g.timeE() + " : " + g.timeE() + ")" },
		func() string { return "(" + g.timeE() + " ?? " + g.timeE() + ")" },
	)
}

func (g *exprGen) anyE() string {
	return g.lit(g.intE(), g.floatE(), g.strE(), g.boolE(), g.timeE(), "nil")
}

func (g *exprGen) boolE() string {
	return g.pick(
		func() string { return g.lit("b", "c", "b", "true", "false") },
		func() string {
			return "(" + g.numE() + g.lit(" < ", " > ", " <= ", " >= ", " == ", " != ") + g.numE() + ")"
		},
		func() string { return "(" + g.strE() + g.lit(" < ", " >= ", " == ", " != ") + g.strE() + ")" },
		func() string { return "(" + g.timeE() + g.lit(" < ", " >= ", " == ", " != ") + g.timeE() + ")" },
		func() string { return "(" + g.boolE() + g.lit(" && ", " || ", " and ", " or ") + g.boolE() + ")" },
		func() string { return "!" + g.boolE() },
		func() string { return "(" + g.anyE() + g.lit(" == nil", " != nil") + ")" },
		func() string {
			return "(" + g.intE() + g.lit(" in ", " not in ") + g.lit("[1, 2, 3]", "[0, 18]", "[1, 2.5]", "[nil, 7]") + ")"
		},
		func() string {
			return "(" + g.strE() + g.lit(" in ", " not in ") + g.lit("['paid', 'new']", "['', 'a']") + ")"
		},
		func() string {
			return "(" + g.strE() + g.lit(" contains ", " startsWith ", " endsWith ") + g.strE() + ")"
		},
		func() string { return g.lit("hasPrefix(", "hasSuffix(") + g.strE() + ", " + g.strE() + ")" },
		func() string { return "(" + g.strE() + " matches '^[a-z ]*$')" },
		func() string { return "(" + g.boolE() + " ? " + g.boolE() + " : " + g.boolE() + ")" },
		func() string { return "(" + g.boolE() + " ?? " + g.boolE() + ")" },
		func() string { return "(" + g.anyE() + " == " + g.anyE() + ")" },
	)
}

// randomExpr returns an expression of a random type.
func (g *exprGen) expr() string {
	return g.lit(g.boolE(), g.intE(), g.floatE(), g.strE(), g.timeE())
}

// TestVectorRandomExpressions compares the evaluators on expressions from
// the generator (a fixed seed: the fuzz target explores further).
func TestVectorRandomExpressions(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(42, 17))
	env := NewVEnv(diffSchema)
	st := env.NewState()
	defer st.Release()
	rec := randomBatch(alloc, r, 300/diffScale, 25, true)
	defer rec.Release()
	g := &exprGen{next: func(n int) int { return r.IntN(n) }}
	compiled, vectorised := 0, 0
	for range 1500 / diffScale {
		src := g.expr()
		vp, err := compareEvaluators(t, src, rec, st, env)
		if err != nil && vp == nil {
			continue // does not type-check: no evaluator runs it
		}
		compiled++
		if err != nil {
			t.Error(err)
			continue
		}
		if !vp.Whole {
			vectorised++
		}
	}
	if compiled < 500/diffScale || vectorised < compiled/2 {
		t.Errorf("%d random expressions compiled, %d of them with kernels: the generator has drifted", compiled, vectorised)
	}
}

// FuzzVectorExpr generates an expression and a batch from the fuzzer's
// input and requires the kernels and the row evaluator to agree on every row.
func FuzzVectorExpr(f *testing.F) {
	for _, seed := range []string{"", "\x01\x02\x03", "\x05\x05\x05\x05\x05", "\xff\x10\x20\x30\x40\x50\x60\x70\x80\x90", "pkbhsa!x9"} {
		f.Add([]byte(seed), uint64(len(seed)))
	}
	f.Fuzz(func(t *testing.T, choices []byte, seed uint64) {
		env := NewVEnv(diffSchema)
		g := &exprGen{next: bytesChooser(choices)}
		src := g.expr()
		alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
		r := rand.New(rand.NewPCG(seed, seed>>7))
		rec := randomBatch(alloc, r, 1+r.IntN(80), r.IntN(60), seed%2 == 1)
		st := env.NewState()
		vp, err := compareEvaluators(t, src, rec, st, env)
		st.Release()
		rec.Release()
		alloc.AssertSize(t, 0)
		if err != nil && vp != nil { // (vp nil: src does not type-check)
			t.Fatal(err)
		}
	})
}
