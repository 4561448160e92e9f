package ai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/open-stage/openstage"
)

// Stage is what every AI prompt transformer shares: its parameters (a
// provider's stage type embeds Stage, so they are flattened into its own)
// and all of its work but the call itself. The provider's type adds model,
// api_key and base_url, and its Plan calls Setup with a Service.
//
// The engine runs the stage as a BatchProcessor: batch_rows rows per batch
// (Rebatcher), concurrency batches at once (Concurrency), outputs delivered
// in input order.
type Stage struct {
	Prompt         string   `param:"prompt" required:"true" doc:"The instruction. Table mode: what to do with the table (filter, add columns, classify...). Row mode: a template sent once per row, where ${column} is the row's value (in a job file write $${column}, since ${name} is a job parameter)."`
	Mode           string   `param:"mode" default:"table" enum:"table,row" doc:"table: each batch of batch_rows rows is sent as CSV and the answer is the transformed table (rows may be dropped or added). row: one request per row, its answer goes into output_column (or output_columns)."`
	System         string   `param:"system" doc:"Replaces the default system prompt (the role: a transformation step of a data pipeline). The answer-format instructions are in the user message and stay."`
	MaxTokens      int      `param:"max_tokens" default:"16000" doc:"Most tokens one answer may have. An answer cut at this limit is never used: the batch is split in half and each half sent again; a single row that still does not fit is an error naming it."`
	Temperature    *float64 `param:"temperature" doc:"Sampling temperature. Default 0 (repeatable answers), except where the model takes none: Anthropic's API (version 2026-10-21, sent by its SDK v2) rejects any temperature, so none is sent and setting one is an error; OpenAI's reasoning models (o1, o3, o4, gpt-5 and later) get none unless it is set."`
	ResponseFormat string   `param:"response_format" enum:"csv,text,json" doc:"How the model answers: csv (table mode's default), text (row mode's default: the answer as it is), or json: the provider's structured-output mode with a JSON schema built from output_columns."`
	OutputColumns  Columns  `param:"output_columns" doc:"The answer's columns and types. Table mode: the output's columns, in order; \"*\" stands for the input's columns (output_columns: [\"*\", {fraud_score: string}] adds a column). Without it the output has the input's columns and an answer that adds one is an error. Row mode: the columns added to each row, parsed from a JSON answer."`
	OutputColumn   string   `param:"output_column" default:"answer" doc:"Row mode without output_columns: the string column that receives each row's answer."`
	RequestRows    int      `param:"batch_rows" doc:"Rows per request in table mode (default 100); in row mode, rows one worker takes at a time (default 1). Fewer rows per request cost more tokens of instructions but fail and truncate less."`
	InFlight       int      `param:"concurrency" default:"4" doc:"Requests in flight at once. Output stays in input order."`
	Timeout        Duration `param:"timeout" default:"10m" doc:"Time limit of one attempt of a request; an attempt that exceeds it is retried."`
	MaxRetries     int      `param:"max_retries" default:"5" doc:"Retries of a request that fails with 408, 409, 429, a 5xx (Anthropic's 529 overloaded included), a timeout or a broken connection, waiting retry-after when the service says so, otherwise retry_delay doubled at each retry with jitter. A request that still fails sends its rows to reject, or fails the job."`
	RetryDelay     Duration `param:"retry_delay" default:"1s" doc:"Wait before the first retry when the service gives no retry-after; it doubles at each retry (up to 60s), with jitter."`
	Cache          string   `param:"cache" path:"true" doc:"Folder of saved answers: an answer is stored under a hash of provider, model, system prompt, user message (prompt and batch), temperature and response format, and a rerun reuses it without a request (counted as cache_hits)."`
	Reject         string   `param:"reject" doc:"Output pipe that receives the rows whose request failed (after retries) or whose answer could not be used, with an added error column; without it such a row fails the job."`
	PriceInput     float64  `param:"price_input" doc:"US dollars per million input tokens, for the estimated cost (cost_micro_usd); default from the built-in price table (ai.Prices)."`
	PriceOutput    float64  `param:"price_output" doc:"US dollars per million output tokens, for the estimated cost; default from the built-in price table."`

	rt *runtime
}

