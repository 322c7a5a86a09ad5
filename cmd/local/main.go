// Command local runs the copy workflow on this machine: the state machine
// definition on the aws-local-stepfunctions engine, the Lambdas' own Go
// handlers behind a local Lambda Invoke API, and an S3 server and a Postgres
// (given by AWS_ENDPOINT_URL_S3 / DATABASE_URL, or started here).
//
//	go run ./cmd/local run --event FILE [--json]
//	go run ./cmd/local demo
//	go run ./cmd/local seed --events FILE
//	go run ./cmd/local load --events FILE [--account-concurrency N] [--db-max-connections N] [--json]
//	go run ./cmd/local reconcile [--grace DURATION]
//	go run ./cmd/local rerun [recovery rerun's flags]
//
// The logic lives in internal/localrun (and the packages under it:
// loadsim, execution, stepengine, localservices); this file only wires signals and
// exit status.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
)

func main() {
	// Ctrl-C or SIGTERM cancels the context: the engine and the servers,
	// each in its own process group, are stopped before exiting.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli := &localrun.CLI{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	code := cli.Main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
