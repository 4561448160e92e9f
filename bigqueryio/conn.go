package bigqueryio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/httptransport"
	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/open-stage/openstage"
)

// EmulatorHostEnv names the environment variable that points both stages
// at a BigQuery-compatible server instead of Google's: host:port, plain
// HTTP, no credentials (the convention of Google's emulators).
const EmulatorHostEnv = "BIGQUERY_EMULATOR_HOST"

// Conn is the connection block both stages share: which project is billed,
// where jobs run and how the stage authenticates.
type Conn struct {
	ProjectID       string           `param:"project_id" required:"true" doc:"Google Cloud project that runs (and is billed for) the jobs."`
	Location        string           `param:"location" doc:"Location where jobs run (US, EU, europe-west1, ...); default: where the datasets are."`
	CredentialsPath string           `param:"credentials_path" path:"true" doc:"A service-account key file (JSON). Default: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, then gcloud's file, then the metadata server)."`
	CredentialsJSON openstage.Secret `param:"credentials_json" doc:"The content of a service-account key (JSON), typically ${env:NAME}; never shown in messages, logs or summaries. An alternative to credentials_path."`
	Endpoint        string           `param:"endpoint" doc:"Base URL of a BigQuery-compatible server, such as http://127.0.0.1:9050 (then no credentials are needed unless credentials_path is set). BIGQUERY_EMULATOR_HOST=host:port does the same for every stage."`

	// credsSource says where the credentials came from, for messages.
	credsSource string
	transport   *http.Transport
}

// connect returns a client for the stage's connection: to the endpoint or
// emulator if one is set, otherwise to Google with the credentials found.
// The client's HTTP transport is the stage's own, so that disconnect can
// close its connections.
func (c *Conn) connect(ctx context.Context) (*bigquery.Client, error) {
	if c.CredentialsPath != "" && !c.CredentialsJSON.IsZero() {
		return nil, fmt.Errorf("credentials_path and credentials_json are both set; give the key one way only")
	}
	var opts []option.ClientOption
	endpoint, fromEnv := c.Endpoint, false
	if endpoint == "" && os.Getenv(EmulatorHostEnv) != "" {
		endpoint, fromEnv = os.Getenv(EmulatorHostEnv), true
	}
	if endpoint != "" {
		base, err := endpointURL(endpoint)
		if err != nil {
			if fromEnv {
				return nil, fmt.Errorf("%s=%q: %v", EmulatorHostEnv, endpoint, err)
			}
			return nil, fmt.Errorf("endpoint %q: %v", endpoint, err)
		}
		opts = append(opts, option.WithEndpoint(base))
		c.credsSource = "none (endpoint " + base + ")"
		if fromEnv {
			c.credsSource = "none (" + EmulatorHostEnv + ")"
		}
	}
	var creds *auth.Credentials
	switch {
	case !c.CredentialsJSON.IsZero():
		cr, err := keyCredentials([]byte(c.CredentialsJSON.Reveal()), "credentials_json")
		if err != nil {
			return nil, err
		}
		creds, c.credsSource = cr, "credentials_json"
	case c.CredentialsPath != "":
		data, err := readKeyFile(c.CredentialsPath)
		if err != nil {
			return nil, err
		}
		cr, err := keyCredentials(data, fmt.Sprintf("credentials_path '%s'", c.CredentialsPath))
		if err != nil {
			return nil, err
		}
		creds, c.credsSource = cr, "credentials_path "+c.CredentialsPath
	case endpoint == "":
		cr, source, err := defaultCredentials()
		if err != nil {
			return nil, err
		}
		creds, c.credsSource = cr, source
	}
	c.transport = http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: c.transport}
	if creds != nil {
		var err error
		hc, err = httptransport.NewClient(&httptransport.Options{Credentials: creds, BaseRoundTripper: c.transport})
		if err != nil {
			return nil, fmt.Errorf("setting up the credentials from %s: %s", c.credsSource, safeAuthMessage(err))
		}
	}
	opts = append(opts, option.WithHTTPClient(hc))
	client, err := bigquery.NewClient(ctx, c.ProjectID, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to BigQuery: %w", err)
	}
	client.Location = c.Location
	return client, nil
}

// disconnect closes a client made by connect and its connections.
func (c *Conn) disconnect(client *bigquery.Client) error {
	err := client.Close()
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	return err
}

// endpointURL turns an endpoint (a URL, or host:port) into the client's
// base path, ending in /bigquery/v2/ unless a path was given.
func endpointURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("not a URL or host:port; write it like http://127.0.0.1:9050")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/bigquery/v2/"
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// readKeyFile reads a key file, with errors that say what to do.
func readKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("credentials_path '%s' does not exist; give the path of a service-account key file (JSON), or leave credentials_path out to use Application Default Credentials%s", path, adcHelp)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("credentials_path '%s' cannot be read: permission denied", path)
		}
		return nil, fmt.Errorf("credentials_path '%s' cannot be read: %v", path, errors.Unwrap(err))
	}
	return data, nil
}

// keyCredentials makes credentials of a key's JSON; what names the key in
// messages, which never quote its content.
func keyCredentials(data []byte, what string) (*auth.Credentials, error) {
	typ, err := credentialsType(data, what)
	if err != nil {
		return nil, err
	}
	creds, err := credentials.NewCredentialsFromJSON(credentials.CredType(typ), data, &credentials.DetectOptions{Scopes: []string{bigquery.Scope}})
	if err != nil {
		return nil, fmt.Errorf("%s cannot be used: %s%s", what, safeAuthMessage(err), adcHelp)
	}
	return creds, nil
}