// Service is what a provider's stage type tells Setup.
type Service struct {
	Type   string // the stage type, for messages: AnthropicPromptTransformer
	Name   string // the provider, in cache keys: anthropic, gemini, openai
	Model  string
	KeyEnv string // the environment variables of the API key, for messages
	// Key is the API key, scrubbed from every error the stage returns.
	Key string
	// Temperature is what is sent when the temperature parameter is not
	// set (nil: none).
	Temperature *float64
	// NoTemperature: the service rejects any temperature.
	NoTemperature bool
	// New builds the provider on the stage's HTTP client. It is not called
	// in a dry run.
	New func(hc *http.Client) (Provider, error)
}

// runtime is what Setup prepares for the run.
type runtime struct {
	svc      Service
	stage    string
	provider Provider
	row      bool
	format   string // csv, text or json
	in, out  *arrow.Schema
	outPipe  string
	// table mode: the answer's columns (= out's fields)
	// row mode: the added columns, and for each output column the input
	// column it is (-1: added column k = -2-idx)
	added  []arrow.Field
	srcOf  []int
	tmpl   template
	system string
	note   string // the answer-format instructions of the user message
	schema map[string]any
	temp   *float64
	price  Price
	priced bool
	cache  *cache
	scrub  *strings.Replacer
	dry    io.Writer
	dryEst dryEstimate
}

// Connectivity: one input; one output, or two when one is the reject pipe.
func (s *Stage) Connectivity() openstage.Connectivity {
	return openstage.Connectivity{MinIn: 1, MaxIn: 1, MinOut: 1, MaxOut: 2}
}

// Concurrency implements the engine's optional interface: the concurrency
// parameter is the stage's worker count, so the requests in flight.
func (s *Stage) Concurrency() int {
	if s.InFlight > 0 {
		return s.InFlight
	}
	return 4
}

// BatchRows implements openstage.Rebatcher.
func (s *Stage) BatchRows() int {
	switch {
	case s.RequestRows > 0:
		return s.RequestRows
	case s.Mode == "row":
		return 1
	}
	return 100
}

// Process implements openstage.Node; the engine calls ProcessBatch instead.
func (s *Stage) Process(ctx context.Context, in *openstage.Inputs, out *openstage.Outputs) error {
	return openstage.BatchProcess(ctx, s, in, out)
}

const (
	defaultMaxTokens = 16000
	maxRetryDelay    = 60 * time.Second
	maxRetryAfter    = 15 * time.Minute
)

// Key returns a provider stage's API key: the api_key parameter, else the
// first of the environment variables envs that is set. Having none is an
// error, unless optional (a server that may need no key) or in a dry run.
func Key(p *openstage.Plan, apiKey openstage.Secret, optional bool, envs ...string) (string, error) {
	key := apiKey.Reveal()
	for _, env := range envs {
		if key == "" {
			key = os.Getenv(env)
		}
	}
	if key == "" && !optional && p.DryRun() == nil {
		return "", fmt.Errorf("no API key (credentials) found: set api_key (for example api_key: ${env:MY_KEY}) or the %s environment variable", strings.Join(envs, " or "))
	}
	return key, nil
}

