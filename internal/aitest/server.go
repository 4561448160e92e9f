// Package aitest has local HTTP servers that speak the APIs of the model
// services the AI prompt transformers call — Anthropic's Messages API
// (JSON and server-sent-event streams), Gemini's generateContent and
// OpenAI's chat completions — with realistic bodies: usage, stop reasons,
// error bodies, retry-after headers and Gemini's RetryInfo. Behind each
// server a Model (a Go function) answers: tests script normal answers,
// truncations, rate limits and overloads with it, and the servers count
// requests and requests in flight. The real SDKs talk to them through
// base_url.
package aitest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// A Request is one call as the model behind a server sees it.
type Request struct {
	Provider    string // anthropic, gemini, openai
	Path        string
	Model       string
	System      string
	Prompt      string // the user message
	MaxTokens   int
	Temperature *float64
	Schema      map[string]any // the structured-output schema, if any
	Stream      bool
	Header      http.Header
}

// A Reply is what the model answers; the server encodes it in its
// provider's format.
type Reply struct {
	Text string
	// Status, when not 0, makes the server answer with that HTTP error:
	// ErrorType and ErrorMessage fill its body (defaults per status).
	Status       int
	ErrorType    string
	ErrorMessage string
	RetryAfter   string // the retry-after header
	// RetryDelay is Gemini's RetryInfo retryDelay in the error details
	// ("2s"); the Gemini API sends no retry-after header.
	RetryDelay string
	// StreamError, on an Anthropic stream, is the type of an error event
	// sent after the first text delta (overloaded_error).
	StreamError string
	Delay       time.Duration // wait before answering
	// Token counts; 0 means estimated from the text (four characters a
	// token).
	InputTokens, OutputTokens int
}

// A Model answers requests. It may be called concurrently.
type Model func(Request) Reply

// Server is a local model service.
type Server struct {
	*httptest.Server
	Key      string // the API key it accepts
	provider string
	model    Model

	mu          sync.Mutex
	requests    []Request
	inFlight    int
	maxInFlight int
}

func newServer(provider, key string, model Model, h func(s *Server) http.Handler) *Server {
	s := &Server{Key: key, provider: provider, model: model}
	s.Server = httptest.NewServer(h(s))
	return s
}

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request{}, s.requests...)
}

// Count returns how many requests reached the model.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// MaxInFlight returns the most requests the server was answering at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// SetModel replaces the model.
func (s *Server) SetModel(m Model) {
	s.mu.Lock()
	s.model = m
	s.mu.Unlock()
}

// answer records req, asks the model and waits its delay; ok is false when
// the client went away meanwhile.
func (s *Server) answer(ctx context.Context, req Request) (Reply, bool) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	m := s.model
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	rep := m(req)
	if rep.Delay > 0 {
		t := time.NewTimer(rep.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return rep, false
		}
	}
	return rep, true
}

// Tokens is the servers' token count of a text: four characters a token.
func Tokens(s string) int { return (len(s) + 3) / 4 }

// answered cuts rep's text to req.MaxTokens as the servers count tokens
// and returns it with its stop reason (stop, or cutStop when cut) and the
// usage to report: rep's token counts where it sets them, else counted; a
// cut answer used all of max_tokens.
func answered(req Request, rep Reply, stop, cutStop string) (text, reason string, in, out int) {
	text, reason = rep.Text, stop
	if req.MaxTokens > 0 && Tokens(text) > req.MaxTokens {
		text, reason = text[:req.MaxTokens*4], cutStop
	}
	in, out = rep.InputTokens, rep.OutputTokens
	if in == 0 {
		in = Tokens(req.System) + Tokens(req.Prompt) + 8
	}
	switch {
	case reason == cutStop:
		out = req.MaxTokens
	case out == 0:
		out = max(1, Tokens(text))
	}
	return text, reason, in, out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// statusText is a default error message per status.
func statusText(status int) string {
	switch status {
	case 429:
		return "Rate limit exceeded: too many requests; please slow down."
	case 529:
		return "Overloaded"
	case 503:
		return "The model is overloaded. Please try again later."
	case 500:
		return "Internal server error"
	}
	return http.StatusText(status)
}
