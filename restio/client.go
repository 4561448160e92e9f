package restio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/open-stage/openstage"
)

// HTTPClient is the parameter block that APIRestOrigin and RESTDestination
// share: how requests are authenticated, timed out, retried and paced.
// Embedded in a component, its fields are the component's parameters.
type HTTPClient struct {
	Timeout      Duration `param:"timeout" default:"30s" doc:"Time limit of one request, from sending it to the end of the response body (500ms, 30s, 2m; a number is seconds). A request that takes longer is retried like a connection error."`
	MaxRetries   int      `param:"max_retries" default:"5" doc:"Retries of a request after a connection error, a timeout, 429 Too Many Requests or a 5xx status (not 501); 0 sends each request once."`
	RetryWait    Duration `param:"retry_wait" default:"1s" doc:"Wait before the first retry; it doubles with each retry, with random jitter (between half and all of it), up to retry_max_wait. A Retry-After header (seconds or HTTP date) replaces it."`
	RetryMaxWait Duration `param:"retry_max_wait" default:"1m" doc:"Longest wait between two attempts. A Retry-After asking for more fails the request at once, saying so."`
	RateLimit    float64  `param:"rate_limit" doc:"Requests per second at most, retries included (0: no limit). Fractions allowed: 0.5 is one request every two seconds."`
	Auth         Auth     `param:"auth" doc:"Authentication: type bearer (token), basic (username, password), api_key (key, in: header or query, name) or oauth2 (client credentials: token_url, client_id, client_secret, scopes, token_params). Every credential is a secret: write it as ${env:NAME}; it never appears in logs, errors or the run summary."`
}

// Auth is the auth block of HTTPClient.
type Auth struct {
	Type         string            `param:"type" default:"none" enum:"none,bearer,basic,api_key,oauth2" doc:"How requests are authenticated."`
	Token        openstage.Secret  `param:"token" doc:"bearer: the token, sent as Authorization: Bearer <token>."`
	Username     string            `param:"username" doc:"basic: the user name."`
	Password     openstage.Secret  `param:"password" doc:"basic: the password."`
	Key          openstage.Secret  `param:"key" doc:"api_key: the key."`
	In           string            `param:"in" default:"header" enum:"header,query" doc:"api_key: send the key in a header or a query parameter."`
	Name         string            `param:"name" default:"X-API-Key" doc:"api_key: the header or query parameter that carries the key."`
	TokenURL     string            `param:"token_url" doc:"oauth2: the token endpoint."`
	ClientID     string            `param:"client_id" doc:"oauth2: the client id."`
	ClientSecret openstage.Secret  `param:"client_secret" doc:"oauth2: the client secret."`
	Scopes       []string          `param:"scopes" doc:"oauth2: the scopes to ask for."`
	TokenParams  map[string]string `param:"token_params" doc:"oauth2: further form fields of the token request (audience, resource)."`
}

// ParamType implements openstage.ParamTyper.
func (Auth) ParamType() string { return "auth object" }

// Duration is a parameter holding a time span: a Go duration (500ms, 30s,
// 1m30s) or a number of seconds.
type Duration time.Duration

// DecodeParam implements openstage.ParamDecoder.
func (d *Duration) DecodeParam(v any) error {
	var out time.Duration
	switch x := v.(type) {
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil {
			out = time.Duration(f * float64(time.Second))
			break
		}
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("'%s' is not a duration; write it as 500ms, 30s or 2m (or a number of seconds)", x)
		}
		out = p
	case int:
		out = time.Duration(x) * time.Second
	case int64:
		out = time.Duration(x) * time.Second
	case float64:
		out = time.Duration(x * float64(time.Second))
	default:
		return fmt.Errorf("must be a duration such as 30s, got %v", v)
	}
	if out < 0 {
		return fmt.Errorf("must not be negative, got %s", out)
	}
	*d = Duration(out)
	return nil
}

// ParamType implements openstage.ParamTyper.
func (Duration) ParamType() string { return "duration" }

func (d Duration) String() string { return time.Duration(d).String() }