// Setup checks the parameters against the input and declares the outputs.
// A provider's Plan resolves its model and key and calls it.
func (s *Stage) Setup(ctx context.Context, p *openstage.Plan, svc Service) error {
	rt := &runtime{svc: svc, stage: p.Stage(), in: p.InputSchema(), dry: p.DryRun()}
	s.rt = nil
	if strings.TrimSpace(s.Prompt) == "" {
		return errors.New("parameter 'prompt' is empty: say what the model must do")
	}
	if s.MaxTokens < 0 || s.RequestRows < 0 || s.InFlight < 0 || s.MaxRetries < 0 {
		return errors.New("max_tokens, batch_rows, concurrency and max_retries cannot be negative")
	}
	if svc.Model == "" {
		return errors.New("parameter 'model' is empty")
	}
	if len(svc.Key) >= 3 {
		rt.scrub = strings.NewReplacer(svc.Key, "***")
	}
	rt.row = s.Mode == "row"
	switch {
	case s.Temperature != nil && svc.NoTemperature:
		return fmt.Errorf("temperature: %s takes no temperature (Anthropic's API version 2026-10-21 rejects sampling parameters); remove it", svc.Type)
	case s.Temperature != nil && (*s.Temperature < 0 || *s.Temperature > 2):
		return fmt.Errorf("temperature %v is out of range; use a value from 0 to 2", *s.Temperature)
	case s.Temperature != nil:
		rt.temp = s.Temperature
	default:
		rt.temp = svc.Temperature
	}
	if err := s.planOutputs(p, rt); err != nil {
		return err
	}
	if s.Cache != "" {
		rt.cache = &cache{dir: s.Cache}
	}
	rt.price, rt.priced = PriceOf(svc.Model)
	if s.PriceInput > 0 || s.PriceOutput > 0 {
		rt.price, rt.priced = Price{Input: s.PriceInput, Output: s.PriceOutput}, true
	}
	if rt.dry == nil {
		prov, err := svc.New(NewHTTPClient())
		if err != nil {
			return rt.scrubErr(err)
		}
		rt.provider = prov
	}
	s.rt = rt
	return nil
}

// planOutputs works out the mode's format, output schema, prompts and
// reject pipe.
func (s *Stage) planOutputs(p *openstage.Plan, rt *runtime) error {
	var err error
	if rt.outPipe, err = p.RowsOutput(s.Reject); err != nil {
		return err
	}
	if rt.row {
		err = s.planRow(rt)
	} else {
		err = s.planTable(rt)
	}
	if err != nil {
		return err
	}
	if err := p.SetOutput(rt.outPipe, rt.out); err != nil {
		return err
	}
	if s.Reject != "" {
		p.MarkReject(s.Reject)
		return p.SetOutput(s.Reject, openstage.WithErrorColumn(rt.in))
	}
	return nil
}

// emitFailure sends the rows of rec to the reject pipe with err, or
// returns err when there is none.
func (s *Stage) emitFailure(ctx context.Context, rec arrow.RecordBatch, err error, out *openstage.Emitter) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	err = s.rt.scrubErr(err)
	if s.Reject == "" {
		return err
	}
	n := int(rec.NumRows())
	idx := make([]int32, n)
	msgs := make([]string, n)
	for i := range idx {
		idx[i], msgs[i] = int32(i), err.Error()
	}
	rej := openstage.Rejects(out.Allocator(), rec, idx, msgs)
	defer rej.Release()
	return out.SendTo(s.Reject, rej)
}

// ProcessBatch implements openstage.BatchProcessor.
func (s *Stage) ProcessBatch(ctx context.Context, dp openstage.DataPackage, out *openstage.Emitter) error {
	rt := s.rt
	if rt == nil {
		return errors.New("the stage was not planned (a bug: Plan must call Setup)")
	}
	switch {
	case rt.dry != nil:
		return s.dryRunBatch(dp, out)
	case rt.row:
		return s.rowBatch(ctx, dp, out)
	}
	return s.tableBatch(ctx, dp.Batch, dp.FirstRow, out)
}

