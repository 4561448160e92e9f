// Command openstage runs, validates and draws Open-Stage job files.
//
//	openstage run JOB.yaml [--param k=v ...]
//	openstage validate JOB.yaml
//	openstage stages [TYPE]
//	openstage graph JOB.yaml --format mermaid|dot
//	openstage version
package main

import (
	"os"

	"github.com/open-stage/openstage/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
