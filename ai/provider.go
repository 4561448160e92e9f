package ai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// A Provider sends one request to a model service and returns its whole
// answer. It is the only thing a provider package implements: batching,
// prompts, parsing, retries, truncation, caching and accounting are the
// stage's. Complete must not retry (the stage does, see Stage) and should
// build its SDK client on the *http.Client it was given, so that the stage
// sees each response's status and retry headers.
type Provider interface {
	Complete(ctx context.Context, req Request) (Reply, error)
}

// A Request is one call to a model, provider-neutral.
type Request struct {
	Model  string
	System string // the system prompt (instruction)
	Prompt string // the user message
	// MaxTokens bounds the answer; a model that reaches it stops and the
	// reply is Truncated.
	MaxTokens int
	// Temperature is nil when the request must not carry one.
	Temperature *float64
	// Schema is the JSON schema the answer must follow (response_format:
	// json), for the provider's structured-output mode; nil for text.
	Schema map[string]any
}

// A Reply is a model's answer.
type Reply struct {
	Text         string
	InputTokens  int64
	OutputTokens int64 // billed output tokens, thinking included
	// Truncated is true when the model stopped at MaxTokens
	// (Anthropic's max_tokens, Gemini's MAX_TOKENS, OpenAI's length).
	Truncated bool
	// Stop is the stop reason as the provider words it.
	Stop string
}

// TransientError marks an error worth retrying that carries no HTTP status
// of its own, such as an "overloaded" event in the middle of a stream.
// RetryAfter, when positive, is how long the service asked to wait.
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string { return e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps err as a TransientError.
func Transient(err error, retryAfter time.Duration) error {
	return &TransientError{Err: err, RetryAfter: retryAfter}
}

// callInfo is what the HTTP transport saw of one attempt: the last
// response's status and the wait its headers asked for.
type callInfo struct {
	mu         sync.Mutex
	status     int
	retryAfter time.Duration
	hasRetry   bool
}

type callInfoKey struct{}

func withCallInfo(ctx context.Context, ci *callInfo) context.Context {
	return context.WithValue(ctx, callInfoKey{}, ci)
}

// recorder is the transport of the stage's HTTP client: it records, for the
// attempt whose context it finds, each response's status and retry-after.
type recorder struct{ next http.RoundTripper }

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if ci, ok := req.Context().Value(callInfoKey{}).(*callInfo); ok && resp != nil {
		d, has := retryAfter(resp.Header, time.Now())
		ci.mu.Lock()
		ci.status, ci.retryAfter, ci.hasRetry = resp.StatusCode, d, has
		ci.mu.Unlock()
	}
	return resp, err
}

// NewHTTPClient returns the HTTP client a provider's SDK must use. Its
// requests have no timeout of their own: the stage bounds each attempt with
// its context (the timeout parameter).
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: recorder{next: t}}
}

// retryAfter reads retry-after-ms (milliseconds, sent by Anthropic and
// OpenAI) or retry-after (seconds, or an HTTP date).
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now)), true
	}
	return 0, false
}

// retryable reports whether an attempt that failed with err (having seen
// the response recorded in ci) is worth another: 408, 409, 429, every 5xx
// (Anthropic's 529 "overloaded" included), an attempt that timed out, a
// connection that failed, or a TransientError.
func retryable(err error, ci *callInfo, attemptTimedOut bool) (bool, time.Duration, bool) {
	var te *TransientError
	if errors.As(err, &te) {
		return true, te.RetryAfter, te.RetryAfter > 0
	}
	ci.mu.Lock()
	status, wait, has := ci.status, ci.retryAfter, ci.hasRetry
	ci.mu.Unlock()
	switch {
	case status == 408 || status == 409 || status == 429 || status >= 500:
		return true, wait, has
	case status >= 400:
		return false, 0, false
	case attemptTimedOut:
		return true, 0, false
	}
	// No HTTP error status: retry a connection refused or reset, or a body
	// cut short; not an error of the SDK before sending (a request it
	// rejects), which would only repeat.
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED), 0, false
}

// statusOf returns the HTTP status of the attempt's last response (0: none).
func (ci *callInfo) statusOf() int {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	return ci.status
}

// describeStatus adds to an API error the advice its status calls for.
func describeStatus(status int, keyEnv string) string {
	switch status {
	case 401:
		if keyEnv != "" {
			return fmt.Sprintf("; the API key was refused: check api_key (or the %s environment variable)", keyEnv)
		}
		return "; the API key was refused: check api_key"
	case 403:
		return "; the API key may not use this model or service"
	case 404:
		return "; check model (the model id may be wrong or retired) and base_url"
	case 413:
		return "; the request is too large: lower batch_rows"
	case 429:
		return "; the rate limit was still exceeded after every retry: lower concurrency or raise max_retries"
	case 529:
		return "; the service stayed overloaded after every retry: raise max_retries or try later"
	}
	if status >= 500 {
		return "; the service kept failing after every retry: raise max_retries or try later"
	}
	return ""
}
