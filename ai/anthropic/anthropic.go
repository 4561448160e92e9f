// Package anthropic is the AnthropicPromptTransformer stage: the ai
// package's prompt transformer on Claude, through Anthropic's Go SDK
// (github.com/anthropics/anthropic-sdk-go/v2, Messages API, streamed).
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
)

// DefaultModel is the design document's Claude Sonnet 4.5.
const DefaultModel = "claude-sonnet-4-5-20250929"

// KeyEnv is the environment variable api_key defaults from.
const KeyEnv = "ANTHROPIC_API_KEY"

// AnthropicPromptTransformer transforms its input with a prompt to Claude;
// see package ai for what every prompt transformer does.
type AnthropicPromptTransformer struct {
	Model   string           `param:"model" default:"claude-sonnet-4-5-20250929" doc:"Claude model id (default: the design document's Claude Sonnet 4.5)."`
	APIKey  openstage.Secret `param:"api_key" doc:"Anthropic API key; default: the ANTHROPIC_API_KEY environment variable."`
	BaseURL string           `param:"base_url" doc:"API endpoint (default https://api.anthropic.com, or the ANTHROPIC_BASE_URL environment variable): a proxy or a test server."`
	ai.Stage
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "AnthropicPromptTransformer",
		Layer:   openstage.AI,
		Summary: "Transforms rows with a prompt to Anthropic Claude: batches sent as CSV (or one request per row), in parallel, with truncation recovery, retries, caching and token/cost accounting.",
		Doc:     ai.StageDoc("Claude", "anthropic", "the Messages API, streamed", "none is sent, since the API version the SDK speaks (2026-10-21) rejects one"),
		Example: `- name: ai_transformer
  type: AnthropicPromptTransformer
  model: claude-sonnet-4-5-20250929
  prompt: |
    Filter only high-risk transactions and add a fraud_score column.
    Add fraud_score: LOW, MEDIUM, HIGH
  output_columns: ["*", {fraud_score: string}]
  max_tokens: 16000`,
		New: func() any { return &AnthropicPromptTransformer{} },
	})
}

// Plan resolves the API key and plans the shared stage.
func (t *AnthropicPromptTransformer) Plan(ctx context.Context, p *openstage.Plan) error {
	key, err := ai.Key(p, t.APIKey, false, KeyEnv)
	if err != nil {
		return err
	}
	return t.Setup(ctx, p, ai.Service{
		Type: "AnthropicPromptTransformer", Name: "anthropic", Model: t.Model, KeyEnv: KeyEnv, Key: key,
		NoTemperature: true,
		New: func(hc *http.Client) (ai.Provider, error) {
			opts := []option.RequestOption{option.WithAPIKey(key), option.WithHTTPClient(hc), option.WithMaxRetries(0)}
			if t.BaseURL != "" {
				opts = append(opts, option.WithBaseURL(t.BaseURL))
			}
			return &provider{c: anthropic.NewClient(opts...)}, nil
		},
	})
}

type provider struct{ c anthropic.Client }

// Complete streams one message and accumulates it: streaming is what the
// SDK requires for answers that may take long (large max_tokens), and it
// keeps the connection busy while the model writes.
func (p *provider) Complete(ctx context.Context, req ai.Request) (ai.Reply, error) {
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(req.Model),
		MaxTokens: int64(req.MaxTokens),
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(req.Prompt))},
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	if req.Schema != nil {
		params.OutputConfig = anthropic.OutputConfigParam{Format: anthropic.JSONOutputFormatParam{Schema: req.Schema}}
	}
	stream := p.c.Messages.NewStreaming(ctx, params)
	defer stream.Close()
	var msg anthropic.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			return ai.Reply{}, err
		}
	}
	if err := stream.Err(); err != nil {
		return ai.Reply{}, streamError(err)
	}
	var text strings.Builder
	for _, block := range msg.Content {
		if block.Type == "text" {
			text.WriteString(block.Text)
		}
	}
	u := msg.Usage
	rep := ai.Reply{
		Text:         text.String(),
		InputTokens:  u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		OutputTokens: u.OutputTokens,
		Stop:         string(msg.StopReason),
		Truncated:    msg.StopReason == anthropic.StopReasonMaxTokens,
	}
	switch rep.Stop {
	case "":
		return ai.Reply{}, ai.Transient(errors.New("the stream ended before the message was complete (no stop reason)"), 0)
	case "refusal":
		return ai.Reply{}, errors.New("the model refused to answer (stop reason: refusal)")
	}
	return rep, nil
}

// streamError marks as transient the errors a stream reports after its
// HTTP 200: an overloaded or internal error event.
func streamError(err error) error {
	var ae *anthropic.Error
	if errors.As(err, &ae) && ae.StatusCode < 400 {
		switch ae.Type() {
		case "overloaded_error", "api_error", "rate_limit_error", "timeout_error":
			return ai.Transient(fmt.Errorf("the stream reported %s: %s", ae.Type(), ae.Message), 0)
		}
	}
	msg := err.Error()
	if strings.Contains(msg, "error while streaming") && (strings.Contains(msg, "overloaded_error") || strings.Contains(msg, "api_error")) {
		return ai.Transient(err, 0)
	}
	return err
}
