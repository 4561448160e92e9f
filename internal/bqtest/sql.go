package bqtest

import (
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	bq "google.golang.org/api/bigquery/v2"
)

// Translation of GoogleSQL to SQLite: the few differences the package
// documentation lists. The query is split into tokens; table paths after
// FROM and JOIN become the SQLite names of the tables (or a 404 when the
// dataset or table does not exist), and the other differences are rewritten
// token by token.

type tokKind int

const (
	tWS tokKind = iota
	tIdent
	tQuoted // `quoted identifier`
	tString // 'string' or "string", val holds the decoded text
	tBytes  // b'bytes'
	tNumber
	tParam      // @name, val holds the name
	tPositional // ?
	tLegacyRef  // [project:dataset.table] in legacy SQL, val holds the inside
	tPunct
)

type token struct {
	kind tokKind
	text string // as written
	val  string
	pos  int // byte offset, for messages
}

// lineCol writes a byte offset as the service's [line:column].
func lineCol(q string, pos int) string {
	line, col := 1, 1
	for i, r := range q {
		if i >= pos {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("[%d:%d]", line, col)
}

func lex(q string, legacy bool) ([]token, *apiError) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			for i < len(q) && strings.IndexByte(" \t\n\r\f", q[i]) >= 0 {
				i++
			}
			toks = append(toks, token{kind: tWS, text: q[start:i], pos: start})
		case c == '#' || c == '-' && strings.HasPrefix(q[i:], "--"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
			toks = append(toks, token{kind: tWS, text: " ", pos: start})
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, invalidQuery("Syntax error: Unclosed comment at %s", lineCol(q, start))
			}
			i += end + 4
			toks = append(toks, token{kind: tWS, text: " ", pos: start})
		case c == '\'' || c == '"':
			val, n, err := lexString(q, i, false)
			if err != nil {
				return nil, err
			}
			i += n
			toks = append(toks, token{kind: tString, text: q[start:i], val: val, pos: start})
		case c == '`':
			end := strings.IndexByte(q[i+1:], '`')
			if end < 0 {
				return nil, invalidQuery("Syntax error: Unclosed identifier literal at %s", lineCol(q, start))
			}
			i += end + 2
			toks = append(toks, token{kind: tQuoted, text: q[start:i], val: q[start+1 : i-1], pos: start})
		case legacy && c == '[':
			end := strings.IndexByte(q[i+1:], ']')
			if end < 0 {
				return nil, invalidQuery("Encountered \" \"[\" \"[ \"\" at line 1. Unclosed table reference at %s", lineCol(q, start))
			}
			i += end + 2
			toks = append(toks, token{kind: tLegacyRef, text: q[start:i], val: q[start+1 : i-1], pos: start})
		case c == '_' || c < utf8.RuneSelf && unicode.IsLetter(rune(c)):
			for i < len(q) && (q[i] == '_' || q[i] < utf8.RuneSelf && (unicode.IsLetter(rune(q[i])) || unicode.IsDigit(rune(q[i])))) {
				i++
			}
			word := q[start:i]
			// r'raw', b'bytes', rb'raw bytes' string prefixes
			if i < len(q) && (q[i] == '\'' || q[i] == '"') {
				switch strings.ToLower(word) {
				case "r", "b", "rb", "br":
					raw := strings.ContainsAny(word, "rR")
					val, n, err := lexString(q, i, raw)
					if err != nil {
						return nil, err
					}
					i += n
					kind := tString
					if strings.ContainsAny(word, "bB") {
						kind = tBytes
					}
					toks = append(toks, token{kind: kind, text: q[start:i], val: val, pos: start})
					continue
				}
			}
			toks = append(toks, token{kind: tIdent, text: word, val: word, pos: start})
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			for i < len(q) && (q[i] >= '0' && q[i] <= '9' || q[i] == '.' || q[i] == 'x' || q[i] == 'X' ||
				q[i] >= 'a' && q[i] <= 'f' || q[i] >= 'A' && q[i] <= 'F' ||
				(q[i] == '+' || q[i] == '-') && (q[i-1] == 'e' || q[i-1] == 'E')) {
				i++
			}
			toks = append(toks, token{kind: tNumber, text: q[start:i], pos: start})
		case c == '@':
			if strings.HasPrefix(q[i:], "@@") {
				return nil, invalidQuery("bqtest does not support system variables (%s)", lineCol(q, start))
			}
			i++
			if i < len(q) && q[i] == '`' {
				end := strings.IndexByte(q[i+1:], '`')
				if end < 0 {
					return nil, invalidQuery("Syntax error: Unclosed identifier literal at %s", lineCol(q, i))
				}
				name := q[i+1 : i+1+end]
				i += end + 2
				toks = append(toks, token{kind: tParam, text: q[start:i], val: name, pos: start})
				continue
			}
			for i < len(q) && (q[i] == '_' || q[i] < utf8.RuneSelf && (unicode.IsLetter(rune(q[i])) || unicode.IsDigit(rune(q[i])))) {
				i++
			}
			if i == start+1 {
				return nil, invalidQuery("Syntax error: Unexpected \"@\" at %s", lineCol(q, start))
			}
			toks = append(toks, token{kind: tParam, text: q[start:i], val: q[start+1 : i], pos: start})
		case c == '?':
			i++
			toks = append(toks, token{kind: tPositional, text: "?", pos: start})
		default:
			_, n := utf8.DecodeRuneInString(q[i:])
			i += n
			toks = append(toks, token{kind: tPunct, text: q[start:i], pos: start})
		}
	}
	return toks, nil
}

