// Command recovery shows operators where restored files stand and re-runs
// the ones that need it:
//
//	go run ./cmd/recovery status [--request-group ID] [--granule ID] [--since DURATION]
//	                             [--json | --watch [--interval DURATION]] [flags]
//	go run ./cmd/recovery rerun  [--request-group ID] [--granule ID] [--since DURATION]
//	                             [--failed] [--stuck] [--grace DURATION] [--dry-run]
//	                             [--state-machine-arn ARN] [flags]
//	go run ./cmd/recovery create-indexes [--check]
//
// `recovery COMMAND --help` lists every flag. The database is reached as
// the functions reach it: DATABASE_URL, or DATABASE_NAME, DATABASE_USER and
// the SSM parameters of the host and password (DATABASE_HOST_PARAMETER,
// DATABASE_PASSWORD_PARAMETER). S3 and Step Functions use the default AWS
// configuration (AWS_PROFILE, AWS_REGION or --region, AWS_ENDPOINT_URL_S3,
// ...). To re-run on the local runner's engine and services instead of
// Step Functions, use `go run ./cmd/local rerun` (rerun's flags): this
// command links no development package. Exit status: 0 done, 1 some file could not be
// handled or checked (or, after status --watch, ended in error), 2 bad
// usage, 130 status --watch stopped by Ctrl-C.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit((&recovery.CLI{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}).Main(ctx, os.Args[1:]))
}
