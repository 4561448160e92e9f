// Command openstage is the openstage command with the Apache Beam runners:
// run --runner prism|dataflow|flink|spark. Build it from the repository's
// root with
//
//	go -C beam build -o ../openstage ./cmd/openstage
//
// The same binary is the Beam worker that Dataflow, Flink and Spark start
// with --worker.
package main

import (
	"flag"
	"os"
	"strings"

	beamsdk "github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/open-stage/openstage/beam"
	"github.com/open-stage/openstage/internal/cli"
)

func main() {
	for _, a := range os.Args[1:] {
		if a == "--worker" || strings.HasPrefix(a, "--worker=") || a == "-worker" {
			// Started by a runner as its SDK harness: serve it.
			flag.Parse()
			beamsdk.Init()
			return
		}
	}
	beam.Register()
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
