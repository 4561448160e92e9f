package gemini_test

import (
	"os"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/ai"
	"github.com/open-stage/openstage/ai/gemini"
	"github.com/open-stage/openstage/internal/aitest"
)

func newStage(url, key string) (any, *ai.Stage) {
	c := &gemini.GeminiPromptTransformer{}
	if err := openstage.ApplyDefaults(c); err != nil {
		panic(err)
	}
	c.BaseURL, c.APIKey = url, openstage.NewSecret(key)
	return c, &c.Stage
}

// TestSuite runs the cases through the Gen AI SDK against a local
// server speaking the Gemini API's generateContent.
func TestSuite(t *testing.T) {
	zero := 0.0
	aitest.RunSuite(t, aitest.Provider{
		Name:        "gemini",
		NewServer:   aitest.NewGemini,
		NewStage:    newStage,
		Overloaded:  503,
		Temperature: &zero,
	})
}

// TestLive runs Example 3's prompt against the real Gemini API when
// GEMINI_API_KEY is set (OPENSTAGE_LIVE_GEMINI_MODEL picks another model).
func TestLive(t *testing.T) {
	aitest.Live(t, "GEMINI_API_KEY", func(key string) (any, *ai.Stage) {
		c, st := newStage("", key)
		if m := os.Getenv("OPENSTAGE_LIVE_GEMINI_MODEL"); m != "" {
			c.(*gemini.GeminiPromptTransformer).Model = m
		}
		return c, st
	})
}
