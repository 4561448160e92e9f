package openstage

import (
	"fmt"
	"strings"
	"time"
)

// Filter folding: a Filter right after an origin that can apply its
// condition itself (a database origin adds it to its query's WHERE clause)
// lets the source send fewer rows. The Filter still runs on what arrives:
// folding never changes the result, provided the origin only drops rows the
// Filter would drop too. When in doubt an origin declines.

// A Condition is a test on one column: the field/condition/value form of a
// Filter. Op is one of <, >, <=, >=, !=, =, in, not in, between, is null,
// is not null. Value is typed to the column: int64, float64, bool, string or
// time.Time (UTC; dates at midnight); a []any of those for in, not in and
// between ([low, high], both included); nil for is null and is not null.
// Nulls never satisfy a comparison (SQL semantics); in a float64 column NaN
// counts as null.
type Condition struct {
	Column string
	Op     string
	Value  any
}

func (c Condition) String() string {
	switch c.Op {
	case "is null", "is not null":
		return c.Column + " " + c.Op
	}
	return fmt.Sprintf("%s %s %s", c.Column, c.Op, showValue(c.Value))
}

func showValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = showValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// Conditioner is an optional interface of a one-input Node that keeps the
// rows satisfying a Condition and passes them on unchanged (Filter). After
// Plan, FoldCondition returns it; false when the node's test is not a single
// Condition (an expression) or its value is not exactly of the column's type.
type Conditioner interface {
	FoldCondition() (Condition, bool)
}

// FilterFolder is an optional interface of an Origin that can apply a
// Condition at the source. After planning (and projection pushdown), when
// the origin's only output pipe goes to a Conditioner, the engine calls
// FoldFilter with its condition; the origin answers whether it will apply
// it, and how (for `openstage validate`: the SQL it adds, say). Before each
// plan the engine calls FoldFilter(nil), which withdraws any earlier fold.
// The output schema does not change.
//
// The Conditioner still runs on the rows that arrive, so an origin must
// drop only rows the Conditioner would drop; it may keep more (a case-
// insensitive comparison in the database, NaN treated as a number).
type FilterFolder interface {
	FoldFilter(c *Condition) (how string, ok bool)
}

// A Fold is a Filter applied by the origin before it sends rows.
type Fold struct {
	Origin    string // the origin's stage name
	Filter    string // the filtering stage's name
	Condition Condition
	How       string   // what the origin does, such as the SQL it adds
	Through   []string // the stages between the origin and the Filter, if any (see ConditionPasser)
}

// Folds returns the filters folded into origins by the last Validate or Run.
func (j *Job) Folds() []Fold { return j.folds }

// foldFilters offers each origin that implements FilterFolder the condition
// of the Conditioner it feeds alone, directly or through stages that pass
// the condition (ConditionPasser, see foldTarget).
func (j *Job) foldFilters(order []*Stage) {
	j.folds = nil
	for _, s := range order {
		ff, ok := s.comp.(FilterFolder)
		if !ok || len(s.outputs) != 1 || s.outputs[0].to == nil {
			continue
		}
		p := j.plans[s]
		if p == nil || p.rejects[s.outputs[0].name] {
			continue
		}
		next, c, through, ok := j.foldTarget(s)
		if !ok {
			continue
		}
		how, ok := ff.FoldFilter(&c)
		if !ok {
			continue
		}
		j.folds = append(j.folds, Fold{Origin: s.name, Filter: next.name, Condition: c, How: how, Through: through})
		if j.Logger != nil {
			j.Logger.Info("filter folded", "job", j.Name, "stage", s.name, "filter", next.name, "condition", c.String(), "how", how)
		}
	}
}