// lexString reads a quoted string at q[i:] and returns its value and length.
func lexString(q string, i int, raw bool) (string, int, *apiError) {
	quote := q[i]
	if strings.HasPrefix(q[i:], strings.Repeat(string(quote), 3)) {
		return "", 0, invalidQuery("bqtest does not support triple-quoted strings (at %s)", lineCol(q, i))
	}
	var b strings.Builder
	j := i + 1
	for j < len(q) {
		c := q[j]
		switch {
		case c == quote:
			return b.String(), j + 1 - i, nil
		case c == '\\' && !raw && j+1 < len(q):
			j++
			switch q[j] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(q[j]) // \\ \' \" \` and the rest as themselves
			}
			j++
		case c == '\\' && raw && j+1 < len(q) && q[j+1] == quote:
			b.WriteString(q[j : j+2])
			j += 2
		case c == '\n':
			return "", 0, invalidQuery("Syntax error: Unclosed string literal at %s", lineCol(q, i))
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, invalidQuery("Syntax error: Unclosed string literal at %s", lineCol(q, i))
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// castTypes maps GoogleSQL type names in CAST to SQLite's.
var castTypes = map[string]string{
	"STRING": "TEXT", "INT64": "INTEGER", "INTEGER": "INTEGER", "INT": "INTEGER",
	"FLOAT64": "REAL", "FLOAT": "REAL", "BOOL": "INTEGER", "BOOLEAN": "INTEGER",
	"BYTES": "BLOB", "NUMERIC": "NUMERIC", "BIGNUMERIC": "NUMERIC", "DECIMAL": "NUMERIC",
	"DATE": "TEXT", "DATETIME": "TEXT", "TIME": "TEXT", "TIMESTAMP": "TEXT", "JSON": "TEXT",
}

// aliasStop are keywords that end a table reference (no alias follows).
var aliasStop = map[string]bool{
	"WHERE": true, "GROUP": true, "ORDER": true, "LIMIT": true, "JOIN": true, "LEFT": true,
	"RIGHT": true, "INNER": true, "FULL": true, "CROSS": true, "ON": true, "USING": true,
	"UNION": true, "EXCEPT": true, "INTERSECT": true, "WINDOW": true, "HAVING": true,
	"QUALIFY": true, "OFFSET": true, "NATURAL": true, "OUTER": true, "TABLESAMPLE": true, "FOR": true,
}

// translation is a query ready for SQLite.
type translation struct {
	sql         string
	named       []string // named parameters referenced
	positional  int      // number of ? placeholders
	unqualified map[string]bool
	tables      []*table
}

// translate rewrites a GoogleSQL (or legacy SQL) query for SQLite. It is
// called with s.mu held.
func (s *Server) translate(q, project string, def *bq.DatasetReference, legacy bool) (*translation, *apiError) {
	toks, err := lex(q, legacy)
	if err != nil {
		return nil, err
	}
	tr := &translation{unqualified: map[string]bool{}}
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.text
	}
	// next returns the index of the next token that is not white space.
	next := func(i int) int {
		for i++; i < len(toks) && toks[i].kind == tWS; i++ {
		}
		return i
	}
	first := next(-1)
	if first >= len(toks) {
		return nil, invalidQuery("Syntax error: Unexpected end of script at [1:1]")
	}
	if kw := strings.ToUpper(toks[first].text); toks[first].kind != tPunct && kw != "SELECT" && kw != "WITH" || toks[first].kind == tPunct && toks[first].text != "(" {
		return nil, invalidQuery("bqtest runs only SELECT queries; the statement starts with %s at %s", toks[first].text, lineCol(q, toks[first].pos))
	}
	type paren struct{ fn string }
	var parens []paren
	castAs := false // the next identifier is a type name in CAST(... AS type)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case tString:
			out[i] = sqlString(t.val)
		case tBytes:
			out[i] = "X'" + hex.EncodeToString([]byte(t.val)) + "'"
		case tQuoted:
			parts := strings.Split(t.val, ".")
			for k := range parts {
				parts[k] = quoteIdent(parts[k])
			}
			out[i] = strings.Join(parts, ".")
		case tParam:
			tr.named = append(tr.named, t.val)
			out[i] = "@" + paramSQLName(t.val)
		case tPositional:
			tr.positional++
		case tLegacyRef:
			return nil, invalidQuery("Table reference %s must follow FROM or JOIN", t.text)
		case tPunct:
			switch t.text {
			case "(":
				fn := ""
				for k := i - 1; k >= 0; k-- {
					if toks[k].kind != tWS {
						if toks[k].kind == tIdent {
							fn = strings.ToUpper(toks[k].text)
						}
						break
					}
				}
				parens = append(parens, paren{fn})
			case ")":
				if len(parens) > 0 {
					parens = parens[:len(parens)-1]
				}
			}
		case tIdent:
			up := strings.ToUpper(t.text)
			if castAs {
				castAs = false
				if st, ok := castTypes[up]; ok {
					out[i] = st
					continue
				}
			}
			switch up {
			case "AS":
				if len(parens) > 0 && (parens[len(parens)-1].fn == "CAST" || parens[len(parens)-1].fn == "SAFE_CAST") {
					castAs = true
				}
			case "SAFE_CAST":
				out[i] = "CAST"
			case "DATE", "DATETIME", "TIME", "TIMESTAMP":
				if j := next(i); j < len(toks) && toks[j].kind == tString {
					f := &bq.TableFieldSchema{Name: "literal", Type: up}
					text, err := textFromString(f, toks[j].val)
					if err != nil {
						return nil, invalidQuery("Invalid %s literal '%s' at %s", up, toks[j].val, lineCol(q, toks[j].pos))
					}
					out[i] = ""
					for k := i + 1; k < j; k++ {
						out[k] = ""
					}
					out[j] = sqlString(text)
					i = j
				}
			case "UNNEST":
				return nil, invalidQuery("bqtest does not support UNNEST (at %s)", lineCol(q, t.pos))
			case "FROM", "JOIN":
				j, err := s.tableRefs(q, toks, out, next(i), project, def, legacy, tr, next)
				if err != nil {
					return nil, err
				}
				i = j - 1
			}
		}
	}
	tr.sql = strings.Join(out, "")
	return tr, nil
}

