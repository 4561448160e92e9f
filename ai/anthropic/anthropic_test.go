package anthropic_test

import (
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/ai/anthropic"
	"github.com/open-stage/openstage/internal/aitest"
)

func newStage(url, key string) (any, *ai.Stage) {
	c := &anthropic.AnthropicPromptTransformer{}
	if err := openstage.ApplyDefaults(c); err != nil {
		panic(err)
	}
	c.BaseURL, c.APIKey = url, openstage.NewSecret(key)
	return c, &c.Stage
}

// TestSuite runs the cases through the Anthropic SDK against a
// local server speaking the Messages API (streamed, as the stage asks).
func TestSuite(t *testing.T) {
	aitest.RunSuite(t, aitest.Provider{
		Name:       "anthropic",
		NewServer:  aitest.NewAnthropic,
		NewStage:   newStage,
		Overloaded: 529,
	})
}

// TestLive runs Example 3's prompt against the real Messages API when
// ANTHROPIC_API_KEY is set (OPENSTAGE_LIVE_ANTHROPIC_MODEL picks another
// model than the default).
func TestLive(t *testing.T) {
	aitest.Live(t, anthropic.KeyEnv, func(key string) (any, *ai.Stage) {
		c, st := newStage("", key)
		if m := getenv("OPENSTAGE_LIVE_ANTHROPIC_MODEL"); m != "" {
			c.(*anthropic.AnthropicPromptTransformer).Model = m
		}
		return c, st
	})
}
