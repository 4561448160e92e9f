package openstage

import (
	"fmt"
	"strings"
)

// Secret is a parameter value that must never be shown: a password, a
// token, an API key, a DSN with a password in it. Its String, fmt verbs,
// JSON and text encodings all give "***" (or "" when it is empty); only
// Reveal gives the value, for the one call that needs it. A parameter of
// type Secret is secret without a tag.
//
// The value sits behind a pointer, so even a printer that bypasses the
// methods (a %v of a struct holding a Secret in an unexported field) shows
// an address, not the text. The engine also scrubs every secret of a job
// from the errors Run and Validate return, in case a driver quotes one.
type Secret struct{ p *string }

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the secret's value.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.p == nil || *s.p == "" }

const masked = "***"

func (s Secret) shown() string {
	if s.IsZero() {
		return ""
	}
	return masked
}

// String implements fmt.Stringer: "***".
func (s Secret) String() string { return s.shown() }

// GoString implements fmt.GoStringer: "***".
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.shown()) }

// Format implements fmt.Formatter, so that every verb prints "***".
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.shown())
		return
	}
	fmt.Fprint(f, s.shown())
}

// MarshalJSON implements json.Marshaler: "***".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.shown() + `"`), nil }

// MarshalText implements encoding.TextMarshaler: "***".
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// LogValue makes log/slog print "***".
func (s Secret) LogValue() any { return s.shown() }

// DecodeParam implements ParamDecoder: a secret is written as a string
// (literally, or from ${env:NAME}).
func (s *Secret) DecodeParam(v any) error {
	switch x := v.(type) {
	case nil:
		*s = Secret{}
	case string:
		*s = NewSecret(x)
	case int, int64, float64, bool:
		*s = NewSecret(fmt.Sprint(x))
	default:
		return fmt.Errorf("must be a string, got %s", ValueKind(v))
	}
	return nil
}

// ParamType implements ParamTyper.
func (Secret) ParamType() string { return "secret string" }

// redactor replaces each of a job's secrets in a message by "***".
type redactor struct{ r *strings.Replacer }

func newRedactor(secrets []string) *redactor {
	var pairs []string
	for _, s := range secrets {
		// Very short values would mask unrelated text and protect nothing.
		if len(s) >= 3 {
			pairs = append(pairs, s, masked)
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	return r.r.Replace(s)
}

// redactedError is an error whose message has the job's secrets masked; it
// unwraps to the original, so errors.Is and errors.As still see through it.
type redactedError struct {
	err error
	r   *redactor
}

func (e *redactedError) Error() string { return e.r.redact(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func (r *redactor) wrap(err error) error {
	if r == nil || err == nil {
		return err
	}
	if r.redact(err.Error()) == err.Error() {
		return err
	}
	return &redactedError{err: err, r: r}
}

// Redact returns s with each of the job's secrets (as its last Validate or
// Run found them in its stages' parameters) replaced by "***", as the
// engine masks them in the errors it returns. A program that keeps a job's
// log lines or messages of its own (a web front end's run history) passes
// them through Redact before storing or showing them.
func (j *Job) Redact(s string) string { return j.redact.redact(s) }
