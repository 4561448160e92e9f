// Command bqtest runs the local BigQuery-compatible test server of package
// internal/bqtest until interrupted, for trying BigQuery jobs by hand:
//
//	go run ./internal/bqtest/cmd/bqtest -addr 127.0.0.1:9050 -dataset my-project:analytics
//	BIGQUERY_EMULATOR_HOST=127.0.0.1:9050 openstage run job.yaml
//
// Everything is held in memory and lost when it stops; see the package
// documentation for what it implements and its limits.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/open-stage/openstage/internal/bqtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9050", "host:port to listen on")
	pageRows := flag.Int("page-rows", 5, "most rows per page of results")
	var datasets []string
	flag.Func("dataset", "PROJECT:DATASET to create at start (repeatable)", func(s string) error {
		if p, d, ok := strings.Cut(s, ":"); !ok || p == "" || d == "" {
			return fmt.Errorf("want PROJECT:DATASET, got %q", s)
		}
		datasets = append(datasets, s)
		return nil
	})
	flag.Parse()
	srv, err := bqtest.Listen(*addr, bqtest.Options{PageRows: *pageRows})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bqtest:", err)
		os.Exit(1)
	}
	for _, s := range datasets {
		p, d, _ := strings.Cut(s, ":")
		if err := srv.CreateDataset(p, d); err != nil {
			fmt.Fprintln(os.Stderr, "bqtest:", err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "bqtest: serving the BigQuery REST API at %s/bigquery/v2/ (BIGQUERY_EMULATOR_HOST=%s)\n", srv.URL(), srv.Host())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Close()
}
