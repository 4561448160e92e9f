// Package openai is the OpenAIPromptTransformer stage: the ai package's
// prompt transformer on OpenAI's chat completions, through the OpenAI Go
// SDK (github.com/openai/openai-go/v3). With base_url the same stage talks
// to any server of that API: DeepSeek, vLLM, llama.cpp's server, Ollama.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
)

// DefaultModel is the model used when none is given (the design document
// names none for OpenAI): a small, cheap model that takes a temperature.
const DefaultModel = "gpt-4.1-mini"

// KeyEnv is the environment variable api_key defaults from.
const KeyEnv = "OPENAI_API_KEY"

// OpenAIPromptTransformer transforms its input with a prompt to an OpenAI
// chat model or any server of the same API; see package ai.
type OpenAIPromptTransformer struct {
	Model   string           `param:"model" default:"gpt-4.1-mini" doc:"Model id: an OpenAI model, or the id a compatible server knows (deepseek-chat, a vLLM or Ollama model name)."`
	APIKey  openstage.Secret `param:"api_key" doc:"API key; default: the OPENAI_API_KEY environment variable. A local server given by base_url may need none."`
	BaseURL string           `param:"base_url" doc:"API endpoint, with its /v1 where the server has one: https://api.deepseek.com, http://localhost:8000/v1 (vLLM), http://localhost:8080/v1 (llama.cpp), http://localhost:11434/v1 (Ollama). Default https://api.openai.com/v1, or the OPENAI_BASE_URL environment variable."`
	ai.Stage
}

func init() {
	openstage.MustRegister(openstage.Spec{
		Type:    "OpenAIPromptTransformer",
		Layer:   openstage.AI,
		Summary: "Transforms rows with a prompt to OpenAI or any server of its chat completions API (DeepSeek, vLLM, llama.cpp, Ollama, with base_url): batches sent as CSV (or one request per row), in parallel, with truncation recovery, retries, caching and token/cost accounting.",
		Doc: ai.StageDoc("an OpenAI chat model, or any server of the same API given by base_url", "openai", "chat completions",
			"0 unless set, except for OpenAI's reasoning models (o1, o3, o4, gpt-5 and later, by model id), which take none. The answer's length is bounded with max_completion_tokens at OpenAI and max_tokens at a base_url (what DeepSeek, vLLM, llama.cpp and Ollama read)"),
		Example: `- name: enrich
  type: OpenAIPromptTransformer
  base_url: https://api.deepseek.com
  api_key: ${env:DEEPSEEK_API_KEY}
  model: deepseek-chat
  prompt: Add a column region with the world region of each country.
  output_columns: ["*", {region: string}]`,
		New: func() any { return &OpenAIPromptTransformer{} },
	})
}

// Plan resolves the API key and plans the shared stage.
func (t *OpenAIPromptTransformer) Plan(ctx context.Context, p *openstage.Plan) error {
	key, err := ai.Key(p, t.APIKey, t.BaseURL != "", KeyEnv)
	if err != nil {
		return err
	}
	var temp *float64
	if !reasoning(t.Model) {
		zero := 0.0
		temp = &zero
	}
	custom := t.BaseURL != ""
	return t.Setup(ctx, p, ai.Service{
		Type: "OpenAIPromptTransformer", Name: "openai", Model: t.Model, KeyEnv: KeyEnv, Key: key,
		Temperature: temp,
		New: func(hc *http.Client) (ai.Provider, error) {
			opts := []option.RequestOption{option.WithHTTPClient(hc), option.WithMaxRetries(0)}
			if key != "" {
				opts = append(opts, option.WithAPIKey(key))
			}
			if custom {
				opts = append(opts, option.WithBaseURL(t.BaseURL))
			}
			return &provider{c: openai.NewClient(opts...), custom: custom}, nil
		},
	})
}

// reasoning reports whether model is one of OpenAI's reasoning models,
// which reject a temperature other than their default.
func reasoning(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5", "gpt-6"} {
		if model == p || strings.HasPrefix(model, p+"-") || strings.HasPrefix(model, p+".") {
			return true
		}
	}
	return false
}

type provider struct {
	c      openai.Client
	custom bool // a base_url: bound the answer with max_tokens
}

// Complete makes one chat completion (not streamed).
func (p *provider) Complete(ctx context.Context, req ai.Request) (ai.Reply, error) {
	params := openai.ChatCompletionNewParams{Model: shared.ChatModel(req.Model)}
	if req.System != "" {
		params.Messages = append(params.Messages, openai.SystemMessage(req.System))
	}
	params.Messages = append(params.Messages, openai.UserMessage(req.Prompt))
	if p.custom {
		params.MaxTokens = openai.Int(int64(req.MaxTokens))
	} else {
		params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	if req.Schema != nil {
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "answer", Schema: req.Schema, Strict: openai.Bool(true)},
		}}
	}
	resp, err := p.c.Chat.Completions.New(ctx, params)
	if err != nil {
		return ai.Reply{}, err
	}
	if len(resp.Choices) == 0 {
		return ai.Reply{}, errors.New("the answer has no choices")
	}
	ch := resp.Choices[0]
	if ch.Message.Refusal != "" {
		return ai.Reply{}, fmt.Errorf("the model refused: %s", ch.Message.Refusal)
	}
	rep := ai.Reply{
		Text:         ch.Message.Content,
		InputTokens:  resp.Usage.PromptTokens,
		OutputTokens: resp.Usage.CompletionTokens,
		Stop:         ch.FinishReason,
	}
	switch ch.FinishReason {
	case "stop", "":
	case "length":
		rep.Truncated = true
	default:
		return ai.Reply{}, fmt.Errorf("the model stopped with finish reason %s", ch.FinishReason)
	}
	return rep, nil
}
