// Package cli implements the openstage command. It is kept apart from
// cmd/openstage so that tests can call Main directly.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/open-stage/openstage"
	_ "github.com/open-stage/openstage/components/all" // registers every component type
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the job failed while running
	ExitInvalid = 2 // invalid job file or command line
)

const usage = `openstage runs Open-Stage ETL job files.

Usage:
  openstage run JOB.yaml [job parameters] [--quiet] [--verbose] [--workers N]
                         [--memory-limit SIZE] [--temp-dir DIR] [--dry-run]
                         [--report run.json] [--log-format text|json] [--log-level LEVEL]
                         [--metrics-addr HOST:PORT] [--metrics-push URL]
                         [--rows N] [--max-rejects N] [--overwrite] [--no-optimize]
                         [--runner local|prism|dataflow|flink|spark] [--beam-option name=value]
  openstage validate JOB.yaml [job parameters] [--schema [--format text|json]] [--verbose]
                              [--explain] [--no-optimize] [--runner R]
  openstage schema JOB.yaml [job parameters] [--format text|json]
  openstage graph JOB.yaml [job parameters] [--format mermaid|dot|svg|html] [--report run.json]
  openstage stages [TYPE] [--markdown]
  openstage serve [DIR] [--addr 127.0.0.1:8080] [--auth-token TOKEN] [--state DIR]
                        [--max-runs N] [--memory-limit SIZE]
  openstage version

Job parameters: --param name=value (repeatable), --param-file FILE.yaml, --param-set NAME.

Exit status: 0 success, 1 the job failed while running, 2 invalid job file or command line.
`

// Version is set at build time with -ldflags "-X .../internal/cli.Version=v1.2.3";
// otherwise it comes from the module's build information.
var Version = ""

// Main runs the command with args (without the program name) and returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitInvalid
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runCmd(rest, stdout, stderr, false)
	case "validate":
		return runCmd(rest, stdout, stderr, true)
	case "stages":
		return stagesCmd(rest, stdout, stderr)
	case "graph":
		return graphCmd(rest, stdout, stderr)
	case "schema":
		return schemaCmd(rest, stdout, stderr)
	case "serve":
		return serveCmd(rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "openstage", version())
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "openstage: unknown command %q\n\n%s", cmd, usage)
	return ExitInvalid
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// params collects repeated --param name=value flags.
type params map[string]string

func (p params) String() string { return "" }
func (p params) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", s)
	}
	p[name] = value
	return nil
}