// tableRefs rewrites the table reference(s) starting at token i (after FROM
// or JOIN, and after commas of a comma join) and returns the index of the
// first token after them.
func (s *Server) tableRefs(q string, toks []token, out []string, i int, project string, def *bq.DatasetReference, legacy bool, tr *translation, next func(int) int) (int, *apiError) {
	for {
		if i >= len(toks) {
			return i, nil
		}
		t := toks[i]
		var parts []string
		end := i // last token of the path
		switch {
		case t.kind == tLegacyRef && legacy:
			ref := t.val
			if p, rest, ok := strings.Cut(ref, ":"); ok {
				parts = append([]string{p}, strings.Split(rest, ".")...)
			} else {
				parts = strings.Split(ref, ".")
			}
		case t.kind == tIdent || t.kind == tQuoted:
			if t.kind == tIdent && (strings.EqualFold(t.text, "UNNEST") || aliasStop[strings.ToUpper(t.text)]) {
				return i, nil
			}
			parts = append(parts, strings.Split(t.val, ".")...)
			for {
				d := next(end)
				if d >= len(toks) || toks[d].text != "." {
					break
				}
				p := next(d)
				if p >= len(toks) || toks[p].kind != tIdent && toks[p].kind != tQuoted {
					break
				}
				parts = append(parts, strings.Split(toks[p].val, ".")...)
				end = p
			}
		default:
			return i, nil // a subquery, or something SQLite will judge
		}
		var proj, ds, id string
		switch len(parts) {
		case 3:
			proj, ds, id = parts[0], parts[1], parts[2]
		case 2:
			proj, ds, id = project, parts[0], parts[1]
		case 1:
			if def != nil && def.DatasetId != "" {
				proj, ds, id = def.ProjectId, def.DatasetId, parts[0]
				if proj == "" {
					proj = project
				}
			} else {
				tr.unqualified[strings.ToLower(parts[0])] = true
				return next(end), nil // a WITH name, or an error SQLite reports
			}
		default:
			return 0, invalidQuery("Invalid table name: %s at %s", strings.Join(parts, "."), lineCol(q, t.pos))
		}
		tbl, err := s.lookupTable(proj, ds, id)
		if err != nil {
			loc := s.opts.Location
			if d, ok := s.datasets[dsKey(proj, ds)]; ok {
				loc = d.location
			}
			return 0, notFound("%s was not found in location %s", err.message, loc)
		}
		tr.tables = append(tr.tables, tbl)
		out[i] = tbl.sqlName()
		for k := i + 1; k <= end; k++ {
			out[k] = ""
		}
		// An alias may follow; then a comma continues a comma join.
		k := next(end)
		if k < len(toks) && toks[k].kind == tIdent && strings.EqualFold(toks[k].text, "AS") {
			k = next(next(k))
		} else if k < len(toks) && (toks[k].kind == tIdent && !aliasStop[strings.ToUpper(toks[k].text)] || toks[k].kind == tQuoted) {
			k = next(k)
		}
		if k < len(toks) && toks[k].text == "," {
			i = next(k)
			continue
		}
		return k, nil
	}
}

