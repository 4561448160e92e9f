package restio_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/restio"
)

// guarded serves three pages of records to requests that pass ok, and 401
// to the others.
func guarded(t *testing.T, ok func(r *http.Request) bool) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+"|"+r.URL.RawQuery)
		mu.Unlock()
		if !ok(r) {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p > 3 {
			w.Write([]byte(`[]`))
			return
		}
		w.Write([]byte(`[{"id":` + strconv.Itoa(p) + `}]`))
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func readPages(t *testing.T, url string, auth restio.Auth) {
	t.Helper()
	_, res := read(t, origin(func(o *restio.APIRestOrigin) {
		o.URL = url
		o.Pagination = pagination("page")
		o.Auth = auth
	}))
	if got := column(t, res, "id"); !reflect.DeepEqual(got, ids(3)) {
		t.Fatalf("ids %v", got)
	}
}

func TestAuthStyles(t *testing.T) {
	t.Run("bearer", func(t *testing.T) {
		srv, _ := guarded(t, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer b-token" })
		readPages(t, srv.URL, restio.Auth{Type: "bearer", Token: openstage.NewSecret("b-token")})
	})
	t.Run("basic", func(t *testing.T) {
		srv, _ := guarded(t, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "ana" && p == "p@ss:word"
		})
		readPages(t, srv.URL, restio.Auth{Type: "basic", Username: "ana", Password: openstage.NewSecret("p@ss:word")})
	})
	t.Run("api_key_header", func(t *testing.T) {
		srv, _ := guarded(t, func(r *http.Request) bool { return r.Header.Get("X-Key") == "k1" })
		readPages(t, srv.URL, restio.Auth{Type: "api_key", Key: openstage.NewSecret("k1"), In: "header", Name: "X-Key"})
	})
	t.Run("api_key_query", func(t *testing.T) {
		srv, _ := guarded(t, func(r *http.Request) bool { return r.URL.Query().Get("apikey") == "k2" })
		readPages(t, srv.URL, restio.Auth{Type: "api_key", Key: openstage.NewSecret("k2"), In: "query", Name: "apikey"})
	})
	t.Run("wrong_basic_password", func(t *testing.T) {
		srv, seen := guarded(t, func(r *http.Request) bool { _, p, _ := r.BasicAuth(); return p == "right" })
		err := runErr(t, origin(func(o *restio.APIRestOrigin) {
			o.URL = srv.URL
			o.Auth = restio.Auth{Type: "basic", Username: "ana", Password: openstage.NewSecret("wrong-one")}
		}))
		if len(*seen) != 1 || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "wrong-one") {
			t.Fatalf("%d requests, error %q", len(*seen), err)
		}
	})
}

// tokenServer is an OAuth2 token endpoint for client credentials that
// issues tok-1, tok-2, ... valid for lifetime.
type tokenServer struct {
	mu       sync.Mutex
	issued   map[string]time.Time // token → expiry
	last     string
	lifetime time.Duration
	requests int
	scopes   []string
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.requests++
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	if !ok || id != "cid" || secret != "csecret" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	ts.scopes = strings.Fields(r.Form.Get("scope"))
	tok := "tok-" + strconv.Itoa(ts.requests)
	if ts.issued == nil {
		ts.issued = map[string]time.Time{}
	}
	ts.issued[tok] = time.Now().Add(ts.lifetime)
	ts.last = tok
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(ts.lifetime / time.Second)})
}

// valid reports whether the request carries an unexpired token.
func (ts *tokenServer) valid(r *http.Request) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	exp, ok := ts.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return ok && time.Now().Before(exp)
}

func TestOAuth2ClientCredentials(t *testing.T) {
	auth := func(tokenURL, secret string) restio.Auth {
		return restio.Auth{Type: "oauth2", TokenURL: tokenURL, ClientID: "cid", ClientSecret: openstage.NewSecret(secret), Scopes: []string{"read:users", "read:orders"}}
	}
	t.Run("one_token_reused", func(t *testing.T) {
		ts := &tokenServer{lifetime: time.Hour}
		tsrv := httptest.NewServer(ts)
		defer tsrv.Close()
		srv, seen := guarded(t, ts.valid)
		readPages(t, srv.URL, auth(tsrv.URL, "csecret"))
		if ts.requests != 1 || !reflect.DeepEqual(ts.scopes, []string{"read:users", "read:orders"}) {
			t.Fatalf("%d token requests, scopes %v", ts.requests, ts.scopes)
		}
		for _, s := range *seen {
			if !strings.HasPrefix(s, "Bearer tok-1|") {
				t.Fatalf("requests carried %v", *seen)
			}
		}
	})
	t.Run("refreshed_on_expiry", func(t *testing.T) {
		// A token of one second expires, for the client, at once
		// (golang.org/x/oauth2 renews tokens 10s before they expire): each
		// page needs a new one, and the API accepts only unexpired tokens.
		ts := &tokenServer{lifetime: time.Second}
		tsrv := httptest.NewServer(ts)
		defer tsrv.Close()
		srv, seen := guarded(t, ts.valid)
		readPages(t, srv.URL, auth(tsrv.URL, "csecret"))
		if ts.requests != 4 {
			t.Fatalf("%d token requests for 4 pages", ts.requests)
		}
		tokens := map[string]bool{}
		for _, s := range *seen {
			tokens[strings.Split(s, "|")[0]] = true
		}
		if len(tokens) != 4 {
			t.Fatalf("requests carried %v", *seen)
		}
	})
	t.Run("refused_client_fails_at_once", func(t *testing.T) {
		ts := &tokenServer{lifetime: time.Hour}
		tsrv := httptest.NewServer(ts)
		defer tsrv.Close()
		srv, seen := guarded(t, ts.valid)
		err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = srv.URL; o.Auth = auth(tsrv.URL, "not-the-secret") }))
		// golang.org/x/oauth2 tries the credentials in a header, then in the
		// form (auto-detection); nothing is retried beyond that.
		if ts.requests != 2 || len(*seen) != 0 {
			t.Fatalf("%d token requests, %d API requests", ts.requests, len(*seen))
		}
		for _, want := range []string{"the OAuth2 token endpoint answered HTTP 401", "invalid_client", "check client_id and client_secret"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "not-the-secret") {
			t.Fatalf("the error shows the secret: %q", err)
		}
	})
}

func TestAuthParametersChecked(t *testing.T) {
	cases := map[string]restio.Auth{
		"auth: type bearer needs token":          {Type: "bearer"},
		"auth: type basic needs username":        {Type: "basic"},
		"auth: type api_key needs key":           {Type: "api_key"},
		"auth: type oauth2 needs token_url":      {Type: "oauth2"},
		"auth: type oauth2 needs client_secret":  {Type: "oauth2", TokenURL: "http://x/t", ClientID: "c"},
		"auth: token_url: 'ftp://x' is not an h": {Type: "oauth2", TokenURL: "ftp://x", ClientID: "c", ClientSecret: openstage.NewSecret("s")},
	}
	for want, a := range cases {
		err := runErr(t, origin(func(o *restio.APIRestOrigin) { o.URL = "http://127.0.0.1:1/"; o.Auth = a }))
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q lacks %q", err, want)
		}
	}
}
