package restio

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/open-stage/openstage/internal/jsontext"
)

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		h    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true}, // IMF-fixdate
		{"Sunday, 01-Mar-26 12:01:00 GMT", time.Minute, true},     // RFC 850
		{"Sun Mar  1 12:00:05 2026", 5 * time.Second, true},       // asctime
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},                // in the past: at once
		{"2026-03-01T12:00:30Z", 0, false},                        // not an HTTP date
	}
	for _, c := range cases {
		got, ok := retryAfter(c.h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.h, got, ok, c.want, c.ok)
		}
	}
}

func TestBackoffDoublesWithJitterAndCap(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	for attempt, base := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		base *= time.Millisecond
		var seen []time.Duration
		for range 200 {
			d := backoff(lo, hi, attempt, nil)
			if d < base/2 || d > base {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, base/2, base)
			}
			seen = append(seen, d)
		}
		distinct := map[time.Duration]bool{}
		for _, d := range seen {
			distinct[d] = true
		}
		if len(distinct) < 50 {
			t.Fatalf("attempt %d: only %d distinct waits in 200: no jitter", attempt, len(distinct))
		}
	}
	resp := &http.Response{Header: http.Header{"Retry-After": {"7"}}}
	if d := backoff(lo, hi, 0, resp); d != 7*time.Second {
		t.Fatalf("Retry-After 7 gave %v", d)
	}
	if d := backoff(0, 0, 3, nil); d != 0 {
		t.Fatalf("retry_wait 0 gave %v", d)
	}
}

func TestNextLink(t *testing.T) {
	cases := []struct {
		headers []string
		want    string
	}{
		{[]string{`<https://api.example.com/items?page=2>; rel="next"`}, "https://api.example.com/items?page=2"},
		{[]string{`<https://x/1>; rel="prev", <https://x/3>; rel="next", <https://x/9>; rel="last"`}, "https://x/3"},
		{[]string{`<https://x/a,b>; rel=next`}, "https://x/a,b"},                             // token value, comma inside the URI
		{[]string{`<https://x/2>; rel="prefetch next"`}, "https://x/2"},                      // a list of relations
		{[]string{`<https://x/2>; REL="Next"`}, "https://x/2"},                               // case-insensitive
		{[]string{`<https://x/1>; title="a, \"quoted\"; rel=next"; rel="prev"`}, ""},         // rel inside a quoted title
		{[]string{`<https://x/1>; rel="first"`, `<https://x/2>; rel="next"`}, "https://x/2"}, // several fields
		{[]string{`</items?page=3>; rel="next"; title="page 3"`}, "/items?page=3"},           // relative
		{[]string{`<https://x/1>; rel="prev"; rel="next"`}, ""},                              // only the first rel counts
		{[]string{`garbage, <https://x/5>; rel="next"`}, "https://x/5"},
		{[]string{""}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		got, ok := nextLink(c.headers)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("nextLink(%q) = %q, %v; want %q", c.headers, got, ok, c.want)
		}
	}
}

func FuzzLinkHeader(f *testing.F) {
	for _, s := range []string{`<https://x/3>; rel="next"`, `<a>; rel=next, <b>; rel="prev"`, `<https://x/1>; title="a, \"q\""; rel=next`, `<`, `;;,,"<>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		for _, l := range parseLinks(h) {
			if strings.ContainsAny(l.target, "<>") {
				t.Fatalf("target %q of %q holds an angle bracket", l.target, h)
			}
		}
		nextLink([]string{h})
	})
}

func TestShownURLMasksSecrets(t *testing.T) {
	c := newClient(&HTTPClient{Auth: Auth{Type: "api_key", In: "query", Name: "k"}}, 1)
	c.secrets = []string{"s3cret"}
	c.auth.Key = c.cfg.Auth.Key
	u, _ := parseHTTPURL("https://user:pw@api.example.com/p?k=abc&access_token=tokval&x=s3cret&plain=1&path=/a/s3cret")
	got := c.shownURL(u)
	for _, leaked := range []string{"pw", "abc", "tokval", "s3cret"} {
		if strings.Contains(got, leaked) {
			t.Fatalf("%q shows %q", got, leaked)
		}
	}
	if !strings.Contains(got, "plain=1") || !strings.Contains(got, "user@api.example.com") {
		t.Fatalf("%q lost what is not secret", got)
	}
}

func TestJSONStringEncoding(t *testing.T) {
	got := string(jsontext.AppendString(nil, "a\"b\\c\n\t\x01é\xff日"))
	want := `"a\"b\\c\n\t\u0001é\ufffd日"`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := string(appendJSONFloat(nil, 1e21)); got != "1e+21" {
		t.Fatalf("1e21: %s", got)
	}
	if got := []string{string(appendJSONFloat(nil, 0.1)), string(appendJSONFloat(nil, -3))}; !reflect.DeepEqual(got, []string{"0.1", "-3"}) {
		t.Fatalf("floats: %v", got)
	}
}
