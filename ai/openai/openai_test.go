package openai_test

import (
	"os"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/ai/openai"
	"github.com/open-stage/openstage/internal/aitest"
)

func newStage(url, key string) (any, *ai.Stage) {
	c := &openai.OpenAIPromptTransformer{}
	if err := openstage.ApplyDefaults(c); err != nil {
		panic(err)
	}
	if url != "" {
		c.BaseURL = url + "/v1"
	}
	c.APIKey = openstage.NewSecret(key)
	return c, &c.Stage
}

// TestSuite runs the cases through the OpenAI SDK against a local
// server speaking chat completions.
func TestSuite(t *testing.T) {
	zero := 0.0
	aitest.RunSuite(t, aitest.Provider{
		Name:        "openai",
		NewServer:   aitest.NewOpenAI,
		NewStage:    newStage,
		Overloaded:  503,
		Temperature: &zero,
	})
}

// TestLive runs Example 3's prompt against the real OpenAI API when
// OPENAI_API_KEY is set (OPENSTAGE_LIVE_OPENAI_MODEL picks another model,
// OPENSTAGE_LIVE_OPENAI_BASE_URL another server of the same API).
func TestLive(t *testing.T) {
	aitest.Live(t, openai.KeyEnv, func(key string) (any, *ai.Stage) {
		c, st := newStage("", key)
		o := c.(*openai.OpenAIPromptTransformer)
		if m := os.Getenv("OPENSTAGE_LIVE_OPENAI_MODEL"); m != "" {
			o.Model = m
		}
		o.BaseURL = os.Getenv("OPENSTAGE_LIVE_OPENAI_BASE_URL")
		return c, st
	})
}
