package ai

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/open-stage/openstage/internal/atomicfile"
)

// cache keeps usable answers in a folder, one JSON file per request, named
// by a hash of everything that shapes the answer.
type cache struct{ dir string }

type cacheEntry struct {
	Provider     string `json:"provider"`
	Model        string `json:"model"`
	Text         string `json:"text"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	Stop         string `json:"stop"`
}

// key hashes the provider, model, system prompt, user message (prompt and
// batch), temperature and response format (with its schema). max_tokens is
// left out: only complete answers are stored, and a complete answer does
// not depend on the limit it stayed under.
func (c *cache) key(provider, format string, req Request) string {
	var temp any = "none"
	if req.Temperature != nil {
		temp = *req.Temperature
	}
	data, _ := json.Marshal([]any{"openstage-ai-cache-v1", provider, req.Model, req.System, req.Prompt, temp, format, req.Schema})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (c *cache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".json")
}

func (c *cache) get(key string) (Reply, bool) {
	data, err := os.ReadFile(c.path(key))
	if err != nil {
		return Reply{}, false
	}
	var e cacheEntry
	if json.Unmarshal(data, &e) != nil {
		return Reply{}, false
	}
	return Reply{Text: e.Text, InputTokens: e.InputTokens, OutputTokens: e.OutputTokens, Stop: e.Stop}, true
}

// put stores an answer atomically: a reader never sees half a file.
func (c *cache) put(key string, rep Reply) error {
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	data, _ := json.MarshalIndent(cacheEntry{Text: rep.Text, InputTokens: rep.InputTokens, OutputTokens: rep.OutputTokens, Stop: rep.Stop}, "", "  ")
	f, err := atomicfile.Create(p, 0o644)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return fmt.Errorf("cache: %w", err)
	}
	if err := f.Commit(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}
