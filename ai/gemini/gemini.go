// Package gemini is the GeminiPromptTransformer stage: the ai package's
// prompt transformer on Google Gemini, through the Google Gen AI Go SDK
// (google.golang.org/genai, the Gemini API's generateContent).
package gemini

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
)

// DefaultModel is the design document's Gemini 2.5 Flash.
const DefaultModel = "gemini-2.5-flash"

// KeyEnvs are the environment variables api_key defaults from, in order.
var KeyEnvs = []string{"GEMINI_API_KEY", "GOOGLE_API_KEY"}

// GeminiPromptTransformer transforms its input with a prompt to Gemini;
// see package ai for what every prompt transformer does.
type GeminiPromptTransformer struct {
	Model   string           `param:"model" default:"gemini-2.5-flash" doc:"Gemini model id (default: the design document's Gemini 2.5 Flash)."`
	APIKey  openstage.Secret `param:"api_key" doc:"Gemini API key; default: the GEMINI_API_KEY environment variable, else GOOGLE_API_KEY."`
	BaseURL string           `param:"base_url" doc:"API endpoint (default https://generativelanguage.googleapis.com/): a proxy or a test server."`
	ai.Stage
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "GeminiPromptTransformer",
		Layer:   openstage.AI,
		Summary: "Transforms rows with a prompt to Google Gemini (with a system instruction): batches sent as CSV (or one request per row), in parallel, with truncation recovery, retries, caching and token/cost accounting.",
		Doc:     ai.StageDoc("Gemini", "gemini", "generateContent with a system instruction", "0 unless set; the retry wait of a 429 comes from the error's RetryInfo, the Gemini API's retry-after"),
		Example: `- name: classify
  type: GeminiPromptTransformer
  model: gemini-2.5-flash
  mode: row
  prompt: "Classify the sentiment of this review as positive, negative or neutral: $${review}"
  output_column: sentiment
  concurrency: 8`,
		New: func() any { return &GeminiPromptTransformer{} },
	})
}

// Plan resolves the API key and plans the shared stage.
func (t *GeminiPromptTransformer) Plan(ctx context.Context, p *openstage.Plan) error {
	key, err := ai.Key(p, t.APIKey, false, KeyEnvs...)
	if err != nil {
		return err
	}
	zero := 0.0
	return t.Setup(ctx, p, ai.Service{
		Type: "GeminiPromptTransformer", Name: "gemini", Model: t.Model, KeyEnv: strings.Join(KeyEnvs, " or "), Key: key,
		Temperature: &zero,
		New: func(hc *http.Client) (ai.Provider, error) {
			// Backend and key set here, so that the SDK reads neither from
			// the environment; no RetryOptions, so it retries nothing.
			c, err := genai.NewClient(ctx, &genai.ClientConfig{
				APIKey: key, Backend: genai.BackendGeminiAPI, HTTPClient: hc,
				HTTPOptions: genai.HTTPOptions{BaseURL: t.BaseURL},
			})
			if err != nil {
				return nil, err
			}
			return &provider{c: c}, nil
		},
	})
}

type provider struct{ c *genai.Client }

// Complete calls generateContent once (automatic continuation off: one
// request, one answer).
func (p *provider) Complete(ctx context.Context, req ai.Request) (ai.Reply, error) {
	off := false
	cfg := &genai.GenerateContentConfig{MaxOutputTokens: int32(req.MaxTokens), AutomaticContinuation: &off}
	if req.System != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: req.System}}}
	}
	if req.Temperature != nil {
		t := float32(*req.Temperature)
		cfg.Temperature = &t
	}
	if req.Schema != nil {
		cfg.ResponseMIMEType = "application/json"
		cfg.ResponseJsonSchema = req.Schema
	}
	resp, err := p.c.Models.GenerateContent(ctx, req.Model, genai.Text(req.Prompt), cfg)
	if err != nil {
		return ai.Reply{}, apiError(err)
	}
	if pf := resp.PromptFeedback; pf != nil && pf.BlockReason != "" {
		return ai.Reply{}, fmt.Errorf("Gemini blocked the prompt (%s)", pf.BlockReason)
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return ai.Reply{}, errors.New("Gemini answered with no candidate")
	}
	cand := resp.Candidates[0]
	var text strings.Builder
	if cand.Content != nil {
		for _, part := range cand.Content.Parts {
			if part != nil && !part.Thought {
				text.WriteString(part.Text)
			}
		}
	}
	rep := ai.Reply{Text: text.String(), Stop: string(cand.FinishReason)}
	if u := resp.UsageMetadata; u != nil {
		rep.InputTokens = int64(u.PromptTokenCount)
		rep.OutputTokens = int64(u.CandidatesTokenCount) + int64(u.ThoughtsTokenCount)
	}
	switch cand.FinishReason {
	case genai.FinishReasonStop, "", genai.FinishReasonUnspecified:
	case genai.FinishReasonMaxTokens:
		rep.Truncated = true
	default:
		return ai.Reply{}, fmt.Errorf("Gemini stopped the answer with finish reason %s", cand.FinishReason)
	}
	return rep, nil
}

// apiError gives a retryable error the wait of its RetryInfo: the Gemini
// API says when to retry in the error's details, not in a header.
func apiError(err error) error {
	var ae genai.APIError
	if !errors.As(err, &ae) {
		return err
	}
	for _, d := range ae.Details {
		if d["reason"] == "API_KEY_INVALID" {
			return fmt.Errorf("%w; the API key was refused: check api_key (or the %s environment variable)", err, strings.Join(KeyEnvs, " or "))
		}
	}
	if ae.Code != 429 && ae.Code < 500 {
		return err
	}
	for _, d := range ae.Details {
		if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo" {
			if s, ok := d["retryDelay"].(string); ok {
				if wait, perr := time.ParseDuration(s); perr == nil {
					return ai.Transient(err, wait)
				}
			}
		}
	}
	return err
}