// paramSQLName is the name a query parameter has in SQLite, where names are
// case-sensitive: BigQuery's are not.
func paramSQLName(name string) string { return "p_" + strings.ToLower(name) }

// sqliteError turns a SQLite error into the service's wording where the
// meaning is the same.
func sqliteError(err error, tr *translation) *apiError {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "SQL logic error: ")
	if i := strings.LastIndex(msg, " ("); i > 0 && strings.HasSuffix(msg, ")") {
		msg = msg[:i]
	}
	switch {
	case strings.HasPrefix(msg, "no such table: "):
		name := strings.TrimPrefix(msg, "no such table: ")
		if tr.unqualified[strings.ToLower(name)] {
			return invalidQuery("Table \"%s\" must be qualified with a dataset (e.g. dataset.table).", name)
		}
		return notFound("Not found: Table %s", name)
	case strings.HasPrefix(msg, "no such column: "):
		return invalidQuery("Unrecognized name: %s", strings.TrimPrefix(msg, "no such column: "))
	case strings.HasPrefix(msg, "no such function: "):
		return invalidQuery("Function not found: %s", strings.TrimPrefix(msg, "no such function: "))
	case msg == "incomplete input":
		return invalidQuery("Syntax error: Unexpected end of statement")
	case strings.Contains(msg, "syntax error"):
		return invalidQuery("Syntax error: %s", msg)
	}
	return invalidQuery("%s", msg)
}