// ask returns the answer to req: from the cache, or from the service with
// retries. It counts tokens and cost. The caller stores a usable answer
// with remember.
func (s *Stage) ask(ctx context.Context, req Request, out *openstage.Emitter) (Reply, string, bool, error) {
	rt := s.rt
	var key string
	if rt.cache != nil {
		key = rt.cache.key(rt.svc.Name, rt.format, req)
		if rep, ok := rt.cache.get(key); ok {
			out.Count("cache_hits", 1)
			return rep, key, true, nil
		}
	}
	rep, err := s.call(ctx, req, out)
	if err != nil {
		return Reply{}, key, false, err
	}
	out.Count(openstage.CounterInputTokens, rep.InputTokens)
	out.Count(openstage.CounterOutputTokens, rep.OutputTokens)
	if rt.priced {
		// A price per million tokens is a price in micro-dollars per token.
		out.Count("cost_micro_usd", int64(math.Round(float64(rep.InputTokens)*rt.price.Input+float64(rep.OutputTokens)*rt.price.Output)))
	}
	return rep, key, false, nil
}

// remember stores a usable answer in the cache.
func (s *Stage) remember(key string, cached bool, rep Reply) error {
	if s.rt.cache == nil || cached || rep.Truncated {
		return nil
	}
	return s.rt.cache.put(key, rep)
}

// call sends req, retrying what is worth retrying.
func (s *Stage) call(ctx context.Context, req Request, out *openstage.Emitter) (Reply, error) {
	rt := s.rt
	timeout := time.Duration(s.Timeout)
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	for attempt := 0; ; attempt++ {
		ci := &callInfo{}
		actx, cancel := context.WithTimeout(withCallInfo(ctx, ci), timeout)
		rep, err := rt.provider.Complete(actx, req)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		out.Count("requests", 1)
		if err == nil {
			return rep, nil
		}
		if ctx.Err() != nil {
			return Reply{}, ctx.Err()
		}
		again, wait, told := retryable(err, ci, timedOut)
		if !again || attempt >= s.MaxRetries {
			status := ci.statusOf()
			what := fmt.Sprintf("%s request failed", rt.svc.Name)
			if attempt > 0 {
				what += fmt.Sprintf(" after %d attempts", attempt+1)
			}
			if timedOut {
				what += fmt.Sprintf(" (each attempt timed out after %s; raise timeout)", timeout)
			}
			return Reply{}, fmt.Errorf("%s: %w%s", what, rt.scrubErr(err), describeStatus(status, rt.svc.KeyEnv))
		}
		if !told {
			wait = s.backoff(attempt)
		}
		wait = min(wait, maxRetryAfter)
		out.Count("retries", 1)
		out.Logger().Warn("retrying request", "attempt", attempt+1, "wait", wait, "error", rt.scrubErr(err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Reply{}, ctx.Err()
		}
	}
}

// backoff is retry_delay doubled per attempt, capped, with jitter: a wait
// drawn between half and all of it.
func (s *Stage) backoff(attempt int) time.Duration {
	base := time.Duration(s.RetryDelay)
	if base <= 0 {
		base = time.Second
	}
	d := base << min(attempt, 20)
	if d > maxRetryDelay || d <= 0 {
		d = maxRetryDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (s *Stage) maxTokens() int {
	if s.MaxTokens > 0 {
		return s.MaxTokens
	}
	return defaultMaxTokens
}

func (rt *runtime) request(prompt string) Request {
	return Request{Model: rt.svc.Model, System: rt.system, Prompt: prompt, Temperature: rt.temp, Schema: rt.schema}
}

// scrubErr masks the API key in err's message.
func (rt *runtime) scrubErr(err error) error {
	if rt == nil || rt.scrub == nil || err == nil {
		return err
	}
	msg := err.Error()
	if clean := rt.scrub.Replace(msg); clean != msg {
		return &scrubbed{msg: clean, err: err}
	}
	return err
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Close implements openstage.Closer: in a dry run it writes the estimate.
func (s *Stage) Close() error {
	if s.rt != nil && s.rt.dry != nil {
		s.writeEstimate()
	}
	return nil
}