// check reports what is wrong with the block, in job-file words.
func (h *HTTPClient) check() error {
	if h.MaxRetries < 0 {
		return fmt.Errorf("max_retries must be 0 or more, got %d", h.MaxRetries)
	}
	if h.RateLimit < 0 {
		return fmt.Errorf("rate_limit must be 0 (no limit) or a positive number of requests per second, got %v", h.RateLimit)
	}
	a := h.Auth
	missing := func(key string) error {
		return fmt.Errorf("auth: type %s needs %s", a.Type, key)
	}
	switch a.Type {
	case "", "none":
	case "bearer":
		if a.Token.IsZero() {
			return missing("token (write token: ${env:API_TOKEN})")
		}
	case "basic":
		if a.Username == "" {
			return missing("username")
		}
	case "api_key":
		if a.Key.IsZero() {
			return missing("key (write key: ${env:API_KEY})")
		}
		if a.In != "" && a.In != "header" && a.In != "query" {
			return fmt.Errorf("auth: in must be header or query, got '%s'", a.In)
		}
	case "oauth2":
		switch {
		case a.TokenURL == "":
			return missing("token_url")
		case a.ClientID == "":
			return missing("client_id")
		case a.ClientSecret.IsZero():
			return missing("client_secret (write client_secret: ${env:CLIENT_SECRET})")
		}
		if _, err := parseHTTPURL(a.TokenURL); err != nil {
			return fmt.Errorf("auth: token_url: %w", err)
		}
	default:
		return fmt.Errorf("auth: type '%s' is not one of none, bearer, basic, api_key, oauth2", a.Type)
	}
	return nil
}

func (a *Auth) keyName() string {
	if a.Name == "" {
		return "X-API-Key"
	}
	return a.Name
}

func (a *Auth) keyInQuery() bool { return a.Type == "api_key" && a.In == "query" }

// parseHTTPURL parses an http or https URL.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("'%s' is not a URL: %v", s, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("'%s' is not an http:// or https:// URL", s)
	}
	return u, nil
}

// client sends requests for one stage: authentication, per-request
// timeout, retries with backoff (go-retryablehttp), and a rate limit
// (golang.org/x/time/rate) that every attempt waits for.
type client struct {
	cfg       *HTTPClient
	retry     *retryablehttp.Client
	transport *http.Transport
	auth      Auth
	secrets   []string

	requests atomic.Int64 // attempts sent
	retries  atomic.Int64 // attempts after the first of a request
}

// newClient builds the client of cfg; conns is how many requests may be in
// flight at once (the idle connection pool keeps that many).
func newClient(cfg *HTTPClient, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(conns, 2)
	c := &client{cfg: cfg, transport: tr, auth: cfg.Auth}
	for _, s := range []openstage.Secret{cfg.Auth.Token, cfg.Auth.Password, cfg.Auth.Key, cfg.Auth.ClientSecret} {
		if !s.IsZero() {
			c.secrets = append(c.secrets, s.Reveal())
		}
	}
	var rt http.RoundTripper = tr
	if cfg.RateLimit > 0 {
		rt = &limitedTransport{next: rt, lim: rate.NewLimiter(rate.Limit(cfg.RateLimit), 1)}
	}
	rt = &countingTransport{next: rt, n: &c.requests}
	timeout := time.Duration(cfg.Timeout)
	if cfg.Auth.Type == "oauth2" {
		cc := &clientcredentials.Config{
			ClientID:     cfg.Auth.ClientID,
			ClientSecret: cfg.Auth.ClientSecret.Reveal(),
			TokenURL:     cfg.Auth.TokenURL,
			Scopes:       cfg.Auth.Scopes,
		}
		if len(cfg.Auth.TokenParams) > 0 {
			cc.EndpointParams = url.Values{}
			for k, v := range cfg.Auth.TokenParams {
				cc.EndpointParams.Set(k, v)
			}
		}
		// The token source lives as long as the client: it fetches a token
		// at the first request and a new one when it expires, through the
		// same transport (and timeout) as the API requests.
		tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr, Timeout: timeout})
		rt = &oauth2.Transport{Source: cc.TokenSource(tokenCtx), Base: rt}
	}
	c.retry = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: rt, Timeout: timeout},
		RetryWaitMin: time.Duration(cfg.RetryWait),
		RetryWaitMax: time.Duration(cfg.RetryMaxWait),
		RetryMax:     cfg.MaxRetries,
		CheckRetry:   c.checkRetry,
		Backoff:      backoff,
		ErrorHandler: giveUp,
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			if attempt > 0 {
				c.retries.Add(1)
				if n, ok := r.Context().Value(retriesKey{}).(*int64); ok {
					*n++ // one request's attempts are sequential
				}
			}
		},
	}
	return c
}

// retriesKey keys, in a request's context, the count of its retries.
type retriesKey struct{}

