// Package serve is `openstage serve`: a local web Director over the job
// files under one folder, after DataStage Director. It lists the jobs and
// whether they validate, shows a job's graph (internal/graph's SVG, stages
// coloured by layer), its stages' parameters, its pipes' columns and its
// declared parameters; runs a job with parameters inside the server process
// and shows the row counts of every pipe and the state of every stage while
// it runs (Server-Sent Events a few times a second, read from the engine's
// live statistics, Job.Stats); cancels a run as Ctrl-C does (nothing
// committed); and keeps every run in an SQLite database (modernc.org/sqlite)
// with its parameters (secret ones masked), times, status, error, per-stage
// and per-pipe counts (the run report of internal/report) and log lines.
// An HTTP JSON API under /api/ offers the same operations to schedulers.
//
// # Pieces
//
//   - Catalog (jobs.go) finds the job files under the folder, resolves the
//     path in a URL to one of them (nothing outside the folder, no "..",
//     no symlink out of it) and caches each file's validation by its
//     modification time and size.
//   - Runner (runner.go) runs jobs: at most Options.MaxRuns at once, the
//     others queued in order of submission; each run has its own context
//     (Cancel) and its own logger, whose lines are masked with the job's
//     secrets before they are kept.
//   - Store (store.go) is the history database.
//   - Server (server.go, pages.go, api.go) is the HTTP handler: pages
//     rendered with html/template from embedded templates, a small
//     embedded script (assets/app.js, no library) and style sheet.
//
// # Safety
//
// The handler checks, in order: the Host header (without an auth token,
// only a loopback name or address is accepted, which stops DNS rebinding);
// the auth token (Options.AuthToken: an "Authorization: Bearer" header, or
// the session cookie the /login form sets) on every request, pages, API,
// assets and event streams alike; and, on every request that changes
// state, cross-origin protection (net/http.CrossOriginProtection: the
// browser's Sec-Fetch-Site and Origin headers) plus a CSRF token for HTML
// forms (an HMAC of a random per-browser cookie) or a JSON body for the API
// (a browser cannot send one cross-origin without a CORS preflight, which
// this server never answers). Pages carry a Content-Security-Policy that
// allows only the server's own script and style sheet.
package serve
