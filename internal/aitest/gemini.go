package aitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

var respSeq atomic.Int64

// NewGemini starts a server speaking the Gemini API's generateContent
// (POST /{version}/models/{model}:generateContent) that accepts key in the
// x-goog-api-key header, as the Gemini API does.
func NewGemini(key string, model Model) *Server {
	return newServer("gemini", key, model, func(s *Server) http.Handler {
		return http.HandlerFunc(s.geminiGenerate)
	})
}

type geminiContent struct {
	Role  string `json:"role"`
	Parts []struct {
		Text string `json:"text"`
	} `json:"parts"`
}

type geminiBody struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	GenerationConfig  *struct {
		Temperature        *float64       `json:"temperature"`
		MaxOutputTokens    *int           `json:"maxOutputTokens"`
		ResponseMimeType   string         `json:"responseMimeType"`
		ResponseJsonSchema map[string]any `json:"responseJsonSchema"`
		ResponseSchema     map[string]any `json:"responseSchema"`
	} `json:"generationConfig"`
}

func geminiStatus(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 500:
		return "INTERNAL"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}

func geminiError(w http.ResponseWriter, code int, msg string, details []any) {
	e := map[string]any{"code": code, "message": msg, "status": geminiStatus(code)}
	if details != nil {
		e["details"] = details
	}
	writeJSON(w, code, map[string]any{"error": e})
}

func (s *Server) geminiGenerate(w http.ResponseWriter, r *http.Request) {
	// /v1beta/models/gemini-2.5-flash:generateContent
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 3 || parts[1] != "models" || !strings.HasSuffix(parts[2], ":generateContent") {
		geminiError(w, 404, fmt.Sprintf("%s %s is not found (this server has models/{model}:generateContent)", r.Method, r.URL.Path), nil)
		return
	}
	if r.Header.Get("X-Goog-Api-Key") != s.Key {
		geminiError(w, 400, "API key not valid. Please pass a valid API key.", []any{map[string]any{
			"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
		}})
		return
	}
	var body geminiBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		geminiError(w, 400, "Invalid JSON payload received. "+err.Error(), nil)
		return
	}
	if len(body.Contents) == 0 {
		geminiError(w, 400, "* GenerateContentRequest.contents: contents is not specified", nil)
		return
	}
	req := Request{Provider: "gemini", Path: r.URL.Path, Model: strings.TrimSuffix(parts[2], ":generateContent"), Header: r.Header.Clone()}
	for _, c := range body.Contents {
		if c.Role == "" || c.Role == "user" {
			var b strings.Builder
			for _, p := range c.Parts {
				b.WriteString(p.Text)
			}
			req.Prompt = b.String()
		}
	}
	if si := body.SystemInstruction; si != nil {
		var b strings.Builder
		for _, p := range si.Parts {
			b.WriteString(p.Text)
		}
		req.System = b.String()
	}
	if gc := body.GenerationConfig; gc != nil {
		req.Temperature = gc.Temperature
		if gc.MaxOutputTokens != nil {
			req.MaxTokens = *gc.MaxOutputTokens
		}
		if gc.ResponseJsonSchema != nil || gc.ResponseSchema != nil {
			if gc.ResponseMimeType != "application/json" {
				geminiError(w, 400, "responseMimeType must be application/json when a response schema is set", nil)
				return
			}
			req.Schema = gc.ResponseJsonSchema
			if req.Schema == nil {
				req.Schema = gc.ResponseSchema
			}
		}
	}
	rep, ok := s.answer(r.Context(), req)
	if !ok {
		return
	}
	if rep.Status != 0 {
		var details []any
		if rep.RetryDelay != "" {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": rep.RetryDelay})
		}
		msg := rep.ErrorMessage
		if msg == "" {
			msg = statusText(rep.Status)
			if rep.Status == 429 {
				msg = "You exceeded your current quota, please check your plan and billing details."
			}
		}
		geminiError(w, rep.Status, msg, details)
		return
	}
	text, finish, in, out := answered(req, rep, "STOP", "MAX_TOKENS")
	writeJSON(w, 200, map[string]any{
		"candidates": []any{map[string]any{
			"content":      map[string]any{"parts": []any{map[string]any{"text": text}}, "role": "model"},
			"finishReason": finish,
			"index":        0,
		}},
		"usageMetadata": map[string]any{
			"promptTokenCount": in, "candidatesTokenCount": out, "totalTokenCount": in + out,
			"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": in}},
		},
		"modelVersion": req.Model,
		"responseId":   fmt.Sprintf("resp-test-%06d", respSeq.Add(1)),
	})
}
