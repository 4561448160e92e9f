package ai

import "fmt"

// StageDoc is the reference text of a provider's stage type.
func StageDoc(model, provider, api, temperature string) string {
	return fmt.Sprintf(`Sends the input to %s (%s) with a natural-language prompt and emits the answer as rows.

mode: table (default) sends each batch of batch_rows rows as CSV with its
header; the answer must be a CSV table (or JSON with response_format: json)
with the output's columns: the input's, or output_columns ("*" for the
input's, e.g. ["*", {fraud_score: string}]). The answer is read tolerantly
(a code fence, prose before the table) and checked (header, column count,
types); the model may drop or add rows. mode: row sends the prompt once per
row, with ${column} replaced by the row's values (write $${column} in a job
file), and adds the answer as output_column (or output_columns, from JSON).

An answer cut at max_tokens is never used: the batch is split in half and
each half is sent again; one row that still does not fit is an error naming
it. 408, 409, 429 and 5xx (529 overloaded) are retried max_retries times with
exponential backoff and jitter, honouring retry-after. A request that still
fails, or an answer that cannot be used, sends its rows to reject with the
error, or fails the job. concurrency requests are in flight at once; the
output keeps the input's order.

The run summary counts requests, retries, splits, cache_hits, input_tokens,
output_tokens and cost_micro_usd (an estimate in millionths of a dollar from
the price table of package ai, or price_input/price_output). With cache set,
answers are stored in that folder and reused by a rerun. openstage run
--dry-run prints the first request and an estimate of requests and tokens
and calls nothing. The API key is never shown. Temperature: %s. See
docs/ai.md.`, model, provider+", "+api, temperature)
}
