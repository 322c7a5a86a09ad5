package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/runtimeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// The real reconcile binary, built as deployed, against a fake Lambda
// Runtime API, invoked with a scheduled event.

const scheduledEvent = `{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events",
"account":"123456789012","time":"2026-12-02T04:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/r"],"detail":{}}`

var baseEnv = []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y",
	"STATE_MACHINE_ARN=arn:aws:states:us-east-1:123456789012:stateMachine:copy", "SOURCE_BUCKETS=restore"}

func TestReconcileFunction(t *testing.T) {
	binary := runtimeapi.BuildFunction(t, "./functions/reconcile") // once: it takes seconds
	t.Run("database down", func(t *testing.T) { sweepWithDatabaseDown(t, binary) })
	t.Run("nothing stuck", func(t *testing.T) { sweepWithNothingStuck(t, binary) })
}

// A database that is down makes the sweep fail with SweepError (the
// schedule's next sweep tries again), without the password in the logs.
func sweepWithDatabaseDown(t *testing.T, binary string) {
	dbURL := fmt.Sprintf("postgres://druser:s3cret-pw@127.0.0.1:%d/dr?sslmode=disable", pgtest.ClosedPort(t))
	got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
		Event: []byte(scheduledEvent), Env: append([]string{"DATABASE_URL=" + dbURL}, baseEnv...)})
	if got.Error == nil || got.Error.ErrorType != "SweepError" || !strings.Contains(got.Error.ErrorMessage, "list stuck rows") {
		t.Errorf("reported %+v; want errorType SweepError saying the listing failed\nlogs:\n%s", got.Error, got.Logs)
	}
	if strings.Contains(got.Logs, "s3cret-pw") || (got.Error != nil && strings.Contains(got.Error.ErrorMessage, "s3cret-pw")) {
		t.Errorf("the password appears in the logs or the error:\n%s", got.Logs)
	}
}

// With nothing stuck, a sweep reports zeros and writes its metrics line.
func sweepWithNothingStuck(t *testing.T, binary string) {
	url, _ := pgtest.Schema(t, "reconcile_fn")
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := requeststatus.ApplySchema(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	got := runtimeapi.InvokeFunction(t, binary, runtimeapi.Invocation{
		Event: []byte(scheduledEvent), Env: append([]string{"DATABASE_URL=" + url}, baseEnv...)})
	if got.Error != nil {
		t.Fatalf("error %+v\nlogs:\n%s", got.Error, got.Logs)
	}
	var rep struct{ Stuck, Started int }
	if err := json.Unmarshal(got.Response, &rep); err != nil || rep.Stuck != 0 || rep.Started != 0 {
		t.Errorf("response %s (%v), want a report of nothing stuck", got.Response, err)
	}
	if !strings.Contains(got.Logs, `"StuckFiles":0`) || !strings.Contains(got.Logs, `"Function":"reconcile"`) {
		t.Errorf("no StuckFiles metric line in the logs:\n%s", got.Logs)
	}
}
