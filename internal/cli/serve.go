package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/open-stage/openstage"
	"github.com/open-stage/openstage/internal/serve"
)

func serveCmd(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveContext(ctx, args, stdout, stderr)
}

// serveContext is openstage serve until ctx is cancelled.
func serveContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on; anything but a loopback address needs --auth-token")
	token := fs.String("auth-token", "", "token every request must carry (Authorization: Bearer TOKEN, or the login form); default $OPENSTAGE_SERVE_TOKEN")
	state := fs.String("state", "", "folder of the run history (default DIR/.openstage)")
	maxRuns := fs.Int("max-runs", 2, "runs at once; later ones wait in a queue")
	memLimit := fs.String("memory-limit", "", "memory limit of each run, e.g. 512MB (default: half of the machine's memory divided by --max-runs)")
	pos, err := parse(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "openstage serve: %v\n", err)
		return ExitInvalid
	}
	if len(pos) > 1 {
		fmt.Fprintf(stderr, "openstage serve: give at most one folder, got %d\n", len(pos))
		return ExitInvalid
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	if *token == "" {
		*token = os.Getenv("OPENSTAGE_SERVE_TOKEN")
	}
	if *maxRuns < 1 {
		fmt.Fprintf(stderr, "openstage serve: --max-runs must be 1 or more, got %d\n", *maxRuns)
		return ExitInvalid
	}
	if !loopbackAddr(*addr) && *token == "" {
		fmt.Fprintf(stderr, "openstage serve: --addr %s is not a loopback address: anyone who can reach it could run jobs; give --auth-token TOKEN (or set OPENSTAGE_SERVE_TOKEN), or listen on 127.0.0.1\n", *addr)
		return ExitInvalid
	}
	if *token != "" && len(*token) < 16 {
		fmt.Fprintf(stderr, "openstage serve: --auth-token is too short to protect anything: use at least 16 characters (e.g. openssl rand -hex 24)\n")
		return ExitInvalid
	}
	var limit int64
	if *memLimit != "" {
		if limit, err = ParseSize(*memLimit); err != nil {
			fmt.Fprintf(stderr, "openstage serve: --memory-limit: %v\n", err)
			return ExitInvalid
		}
	}
	srv, err := serve.New(serve.Options{Dir: dir, StateDir: *state, MaxRuns: *maxRuns, MemoryLimit: limit, AuthToken: *token, Version: version(),
		Overwrite: func(job *openstage.Job, logger *slog.Logger) { Overwrite(job, nil, logger) }})
	if err != nil {
		fmt.Fprintf(stderr, "openstage serve: %v\n", err)
		return ExitInvalid
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		fmt.Fprintf(stderr, "openstage serve: %v\n", err)
		return ExitInvalid
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(slog.NewTextHandler(stderr, nil), slog.LevelWarn)}
	url := "http://" + ln.Addr().String() + "/"
	if host, port, _ := net.SplitHostPort(ln.Addr().String()); host == "::" || host == "0.0.0.0" {
		url = "http://localhost:" + port + "/"
	}
	fmt.Fprintf(stdout, "Open-Stage Director at %s\n  jobs under %s, run history in %s, at most %d runs at once", url, srv.Root(), srv.StateDir(), *maxRuns)
	if *token != "" {
		fmt.Fprint(stdout, ", auth token required")
	}
	fmt.Fprintln(stdout, "\n  Ctrl-C stops it (running jobs are cancelled, nothing they wrote is committed)")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "openstage serve: stopping")
	// Stop first: it ends the event streams and cancels the runs, which
	// Shutdown would otherwise wait for; then close the history.
	srv.Stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	cerr := srv.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "openstage serve: %v\n", err)
		return ExitFailed
	}
	if cerr != nil {
		fmt.Fprintf(stderr, "openstage serve: %v\n", cerr)
		return ExitFailed
	}
	return ExitOK
}

// loopbackAddr reports whether a listen address is a loopback one
// (127.0.0.0/8, ::1 or localhost); an empty host (":8080") is every
// address, not a loopback one.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