// close drops the client's idle connections (and their goroutines).
func (c *client) close() { c.transport.CloseIdleConnections() }

type limitedTransport struct {
	next http.RoundTripper
	lim  *rate.Limiter
}

func (t *limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.lim.Wait(r.Context()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return t.next.RoundTrip(r)
}

type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// checkRetry is the retry policy: connection errors and timeouts, 429 and
// 5xx other than 501 are retried; a token endpoint that refuses the
// credentials is not.
func (c *client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			code := 0
			if re.Response != nil {
				code = re.Response.StatusCode
			}
			return code == http.StatusTooManyRequests || code >= 500, &tokenError{status: code, body: re.Body}
		}
		if errors.Is(err, errBody) {
			return true, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if resp.StatusCode != http.StatusTooManyRequests && (resp.StatusCode < 500 || resp.StatusCode == http.StatusNotImplemented) {
		return false, nil
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && d > time.Duration(c.cfg.RetryMaxWait) {
		return false, fmt.Errorf("the server asked to retry after %s (Retry-After: %s), longer than retry_max_wait (%s)", d.Round(time.Second), resp.Header.Get("Retry-After"), c.cfg.RetryMaxWait)
	}
	return true, nil
}

// backoff waits retry_wait·2^attempt, capped at retry_max_wait, with equal
// jitter (a random duration between half and all of it), unless the
// response says how long to wait in a Retry-After header.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return d
		}
	}
	d := lo
	for range attempt {
		d *= 2
		if d >= hi || d <= 0 {
			d = hi
			break
		}
	}
	d = min(d, hi)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// retryAfter reads a Retry-After header: a number of seconds or an HTTP
// date (RFC 9110, section 10.2.3).
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(h)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}

// giveUp turns the last attempt of a request that ran out of retries into
// an error that keeps the status and the start of the body.
func giveUp(resp *http.Response, err error, tries int) (*http.Response, error) {
	e := &retriesError{tries: tries, err: err}
	if resp != nil && errors.Is(err, errBody) {
		resp.Body.Close()
	} else if resp != nil {
		e.status = resp.StatusCode
		e.statusText = resp.Status
		e.body = readBody(resp.Body)
		resp.Body.Close()
	}
	return nil, e
}

// retriesError is a request that failed on its last allowed attempt.
type retriesError struct {
	tries      int
	status     int
	statusText string
	body       string
	err        error
}

func (e *retriesError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("HTTP %s after %d attempts", e.statusText, e.tries)
	}
	return e.err.Error()
}
func (e *retriesError) Unwrap() error { return e.err }

// tokenError is a refusal of the OAuth2 token endpoint.
type tokenError struct {
	status int
	body   []byte
}

func (e *tokenError) Error() string {
	return fmt.Sprintf("the OAuth2 token endpoint answered HTTP %d: %s", e.status, snippet(e.body))
}

var errBody = errors.New("reading the response body")

// snippetBytes is how much of a response body error messages quote.
const snippetBytes = 200

// responseBytes is how much of an error response a reject row keeps.
const responseBytes = 64 << 10

func readBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, responseBytes))
	return string(b)
}

func snippet[T string | []byte](b T) string {
	s := strings.TrimSpace(string(b))
	if len(s) > snippetBytes {
		n := snippetBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// response is a successful (2xx) response, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
	url    *url.URL // after redirects
}

// StatusError is a request answered with a status that is not 2xx (after
// retries, for 429 and 5xx). Its message holds the method, the URL with
// secrets masked, the status and the first 200 bytes of the body.
type StatusError struct {
	Method   string
	URL      string // secrets masked
	Status   int
	Text     string // "404 Not Found"
	Body     string // the first 200 bytes
	Response string // the body, up to 64 KiB
	Attempts int
	Note     string // why retrying stopped early, if it did
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %s", e.Method, e.URL, e.Text)
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts (max_retries: %d)", e.Attempts, e.Attempts-1)
	}
	msg += ": " + e.Body
	if e.Note != "" {
		msg += "; " + e.Note
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (check auth: the credentials were refused)"
	case http.StatusForbidden:
		msg += " (check auth: the credentials lack permission)"
	case http.StatusNotFound:
		msg += " (check url)"
	}
	return msg
}

