package bigqueryio

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/bqtest"
)

// validate plans a job of one origin (whose Plan connects) and returns the
// error.
func validate(t *testing.T, conn Conn) error {
	t.Helper()
	o := openstage.New("reader", func(o *GCPBigQueryOrigin) { o.Conn = conn; o.Query = "SELECT 1" })
	dst := openstage.NewStage("sink", &discard{})
	connect(o, dst)
	job := openstage.NewJob("test", o, dst)
	err := job.Validate(context.Background())
	if c, ok := o.Component().(*GCPBigQueryOrigin); ok {
		c.Close()
	}
	return err
}

type discard struct{}

func (discard) Plan(context.Context, *openstage.Plan) error { return nil }
func (discard) Sink(ctx context.Context, in *openstage.Inputs) error {
	return in.ForEach(ctx, func(openstage.DataPackage) error { return nil })
}

// noADC removes every source of Application Default Credentials.
func noADC(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv(EmulatorHostEnv, "")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	os.Unsetenv("GOOGLE_APPLICATION_CREDENTIALS")
	os.Unsetenv(EmulatorHostEnv)
	return home
}

// The seed's troubleshooting answer: where credentials were looked for and
// how to provide them.
func TestMissingCredentials(t *testing.T) {
	home := noADC(t)
	err := validate(t, Conn{ProjectID: "p"})
	if err == nil {
		t.Fatal("no credentials and no endpoint validated")
	}
	for _, want := range []string{
		"GCPBigQueryOrigin 'reader': no Google Cloud credentials found. Looked in: credentials_path (not set); GOOGLE_APPLICATION_CREDENTIALS (not set); gcloud's Application Default Credentials file " + filepath.Join(home, ".config/gcloud/application_default_credentials.json") + " (not found); the metadata server (not running on Google Cloud)",
		"set credentials_path: /path/to/service-account.json on the stage",
		"export GOOGLE_APPLICATION_CREDENTIALS=/path/to/service-account.json",
		"gcloud auth application-default login",
		"set endpoint: (or BIGQUERY_EMULATOR_HOST=host:port)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%s\ndoes not contain\n%s", err, want)
		}
	}
}

func TestBadCredentialFiles(t *testing.T) {
	noADC(t)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "key.txt")
	os.WriteFile(notJSON, []byte("SECRET-MATERIAL-abc123"), 0o600)
	noType := filepath.Join(dir, "notype.json")
	os.WriteFile(noType, []byte(`{"private_key": "SECRET-MATERIAL-abc123"}`), 0o600)
	for _, tc := range []struct {
		conn Conn
		want string
	}{
		{Conn{ProjectID: "p", CredentialsPath: filepath.Join(dir, "missing.json")}, "credentials_path '" + filepath.Join(dir, "missing.json") + "' does not exist; give the path of a service-account key file (JSON)"},
		{Conn{ProjectID: "p", CredentialsPath: notJSON}, "credentials_path '" + notJSON + "' is not a JSON credentials file"},
		{Conn{ProjectID: "p", CredentialsPath: noType}, "has no \"type\" field"},
		{Conn{ProjectID: "p", CredentialsJSON: openstage.NewSecret("SECRET-MATERIAL-abc123")}, "credentials_json is not a JSON credentials file"},
		{Conn{ProjectID: "p", CredentialsJSON: openstage.NewSecret("{}"), CredentialsPath: noType}, "credentials_path and credentials_json are both set"},
	} {
		err := validate(t, tc.conn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v\nwant %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET-MATERIAL") {
			t.Errorf("the error shows the key's content: %v", err)
		}
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "gone.json"))
	if err := validate(t, Conn{ProjectID: "p"}); err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS is set to '"+filepath.Join(dir, "gone.json")+"', which does not exist") {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS to a missing file: %v", err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", notJSON)
	if err := validate(t, Conn{ProjectID: "p"}); err == nil || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS '"+notJSON+"' is not a JSON credentials file") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("GOOGLE_APPLICATION_CREDENTIALS to a bad file: %v", err)
	}
}

// serviceAccountKey writes a service-account key whose token endpoint is
// tokenURL, and returns its path and content.
func serviceAccountKey(t *testing.T, tokenURL string) (string, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	key := map[string]string{
		"type": "service_account", "project_id": "p", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "loader@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": tokenURL,
	}
	b, _ := json.Marshal(key)
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(b)
}

// Credentials that the token service refuses, or that BigQuery refuses,
// give an error that says where they came from, and never shows the key.
func TestRefusedCredentials(t *testing.T) {
	noADC(t)
	var grant bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !grant {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}`)
			return
		}
		fmt.Fprint(w, `{"access_token": "token-xyz", "token_type": "Bearer", "expires_in": 3600}`)
	}))
	defer tokens.Close()
	path, content := serviceAccountKey(t, tokens.URL)
	srv := bqtest.New(bqtest.Options{Authorize: func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer token-xyz" {
			return errors.New("(no token)")
		}
		return errors.New("(the token was revoked)")
	}})
	defer srv.Close()
	check := func(err error, wants ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("refused credentials validated")
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error\n%v\ndoes not contain %q", err, w)
			}
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "token-xyz") {
			t.Errorf("the error shows key material: %v", err)
		}
	}
	check(validate(t, Conn{ProjectID: "p", Endpoint: srv.URL(), CredentialsPath: path}),
		"the credentials from credentials_path "+path+" were refused: the token service answered 400 Bad Request (invalid_grant: Invalid JWT Signature.); check that the key is valid and not deleted or disabled")
	check(validate(t, Conn{ProjectID: "p", Endpoint: srv.URL(), CredentialsJSON: openstage.NewSecret(content)}),
		"the credentials from credentials_json were refused")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	grant = true
	check(validate(t, Conn{ProjectID: "p", Endpoint: srv.URL(), CredentialsPath: path}),
		"BigQuery refused the credentials from credentials_path "+path+": Request had invalid authentication credentials.", "(the token was revoked)", "gcloud auth application-default login")
}
