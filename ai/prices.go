package ai

import "strings"

// Price is what a model costs, in US dollars per million tokens.
type Price struct{ Input, Output float64 }

// Prices is the price table of the estimated cost (the cost_micro_usd
// counter), by model id or id prefix: "claude-sonnet-4-5" prices
// "claude-sonnet-4-5-20250929". The figures are the providers' published
// list prices for standard (not batch, not cached) input and output
// tokens as of 2025; they change, so check them, and override them for a
// stage with price_input and price_output, or for a program by changing
// this map before jobs run. A model in no entry gets no cost estimate.
var Prices = map[string]Price{
	// Anthropic
	"claude-opus-4-5":   {5, 25},
	"claude-opus-4-1":   {15, 75},
	"claude-opus-4":     {15, 75},
	"claude-sonnet-4-5": {3, 15},
	"claude-sonnet-4":   {3, 15},
	"claude-haiku-4-5":  {1, 5},
	"claude-3-5-haiku":  {0.8, 4},
	// Google
	"gemini-2.5-pro":        {1.25, 10},
	"gemini-2.5-flash":      {0.30, 2.50},
	"gemini-2.5-flash-lite": {0.10, 0.40},
	"gemini-2.0-flash":      {0.10, 0.40},
	// OpenAI
	"gpt-5":        {1.25, 10},
	"gpt-5-mini":   {0.25, 2},
	"gpt-5-nano":   {0.05, 0.40},
	"gpt-4.1":      {2, 8},
	"gpt-4.1-mini": {0.40, 1.60},
	"gpt-4.1-nano": {0.10, 0.40},
	"gpt-4o":       {2.50, 10},
	"gpt-4o-mini":  {0.15, 0.60},
	"o3":           {2, 8},
	"o4-mini":      {1.10, 4.40},
	// DeepSeek (through OpenAIPromptTransformer's base_url)
	"deepseek-chat":     {0.28, 0.42},
	"deepseek-reasoner": {0.28, 0.42},
}

// PriceOf returns the price of model: its entry in Prices, or the entry of
// the longest id prefix of it that ends where a "-" follows.
func PriceOf(model string) (Price, bool) {
	if p, ok := Prices[model]; ok {
		return p, true
	}
	best, found := "", false
	for id := range Prices {
		if strings.HasPrefix(model, id+"-") && len(id) > len(best) {
			best, found = id, true
		}
	}
	if !found {
		return Price{}, false
	}
	return Prices[best], true
}