// do sends one request with retries and returns its response when the
// status is 2xx. body may be nil. retries, when not nil, counts the
// request's retries.
func (c *client) do(ctx context.Context, method string, u *url.URL, header http.Header, body []byte, retries *int64) (*response, error) {
	u = c.withKey(u)
	if retries != nil {
		ctx = context.WithValue(ctx, retriesKey{}, retries)
	}
	var raw any
	if body != nil {
		raw = body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, u.String(), raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, c.shownURL(u), err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	switch c.auth.Type {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+c.auth.Token.Reveal())
	case "basic":
		req.SetBasicAuth(c.auth.Username, c.auth.Password.Reveal())
	case "api_key":
		if !c.auth.keyInQuery() {
			req.Header.Set(c.auth.keyName(), c.auth.Key.Reveal())
		}
	}
	var got []byte
	req.SetResponseHandler(func(resp *http.Response) error {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		if resp.ContentLength > 0 {
			buf.Grow(int(resp.ContentLength))
		}
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return fmt.Errorf("%w: %w", errBody, err)
		}
		got = buf.Bytes()
		return nil
	})
	resp, err := c.retry.Do(req)
	if err != nil {
		return nil, c.requestError(ctx, method, u, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		full := c.mask(readBody(resp.Body))
		resp.Body.Close()
		return nil, &StatusError{Method: method, URL: c.shownURL(u), Status: resp.StatusCode, Text: resp.Status, Body: snippet(full), Response: full, Attempts: 1}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: got, url: resp.Request.URL}, nil
}

// requestError says why a request failed without a usable response, with
// the URL masked and without quoting the request (Go's url.Error would).
func (c *client) requestError(ctx context.Context, method string, u *url.URL, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	shown := c.shownURL(u)
	var re *retriesError
	tries := 1
	if errors.As(err, &re) {
		tries = re.tries
		if re.status != 0 {
			full := c.mask(re.body)
			se := &StatusError{Method: method, URL: shown, Status: re.status, Text: re.statusText, Body: snippet(full), Response: full, Attempts: tries}
			if re.err != nil {
				se.Note = re.err.Error()
			}
			return se
		}
		err = re.err
	}
	after := ""
	if tries > 1 {
		after = fmt.Sprintf(" after %d attempts (max_retries: %d)", tries, tries-1)
	}
	var te *tokenError
	if errors.As(err, &te) {
		hint := ""
		if te.status == http.StatusUnauthorized || te.status == http.StatusBadRequest {
			hint = " (check client_id and client_secret)"
		}
		return fmt.Errorf("%s %s: %s%s%s", method, shown, c.mask(te.Error()), after, hint)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s %s: no complete response within timeout %s%s; raise timeout if the API is slow", method, shown, c.cfg.Timeout, after)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s%s: %s", method, shown, after, c.mask(err.Error()))
}

// mask replaces the stage's secrets in text a server sent (an error body
// that quotes the token it refused).
func (c *client) mask(s string) string {
	for _, sec := range c.secrets {
		if len(sec) >= 3 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	return s
}

// withKey adds an api_key sent in the query string.
func (c *client) withKey(u *url.URL) *url.URL {
	if !c.auth.keyInQuery() {
		return u
	}
	v := *u
	q := v.Query()
	q.Set(c.auth.keyName(), c.auth.Key.Reveal())
	v.RawQuery = q.Encode()
	return &v
}

// sensitive are query parameter names whose values error messages mask
// whatever the configuration (signed next links carry such tokens).
var sensitive = map[string]bool{
	"access_token": true, "token": true, "api_key": true, "apikey": true, "key": true,
	"secret": true, "client_secret": true, "password": true, "signature": true, "sig": true,
}

// shownURL is u as messages show it: no password in the user info, and
// the values of the API key parameter, of well-known credential parameters
// and of anything equal to a secret of the stage replaced by ***.
func (c *client) shownURL(u *url.URL) string {
	v := *u
	if v.User != nil {
		v.User = url.User(v.User.Username())
	}
	if v.RawQuery != "" {
		q := v.Query()
		changed := false
		for k, vals := range q {
			for i, val := range vals {
				if sensitive[strings.ToLower(k)] || c.auth.keyInQuery() && k == c.auth.keyName() || c.isSecret(val) {
					vals[i] = "***"
					changed = true
				}
			}
		}
		if changed {
			v.RawQuery = strings.ReplaceAll(q.Encode(), "%2A%2A%2A", "***")
		}
	}
	return c.mask(v.String())
}

func (c *client) isSecret(v string) bool {
	for _, s := range c.secrets {
		if v == s {
			return true
		}
	}
	return false
}
