package openstage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Dictionary-encoded strings: an origin whose file stores a string column
// dictionary-encoded (a Parquet column chunk with a dictionary page) can
// send it as an Arrow dictionary array, each batch its indices into a small
// array of the distinct values, instead of the strings of every row. The
// type of the column stays string everywhere a schema is declared or
// checked (Plan, validation, --explain): the dictionary is a physical
// encoding of the batches only.
//
// An origin does so only for the columns that every stage the column
// reaches accepts encoded (DictionaryReader): the engine follows each
// column from the origin through the stages that pass it on unchanged
// (Filter, Copy) to the stages that consume it (Aggregator, for a column
// it does not aggregate; ParquetDestination, which decodes the rows it
// writes), and turns the encoding on only when the whole way accepts it.
// Every other stage and destination receives plain strings, decoded by the
// origin as before; so does the caller of Job.RunStage. The decision is
// a rewrite ("dictionary") shown by openstage validate --explain and
// withdrawn by --no-optimize.
//
// A dictionary column, as the engine carries it, is dictionary<int32,
// string> whose dictionary has no nulls (a null row is a null index); each
// batch may have its own dictionary.

// DictionaryOrigin is an optional interface of an Origin that can send
// some of its string columns dictionary-encoded. After Plan (and projection
// pushdown), DictionaryColumns lists them; the engine then calls
// SendDictionary with those it may encode (nil: none; also before each
// plan).
type DictionaryOrigin interface {
	DictionaryColumns() []string
	SendDictionary(cols []string)
}

// DictionaryReader is an optional interface of a Node that accepts a
// dictionary-encoded string column col on its input pipe in. passes tells
// whether the column then leaves it, encoded and under the same name, on
// every output pipe (Filter): its readers downstream must accept it too.
type DictionaryReader interface {
	AcceptsDictionary(in, col string) (accept, passes bool)
}

// dictionaryColumns turns on dictionary encoding for the columns of each
// DictionaryOrigin that every stage downstream accepts encoded.
func (j *Job) dictionaryColumns(order []*Stage) {
	for _, s := range order {
		do, ok := s.comp.(DictionaryOrigin)
		if !ok || j.plans[s] == nil || len(s.outputs) == 0 {
			continue
		}
		var cols []string
		var reach []string
		for _, c := range do.DictionaryColumns() {
			var stages []string
			if j.dictionaryReaches(s, c, &stages) {
				cols = append(cols, c)
				for _, st := range stages {
					if !slices.Contains(reach, st) {
						reach = append(reach, st)
					}
				}
			}
		}
		if len(cols) == 0 {
			continue
		}
		do.SendDictionary(cols)
		r := Rewrite{Rule: "dictionary", Stages: append([]string{s.name}, reach...),
			Detail: fmt.Sprintf("%s sends %s dictionary-encoded, as the file stores %s, to %s, which take %s so", s, strings.Join(cols, ", "), pronoun(len(cols)), strings.Join(reach, ", "), pronoun(len(cols)))}
		j.rewrites = append(j.rewrites, r)
		if j.Logger != nil {
			j.Logger.Info("rewrite", "job", j.Name, "rule", r.Rule, "stages", strings.Join(r.Stages, ","), "detail", r.Detail)
		}
	}
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// dictionaryReaches reports whether every stage that column col of stage
// s's outputs reaches accepts it encoded, adding their names to stages.
func (j *Job) dictionaryReaches(s *Stage, col string, stages *[]string) bool {
	for _, p := range s.outputs {
		t := p.to
		if t == nil || j.plans[t] == nil {
			return false
		}
		dr, ok := t.comp.(DictionaryReader)
		if !ok {
			return false
		}
		accept, passes := dr.AcceptsDictionary(p.name, col)
		if !accept {
			return false
		}
		*stages = append(*stages, t.name)
		if passes && !j.dictionaryReaches(t, col, stages) {
			return false
		}
	}
	return true
}

// IsDictionary reports whether arr is a dictionary-encoded column.
func IsDictionary(arr arrow.Array) bool {
	_, ok := arr.(*array.Dictionary)
	return ok
}

// DictionaryStrings returns the values of a dictionary-encoded string
// column (dictionary<int32, string>, no null values) and its indices.
func DictionaryStrings(arr arrow.Array) (*array.String, []int32, bool) {
	d, ok := arr.(*array.Dictionary)
	if !ok {
		return nil, nil, false
	}
	vals, ok := d.Dictionary().(*array.String)
	idx, ok2 := d.Indices().(*array.Int32)
	if !ok || !ok2 {
		return nil, nil, false
	}
	return vals, idx.Int32Values(), true
}

// DecodeDictionary returns a dictionary-encoded string column as a plain
// string column (arr itself, retained, when it is not dictionary-encoded).
func DecodeDictionary(alloc memory.Allocator, arr arrow.Array) arrow.Array {
	vals, idx, ok := DictionaryStrings(arr)
	if !ok {
		if IsDictionary(arr) {
			panic(fmt.Sprintf("openstage.DecodeDictionary: unsupported type %s", arr.DataType()))
		}
		arr.Retain()
		return arr
	}
	if arr.NullN() > 0 { // a null row gathers a null (index -1)
		idx = slices.Clone(idx)
		for i := range idx {
			if arr.IsNull(i) {
				idx[i] = -1
			}
		}
	}
	return takeString(alloc, vals, idx)
}

// DecodeDictionaries returns rec with its dictionary-encoded columns
// decoded to plain strings: rec itself, retained, when it has none.
func DecodeDictionaries(alloc memory.Allocator, rec arrow.RecordBatch) arrow.RecordBatch {
	if !slices.ContainsFunc(rec.Columns(), IsDictionary) {
		rec.Retain()
		return rec
	}
	cols := make([]arrow.Array, rec.NumCols())
	fields := slices.Clone(rec.Schema().Fields())
	for i, c := range rec.Columns() {
		cols[i] = DecodeDictionary(alloc, c)
		fields[i].Type = cols[i].DataType()
	}
	md := rec.Schema().Metadata()
	out := array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// takeDictionary gathers the indices of a dictionary column and keeps its
// dictionary.
func takeDictionary(alloc memory.Allocator, a *array.Dictionary, idx []int32) arrow.Array {
	ind := TakeArray(alloc, a.Indices(), idx)
	defer ind.Release()
	return array.NewDictionaryArray(a.DataType(), ind, a.Dictionary())
}