// credentialsType checks that data is a Google credentials file of a kind
// the stages use and returns its type. what names it in messages; nothing
// of the content is ever put in one.
func credentialsType(data []byte, what string) (option.CredentialsType, error) {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &head) != nil {
		return "", fmt.Errorf("%s is not a JSON credentials file; use the JSON key of a service account (Cloud console: IAM > Service accounts > Keys > Add key > JSON)", what)
	}
	switch t := option.CredentialsType(head.Type); t {
	case option.ServiceAccount, option.AuthorizedUser, option.ExternalAccount, option.ImpersonatedServiceAccount:
		return t, nil
	case "":
		return "", fmt.Errorf("%s has no \"type\" field: it is not a Google credentials file; use the JSON key of a service account", what)
	}
	return "", fmt.Errorf("%s holds credentials of type %q, which BigQuery stages do not use; use a service-account key (type service_account)", what, head.Type)
}

const adcHelp = `. To provide credentials:
  - set credentials_path: /path/to/service-account.json on the stage, or
  - export GOOGLE_APPLICATION_CREDENTIALS=/path/to/service-account.json, or
  - run: gcloud auth application-default login
To use a local BigQuery-compatible server instead, set endpoint: (or ` + EmulatorHostEnv + `=host:port)`

// defaultCredentials finds Application Default Credentials; when there are
// none, the error says where it looked and how to provide them (the seed's
// troubleshooting answer).
func defaultCredentials() (*auth.Credentials, string, error) {
	var source string
	if env := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"); env != "" {
		if _, err := os.Stat(env); err != nil {
			return nil, "", fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS is set to '%s', which does not exist; point it at a service-account key file (JSON), or unset it%s", env, adcHelp)
		}
		data, err := os.ReadFile(env)
		if err != nil {
			return nil, "", fmt.Errorf("GOOGLE_APPLICATION_CREDENTIALS is set to '%s', which cannot be read: %v", env, errors.Unwrap(err))
		}
		if _, err := credentialsType(data, fmt.Sprintf("GOOGLE_APPLICATION_CREDENTIALS '%s'", env)); err != nil {
			return nil, "", err
		}
		source = "GOOGLE_APPLICATION_CREDENTIALS (" + env + ")"
	} else if _, err := os.Stat(gcloudFile()); err == nil {
		source = "gcloud's Application Default Credentials file " + gcloudFile()
	}
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{Scopes: []string{bigquery.Scope}})
	if err != nil {
		if source == "" {
			return nil, "", fmt.Errorf("no Google Cloud credentials found. Looked in: credentials_path (not set); GOOGLE_APPLICATION_CREDENTIALS (not set); gcloud's Application Default Credentials file %s (not found); the metadata server (not running on Google Cloud)%s", gcloudFile(), adcHelp)
		}
		return nil, "", fmt.Errorf("the credentials in %s cannot be used: %s%s", source, safeAuthMessage(err), adcHelp)
	}
	if source == "" {
		source = "the metadata server"
	}
	return creds, source, nil
}

// gcloudFile is where `gcloud auth application-default login` writes.
func gcloudFile() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("APPDATA"), "gcloud", "application_default_credentials.json")
	}
	home := os.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
}

// safeAuthMessage is an authentication error's text without any response
// body or key material: the error code and description only.
func safeAuthMessage(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		if ae.Response != nil {
			msg := fmt.Sprintf("the token service answered %s", ae.Response.Status)
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if json.Unmarshal(ae.Body, &body) == nil && body.Error != "" {
				msg += fmt.Sprintf(" (%s", body.Error)
				if body.Description != "" {
					msg += ": " + body.Description
				}
				msg += ")"
			}
			return msg
		}
	}
	msg := err.Error()
	if i := strings.Index(msg, "\nResponse:"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// apiError rewrites an error of a BigQuery call: the service's own message,
// and for refused credentials where they came from and what to do.
func (c *Conn) apiError(err error) error {
	if err == nil {
		return nil
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("the credentials from %s were refused: %s; check that the key is valid and not deleted or disabled%s", c.credsSource, safeAuthMessage(err), adcHelp)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		msg := ge.Message
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d %s", ge.Code, http.StatusText(ge.Code))
		}
		switch ge.Code {
		case 401:
			return fmt.Errorf("BigQuery refused the credentials from %s: %s%s", c.credsSource, msg, adcHelp)
		case 403:
			return fmt.Errorf("BigQuery denied access with the credentials from %s: %s; grant the account the roles it needs on project '%s' (BigQuery Job User, and BigQuery Data Viewer or Data Editor on the dataset)", c.credsSource, msg, c.ProjectID)
		}
		return &bqError{code: ge.Code, reason: reason(ge), msg: msg}
	}
	var be *bigquery.Error
	if errors.As(err, &be) {
		return &bqError{reason: be.Reason, msg: be.Message}
	}
	return err
}

func reason(ge *googleapi.Error) string {
	if len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
	}
	return ""
}

// bqError is an error BigQuery answered, in its own words.
type bqError struct {
	code   int
	reason string
	msg    string
}

func (e *bqError) Error() string { return "BigQuery: " + e.msg }
