package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// AnthropicVersion is the API version the Anthropic SDK v2 sends; with it
// the Messages API rejects temperature, top_p and top_k.
const AnthropicVersion = "2026-10-21"

var msgSeq atomic.Int64

// NewAnthropic starts a server speaking Anthropic's Messages API
// (POST /v1/messages, JSON or a server-sent-event stream) that accepts key
// as x-api-key or a bearer token.
func NewAnthropic(key string, model Model) *Server {
	return newServer("anthropic", key, model, func(s *Server) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/messages", s.anthropicMessages)
		return mux
	})
}

type anthropicBody struct {
	Model        string            `json:"model"`
	MaxTokens    *int              `json:"max_tokens"`
	Messages     []json.RawMessage `json:"messages"`
	System       json.RawMessage   `json:"system"`
	Stream       bool              `json:"stream"`
	Temperature  *float64          `json:"temperature"`
	TopP         *float64          `json:"top_p"`
	TopK         *int              `json:"top_k"`
	OutputConfig *struct {
		Format *struct {
			Type   string         `json:"type"`
			Schema map[string]any `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
}

func anthropicError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("request-id", fmt.Sprintf("req_test%06d", msgSeq.Add(1)))
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}, "request_id": w.Header().Get("request-id")})
}

func anthropicErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

// anthropicText reads a content or system value: a string or a list of
// text blocks.
func anthropicText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("must be a string or a list of content blocks")
	}
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type != "text" {
			return "", fmt.Errorf("content block type %q is not supported by this test server", bl.Type)
		}
		b.WriteString(bl.Text)
	}
	return b.String(), nil
}

func (s *Server) anthropicMessages(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		key = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	if key != s.Key {
		anthropicError(w, 401, "authentication_error", "invalid x-api-key")
		return
	}
	version := r.Header.Get("Anthropic-Version")
	if version == "" {
		anthropicError(w, 400, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var body anthropicBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		anthropicError(w, 400, "invalid_request_error", "There was an error parsing the body: "+err.Error())
		return
	}
	switch {
	case body.Model == "":
		anthropicError(w, 400, "invalid_request_error", "model: Field required")
		return
	case body.MaxTokens == nil:
		anthropicError(w, 400, "invalid_request_error", "max_tokens: Field required")
		return
	case *body.MaxTokens < 1:
		anthropicError(w, 400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1")
		return
	case len(body.Messages) == 0:
		anthropicError(w, 400, "invalid_request_error", "messages: at least one message is required")
		return
	case version == AnthropicVersion && body.Temperature != nil:
		anthropicError(w, 400, "invalid_request_error", "temperature: Extra inputs are not permitted")
		return
	case version == AnthropicVersion && (body.TopP != nil || body.TopK != nil):
		anthropicError(w, 400, "invalid_request_error", "top_p: Extra inputs are not permitted")
		return
	}
	req := Request{Provider: "anthropic", Path: r.URL.Path, Model: body.Model, MaxTokens: *body.MaxTokens, Temperature: body.Temperature, Stream: body.Stream, Header: r.Header.Clone()}
	var err error
	if req.System, err = anthropicText(body.System); err != nil {
		anthropicError(w, 400, "invalid_request_error", "system: "+err.Error())
		return
	}
	for i, raw := range body.Messages {
		var m struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || (m.Role != "user" && m.Role != "assistant") {
			anthropicError(w, 400, "invalid_request_error", fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
			return
		}
		text, err := anthropicText(m.Content)
		if err != nil {
			anthropicError(w, 400, "invalid_request_error", fmt.Sprintf("messages.%d.content: %v", i, err))
			return
		}
		if m.Role == "user" {
			req.Prompt = text
		}
	}
	if oc := body.OutputConfig; oc != nil && oc.Format != nil {
		if oc.Format.Type != "json_schema" || oc.Format.Schema == nil {
			anthropicError(w, 400, "invalid_request_error", "output_config.format: type must be json_schema with a schema")
			return
		}
		req.Schema = oc.Format.Schema
	}
	rep, ok := s.answer(r.Context(), req)
	if !ok {
		return
	}
	if rep.Status != 0 {
		if rep.RetryAfter != "" {
			w.Header().Set("retry-after", rep.RetryAfter)
		}
		typ := rep.ErrorType
		if typ == "" {
			typ = anthropicErrorType(rep.Status)
		}
		msg := rep.ErrorMessage
		if msg == "" {
			msg = statusText(rep.Status)
		}
		anthropicError(w, rep.Status, typ, msg)
		return
	}
	text, stop, in, out := answered(req, rep, "end_turn", "max_tokens")
	id := fmt.Sprintf("msg_test%06d", msgSeq.Add(1))
	w.Header().Set("request-id", "req_"+id)
	if !req.Stream {
		writeJSON(w, 200, map[string]any{
			"id": id, "type": "message", "role": "assistant", "model": req.Model,
			"content":     []any{map[string]any{"type": "text", "text": text}},
			"stop_reason": stop, "stop_sequence": nil,
			"usage": map[string]any{"input_tokens": in, "output_tokens": out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
		if fl != nil {
			fl.Flush()
		}
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": in, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}})
	event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	event("ping", map[string]any{"type": "ping"})
	for i, chunk := range chunks(text, 64) {
		event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": chunk}})
		if i == 0 && rep.StreamError != "" {
			event("error", map[string]any{"type": "error", "error": map[string]any{"type": rep.StreamError, "message": "Overloaded"}})
			return
		}
	}
	event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": out}})
	event("message_stop", map[string]any{"type": "message_stop"})
}

// chunks cuts s into pieces of about n bytes, on rune boundaries.
func chunks(s string, n int) []string {
	if s == "" {
		return []string{""}
	}
	var out []string
	for len(s) > 0 {
		k := min(n, len(s))
		for k < len(s) && k > 0 && (s[k]&0xC0) == 0x80 {
			k++
		}
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}
