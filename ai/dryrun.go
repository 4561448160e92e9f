package ai

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/open-stage/openstage"
)

// dryEstimate sums what a dry run would have sent.
type dryEstimate struct {
	requests, cached, input, output, rows atomic.Int64
	outputUnknown                         atomic.Bool
}

// estimateTokens is the usual rule of thumb for English text and CSV: about
// four characters per token. Providers count exactly; a dry run only
// estimates.
func estimateTokens(s string) int64 { return int64(len(s)+3) / 4 }

// dryRunBatch describes the requests of one batch without sending them:
// the input's first request is printed whole, every request counted.
func (s *Stage) dryRunBatch(dp openstage.DataPackage, out *openstage.Emitter) error {
	rt := s.rt
	var reqs []Request
	var outEst int64
	if rt.row {
		b := openstage.View(dp.Batch)
		for i := 0; i < b.Len(); i++ {
			reqs = append(reqs, s.newRequest(s.rowPrompt(b, i)))
		}
		rt.dryEst.outputUnknown.Store(true)
	} else {
		req := s.newRequest(s.tablePrompt(dp.Batch))
		reqs = append(reqs, req)
		// The answer restates the table with the output's columns.
		data := req.Prompt[strings.LastIndex(req.Prompt, TableMarker):]
		outEst = estimateTokens(data) * int64(rt.out.NumFields()) / int64(max(1, rt.in.NumFields()))
	}
	rt.dryEst.rows.Add(dp.Batch.NumRows())
	for k, req := range reqs {
		// The first request of the input, whichever worker gets to it
		// first: the output of a dry run does not depend on timing.
		if dp.FirstRow == 0 && k == 0 {
			s.writeFirstRequest(req)
		}
		if rt.cache != nil {
			if _, ok := rt.cache.get(rt.cache.key(rt.svc.Name, rt.format, req)); ok {
				rt.dryEst.cached.Add(1)
				out.Count("cache_hits", 1)
				continue
			}
		}
		in := estimateTokens(rt.system) + estimateTokens(req.Prompt)
		rt.dryEst.requests.Add(1)
		rt.dryEst.input.Add(in)
		rt.dryEst.output.Add(outEst)
		out.Count("dry_run_requests", 1)
		out.Count("est_input_tokens", in)
		if outEst > 0 {
			out.Count("est_output_tokens", outEst)
		}
	}
	return nil
}

const dryPromptShown = 6000

func (s *Stage) writeFirstRequest(req Request) {
	rt := s.rt
	var b strings.Builder
	fmt.Fprintf(&b, "== %s '%s' (dry run): the first request, which is not sent\n", rt.svc.Type, rt.stage)
	fmt.Fprintf(&b, "provider: %s  model: %s  max_tokens: %d", rt.svc.Name, req.Model, req.MaxTokens)
	if req.Temperature != nil {
		fmt.Fprintf(&b, "  temperature: %g", *req.Temperature)
	}
	fmt.Fprintf(&b, "  response format: %s\n", rt.format)
	fmt.Fprintf(&b, "-- system\n%s\n-- user\n", req.System)
	p := req.Prompt
	if len(p) > dryPromptShown {
		p = p[:dryPromptShown] + fmt.Sprintf("\n[... %d more characters]", len(req.Prompt)-dryPromptShown)
	}
	b.WriteString(strings.TrimRight(p, "\n"))
	b.WriteString("\n")
	if req.Schema != nil {
		b.WriteString("-- JSON schema of the answer: built from output_columns\n")
	}
	fmt.Fprint(rt.dry, b.String())
}

func (s *Stage) writeEstimate() {
	rt := s.rt
	e := &rt.dryEst
	var b strings.Builder
	fmt.Fprintf(&b, "== %s '%s' (dry run): %d rows would make %d requests", rt.svc.Type, rt.stage, e.rows.Load(), e.requests.Load())
	if c := e.cached.Load(); c > 0 {
		fmt.Fprintf(&b, " (and %d answers come from the cache)", c)
	}
	fmt.Fprintf(&b, " of about %d input tokens", e.input.Load())
	if e.outputUnknown.Load() {
		fmt.Fprintf(&b, " and up to %d output tokens each (max_tokens)", s.maxTokens())
	} else {
		fmt.Fprintf(&b, " and about %d output tokens", e.output.Load())
	}
	if rt.priced && !e.outputUnknown.Load() {
		cost := (float64(e.input.Load())*rt.price.Input + float64(e.output.Load())*rt.price.Output) / 1e6
		fmt.Fprintf(&b, "; estimated cost $%.4f at $%g/$%g per million input/output tokens", cost, rt.price.Input, rt.price.Output)
	} else if rt.priced {
		cost := float64(e.input.Load()) * rt.price.Input / 1e6
		fmt.Fprintf(&b, "; input alone about $%.4f at $%g per million tokens", cost, rt.price.Input)
	}
	b.WriteString(" (4 characters per token; answers that are cut at max_tokens would add split requests)\n")
	fmt.Fprint(rt.dry, b.String())
}
