// Package restio holds the REST API stages: APIRestOrigin reads JSON
// records from a paged API, RESTDestination sends rows to one.
//
// Both embed HTTPClient, the block of parameters every HTTP stage shares:
// auth (bearer, basic, API key, OAuth2 client credentials, every
// credential an openstage.Secret), timeout per request, retries with
// exponential backoff and jitter (hashicorp/go-retryablehttp) on
// connection errors, timeouts, 429 and 5xx, honouring Retry-After, and a
// rate limit (golang.org/x/time/rate) that every attempt waits for.
//
// Responses are parsed with valyala/fastjson after a strict validation, so
// that malformed JSON is reported with its byte offset (located with
// encoding/json). Records are flattened as pandas' json_normalize(sep="_")
// flattens them.
//
// Without a declared schema, APIRestOrigin's Plan downloads every page to
// infer the schema and keeps the bodies in an unlinked temporary file that
// Pump reads back: the API is read once, memory holds a few pages. With a
// declared schema (columns, each typed in column_types) Plan fetches
// nothing and Pump streams the pages. See docs/rest.md.
package restio
