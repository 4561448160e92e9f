// Package ai holds what the AI prompt transformers share
// (AnthropicPromptTransformer in ai/anthropic, GeminiPromptTransformer in
// ai/gemini, OpenAIPromptTransformer in ai/openai): a stage that transforms
// rows with a natural-language prompt, and the one small interface a
// provider implements (Provider: send one request, return the answer).
//
// Table mode (the design document's) sends each batch of batch_rows rows
// as CSV with its header, under a system prompt asking for a table only,
// and reads the answer back as CSV (or as JSON with response_format: json):
// tolerant of a code fence and prose around the table, strict about its
// columns and types. The model may drop rows (a filtering prompt) or add
// them; every row it returns must read. Row mode sends one request per row
// from a ${column} template and adds the answer to the row.
//
// Around each request: an answer cut at max_tokens is never used (the
// batch is split in half and each half asked again, down to one row);
// 408, 409, 429, 5xx and Anthropic's 529 are retried with exponential
// backoff and jitter, honouring retry-after; the providers' SDKs are set
// to retry nothing themselves. Tokens and an estimated cost are counted in
// the run summary, answers can be cached in a folder, and a dry run
// (Job.DryRun) prints the first request and an estimate instead of
// calling the service. See docs/ai.md.
package ai
