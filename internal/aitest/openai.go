package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

var chatSeq atomic.Int64

// NewOpenAI starts a server speaking OpenAI's chat completions (POST
// /v1/chat/completions, and /chat/completions as DeepSeek and other
// compatible servers also answer) that accepts key as a bearer token.
func NewOpenAI(key string, model Model) *Server {
	return newServer("openai", key, model, func(s *Server) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/chat/completions", s.openaiChat)
		mux.HandleFunc("POST /chat/completions", s.openaiChat)
		return mux
	})
}

func openaiError(w http.ResponseWriter, status int, typ, code, msg string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}

func (s *Server) openaiChat(w http.ResponseWriter, r *http.Request) {
	if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != s.Key {
		openaiError(w, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.")
		return
	}
	var body struct {
		Model               string `json:"model"`
		Messages            []json.RawMessage
		MaxTokens           *int     `json:"max_tokens"`
		MaxCompletionTokens *int     `json:"max_completion_tokens"`
		Temperature         *float64 `json:"temperature"`
		Stream              bool     `json:"stream"`
		ResponseFormat      *struct {
			Type       string `json:"type"`
			JSONSchema *struct {
				Name   string         `json:"name"`
				Schema map[string]any `json:"schema"`
				Strict bool           `json:"strict"`
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		openaiError(w, 400, "invalid_request_error", "", "We could not parse the JSON body of your request. "+err.Error())
		return
	}
	switch {
	case body.Model == "":
		openaiError(w, 400, "invalid_request_error", "", "you must provide a model parameter")
		return
	case len(body.Messages) == 0:
		openaiError(w, 400, "invalid_request_error", "", "[] is too short - 'messages'")
		return
	case body.MaxTokens != nil && body.MaxCompletionTokens != nil:
		openaiError(w, 400, "invalid_request_error", "", "max_tokens and max_completion_tokens cannot both be set")
		return
	case body.Stream:
		openaiError(w, 400, "invalid_request_error", "", "this test server answers non-streaming requests only")
		return
	}
	req := Request{Provider: "openai", Path: r.URL.Path, Model: body.Model, Temperature: body.Temperature, Header: r.Header.Clone()}
	switch {
	case body.MaxCompletionTokens != nil:
		req.MaxTokens = *body.MaxCompletionTokens
	case body.MaxTokens != nil:
		req.MaxTokens = *body.MaxTokens
	}
	for i, raw := range body.Messages {
		var m struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			openaiError(w, 400, "invalid_request_error", "", fmt.Sprintf("messages[%d]: %v", i, err))
			return
		}
		text, err := anthropicText(m.Content) // a string or a list of {type: text, text} parts
		if err != nil {
			openaiError(w, 400, "invalid_request_error", "", fmt.Sprintf("messages[%d].content: %v", i, err))
			return
		}
		switch m.Role {
		case "system", "developer":
			req.System = text
		case "user":
			req.Prompt = text
		default:
			openaiError(w, 400, "invalid_request_error", "", fmt.Sprintf("messages[%d].role: %q is not supported here", i, m.Role))
			return
		}
	}
	if rf := body.ResponseFormat; rf != nil && rf.Type != "text" {
		if rf.Type != "json_schema" || rf.JSONSchema == nil || rf.JSONSchema.Schema == nil || rf.JSONSchema.Name == "" {
			openaiError(w, 400, "invalid_request_error", "", "response_format: json_schema needs json_schema.name and json_schema.schema")
			return
		}
		req.Schema = rf.JSONSchema.Schema
	}
	rep, ok := s.answer(r.Context(), req)
	if !ok {
		return
	}
	if rep.Status != 0 {
		if rep.RetryAfter != "" {
			w.Header().Set("retry-after", rep.RetryAfter)
		}
		typ, code := "server_error", ""
		if rep.Status == 429 {
			typ, code = "requests", "rate_limit_exceeded"
		}
		msg := rep.ErrorMessage
		if msg == "" {
			msg = statusText(rep.Status)
		}
		openaiError(w, rep.Status, typ, code, msg)
		return
	}
	text, finish, in, out := answered(req, rep, "stop", "length")
	writeJSON(w, 200, map[string]any{
		"id": fmt.Sprintf("chatcmpl-test%06d", chatSeq.Add(1)), "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": text, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
			"prompt_tokens_details": map[string]any{"cached_tokens": 0}, "completion_tokens_details": map[string]any{"reasoning_tokens": 0}},
		"system_fingerprint": "fp_test",
	})
}