// parse parses flags that may come before or after the positional
// arguments (openstage run job.yaml --param k=v).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// sortProblems merges the problems of validation errors, sorted by file
// and line (problems without a line first), each once.
func sortProblems(errs ...error) error {
	var probs []openstage.Problem
	var other []error
	for _, err := range errs {
		var ve *openstage.ValidationError
		switch {
		case err == nil:
		case errors.As(err, &ve):
			probs = append(probs, ve.Problems...)
		default:
			other = append(other, err)
		}
	}
	if len(other) > 0 || len(probs) == 0 {
		return errors.Join(append(other, func() []error {
			if len(probs) > 0 {
				return []error{&openstage.ValidationError{Problems: probs}}
			}
			return nil
		}()...)...)
	}
	sort.SliceStable(probs, func(i, j int) bool {
		a, b := probs[i].Pos, probs[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	seen := map[string]bool{}
	out := probs[:0]
	for _, p := range probs {
		if s := p.Error(); !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	return &openstage.ValidationError{Problems: out}
}

func stagesCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stages", flag.ContinueOnError)
	markdown := fs.Bool("markdown", false, "print the reference documentation of every stage type as Markdown")
	pos, err := parse(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "openstage stages: %v\n", err)
		return ExitInvalid
	}
	if *markdown {
		WriteReference(stdout)
		return ExitOK
	}
	if len(pos) == 0 {
		byLayer := map[openstage.Layer][]*openstage.Spec{}
		for _, t := range openstage.DefaultRegistry().Types() {
			s, _ := openstage.DefaultRegistry().Lookup(t)
			byLayer[s.Layer] = append(byLayer[s.Layer], s)
		}
		for _, layer := range layers {
			if len(byLayer[layer]) == 0 {
				continue
			}
			fmt.Fprintf(stdout, "%s:\n", layerTitle[layer])
			for _, s := range byLayer[layer] {
				fmt.Fprintf(stdout, "  %-28s %s\n", s.Type, s.Summary)
			}
		}
		fmt.Fprintln(stdout, "\nopenstage stages TYPE shows a type's parameters.")
		return ExitOK
	}
	for _, t := range pos {
		s, ok := openstage.DefaultRegistry().Lookup(t)
		if !ok {
			msg := fmt.Sprintf("openstage stages: unknown stage type '%s'", t)
			if sug := openstage.Suggest(t, openstage.DefaultRegistry().Types()); sug != "" {
				msg += fmt.Sprintf(" (did you mean '%s'?)", sug)
			}
			fmt.Fprintln(stderr, msg)
			return ExitInvalid
		}
		writeHelp(stdout, s)
	}
	return ExitOK
}

var layers = []openstage.Layer{openstage.Extraction, openstage.Transformation, openstage.Routing, openstage.AI, openstage.Load}

var layerTitle = map[openstage.Layer]string{
	openstage.Extraction:     "Origins (extraction)",
	openstage.Transformation: "Transformers",
	openstage.Routing:        "Routers",
	openstage.AI:             "AI transformers",
	openstage.Load:           "Destinations (load)",
}

func connectivity(s *openstage.Spec) string {
	c := s.Connectivity()
	bound := func(lo, hi int) string {
		switch {
		case hi < 0:
			return fmt.Sprintf("%d+", lo)
		case lo == hi:
			return fmt.Sprint(lo)
		}
		return fmt.Sprintf("%d-%d", lo, hi)
	}
	return bound(c.MinIn, c.MaxIn) + "→" + bound(c.MinOut, c.MaxOut)
}

func writeHelp(w io.Writer, s *openstage.Spec) {
	fmt.Fprintf(w, "%s (%s, %s pipes)\n  %s\n", s.Type, s.Layer, connectivity(s), s.Summary)
	if s.Doc != "" {
		fmt.Fprintf(w, "\n%s\n", indent(s.Doc, "  "))
	}
	fmt.Fprintln(w, "\nParameters:")
	for _, p := range s.Params() {
		var attrs []string
		attrs = append(attrs, p.Type)
		if p.Required {
			attrs = append(attrs, "required")
		}
		if p.Default != "" {
			attrs = append(attrs, "default "+p.Default)
		}
		if len(p.Enum) > 0 {
			attrs = append(attrs, "one of "+strings.Join(p.Enum, ", "))
		}
		if p.Secret {
			attrs = append(attrs, "secret")
		}
		fmt.Fprintf(w, "  %-18s %s\n  %-18s %s\n", p.Name, p.Doc, "", "("+strings.Join(attrs, "; ")+")")
	}
	if s.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(s.Example, "  "))
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// WriteReference writes the Markdown reference of every registered stage
// type (docs/stages.md is generated with it).
func WriteReference(w io.Writer) {
	fmt.Fprintln(w, "# Stage reference")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Generated by `openstage stages --markdown` from the components' parameter declarations; do not edit by hand.")
	types := openstage.DefaultRegistry().Types()
	sort.Strings(types)
	for _, layer := range layers {
		for _, t := range types {
			s, _ := openstage.DefaultRegistry().Lookup(t)
			if s.Layer != layer {
				continue
			}
			fmt.Fprintf(w, "\n## %s\n\n%s · %s pipes\n\n%s\n", s.Type, layerTitle[layer], connectivity(s), s.Summary)
			if s.Doc != "" {
				fmt.Fprintf(w, "\n%s\n", s.Doc)
			}
			fmt.Fprintln(w, "\n| parameter | type | default | description |")
			fmt.Fprintln(w, "|---|---|---|---|")
			for _, p := range s.Params() {
				def := p.Default
				if p.Required {
					def = "required"
				}
				typ := p.Type
				if len(p.Enum) > 0 {
					typ += ": " + strings.Join(p.Enum, " \\| ")
				}
				if p.Secret {
					typ += " (secret)"
				}
				fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", p.Name, typ, mdEscape(def), mdEscape(p.Doc))
			}
			if s.Example != "" {
				fmt.Fprintf(w, "\n```yaml\n%s\n```\n", s.Example)
			}
		}
	}
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// ParseSize reads a size such as 512MB, 4GiB, 1g or 1048576 (bytes).
// Decimal units (KB, MB, GB) and binary ones (KiB, MiB, GiB; K, M, G) are both
// accepted.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	var v float64
	if _, err := fmt.Sscan(t, &v); err != nil || v <= 0 || strings.ContainsAny(t, " ") {
		return 0, fmt.Errorf("cannot read %q as a size; write for example 512MB or 4GiB", s)
	}
	return int64(v * float64(mult)), nil
}
