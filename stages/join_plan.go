package stages

// Key handling shared by Joiner and Lookup: resolving and type-checking the
// key columns of two inputs at Plan time, and a hash table over the rows of
// one input (the build side) probed with the rows of the other.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// joinTypeFix is the advice given when the key columns of two inputs differ in type.
const joinTypeFix = "convert one side (Transformer derive or CSVOrigin column types) so both have the same type"

// joinSide names one input of a two-input stage in messages: its role in the
// stage ("left", "reference", ...) and its pipe.
type joinSide struct {
	role string
	port openstage.Port
}

// joinCheckColumns reports a column of a type the stages cannot carry (Take
// handles only Open-Stage's types).
func joinCheckColumns(s joinSide) error {
	for _, f := range s.port.Schema.Fields() {
		if !openstage.Supported(f.Type) {
			return fmt.Errorf("%s pipe '%s': column '%s' has type %s, which Open-Stage stages do not handle; convert it to one of %s upstream",
				s.role, s.port.Pipe, f.Name, f.Type, strings.Join(openstage.TypeNames(), ", "))
		}
	}
	return nil
}

// joinResolveKeys finds the key columns of both sides (lkeys[i] pairs with
// rkeys[i]) and checks that paired columns have the same type.
func joinResolveKeys(l, r joinSide, lkeys, rkeys []string) (li, ri []int, err error) {
	if li, err = joinKeyIndexes(l, lkeys); err != nil {
		return nil, nil, err
	}
	if ri, err = joinKeyIndexes(r, rkeys); err != nil {
		return nil, nil, err
	}
	for k := range li {
		lt, rt := l.port.Schema.Field(li[k]).Type, r.port.Schema.Field(ri[k]).Type
		if arrow.TypeEqual(lt, rt) {
			continue
		}
		ln, rn := joinTypeNames(lt, rt)
		if lkeys[k] == rkeys[k] {
			return nil, nil, fmt.Errorf("key '%s' is %s in pipe '%s' but %s in pipe '%s'; %s",
				lkeys[k], ln, l.port.Pipe, rn, r.port.Pipe, joinTypeFix)
		}
		return nil, nil, fmt.Errorf("key '%s' is %s in pipe '%s' but key '%s' is %s in pipe '%s'; %s",
			lkeys[k], ln, l.port.Pipe, rkeys[k], rn, r.port.Pipe, joinTypeFix)
	}
	return li, ri, nil
}

func joinKeyIndexes(s joinSide, keys []string) ([]int, error) {
	idx := make([]int, len(keys))
	for k, name := range keys {
		i, err := openstage.FieldIndex(s.port.Schema, name)
		if err != nil {
			return nil, fmt.Errorf("%s pipe '%s': key %w", s.role, s.port.Pipe, err)
		}
		for _, prev := range keys[:k] {
			if prev == name {
				return nil, fmt.Errorf("%s key column '%s' is listed twice", s.role, name)
			}
		}
		idx[k] = i
	}
	return idx, nil
}

// joinTypeNames names two different types for a message; when their job-file
// names are the same (timestamps in two time zones), it uses Arrow's names.
func joinTypeNames(a, b arrow.DataType) (string, string) {
	an, bn := openstage.TypeName(a), openstage.TypeName(b)
	if an == bn {
		return a.String(), b.String()
	}
	return an, bn
}

// joinListPipes lists pipe names for a message: 'a', 'b'.
func joinListPipes(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "'" + n + "'"
	}
	return strings.Join(q, ", ")
}

// joinPipeParam checks that parameter param names one of the pipes.
func joinPipeParam(param, value, kind string, pipes []string) error {
	if value == "" {
		return fmt.Errorf("parameter '%s' is required: the name of the %s pipe; connected %ss: %s", param, param, kind, joinListPipes(pipes))
	}
	for _, p := range pipes {
		if p == value {
			return nil
		}
	}
	msg := fmt.Sprintf("%s pipe '%s' is not connected to this stage; its %ss are %s", param, value, kind, joinListPipes(pipes))
	if s := openstage.Suggest(value, pipes); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return fmt.Errorf("%s", msg)
}

// joinCount says "1 column", "2 columns".
func joinCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
