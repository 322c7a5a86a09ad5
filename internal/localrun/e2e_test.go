package localrun_test

// End-to-end scenarios: the real definition (statemachine.Render with
// cdk.json's settings) on the real engine (aws-local-stepfunctions under
// Node), the real handlers behind the local Lambda Invoke API, a real S3
// server (versitygw) and a real Postgres (TEST_DATABASE_URL, one schema per
// test). Retry pauses are shortened through the engine's
// retryIntervalOverrides, never by editing the definition.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

const (
	restoreBucket = "my-dr-fake-glacier-bucket" // the bucket the sample events name
	archiveBucket = "my-dr-archive-bucket"
	singleKey     = "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.txt"
)

// harness is one scenario's world: its own S3 server, its own database
// schema, a runner wired to both.
type harness struct {
	t *testing.T
	// engine is the engine running this scenario (stepengine.EngineNode or
	// EngineMoto).
	engine string
	ctx    context.Context
	s3srv  *s3server.Server
	s3     *s3.Client
	db     *pgxpool.Pool
	dbURL  string
	env    map[string]string
	lambda map[string]string
	out    *childproc.Output
	// serverLog is the runner's ServerLog: the embedded servers' output
	// and the runner's notes.
	serverLog *childproc.Output
	runner    *execution.Runner
}

type harnessOptions struct {
	// engine runs the definition: stepengine.EngineNode or EngineMoto; empty
	// takes $LOCAL_E2E_ENGINE (see scenarioEngine), so every scenario runs
	// on the engine `make test` asks for.
	engine    string
	env       map[string]string // extra runner environment (e.g. MAP_MAX_CONCURRENCY)
	lambdaEnv func(h *harness) map[string]string
	// s3: the S3 server, s3server.BackendVersityGW (default) or
	// BackendMoto (storage classes, RestoreObject, versioning).
	s3 string
	// embeddedS3: the runner starts its own S3 server (no
	// AWS_ENDPOINT_URL_S3), as `make local` does; h.s3srv is nil.
	embeddedS3 bool
	// copyTimeout, when positive, is the copy-file function's timeout
	// (each copy invocation's deadline) instead of the deployed 900 s.
	copyTimeout time.Duration
	// versioned: the S3 server keeps versions, and the restore bucket has
	// versioning enabled.
	versioned bool
	// throttleFirst: the Invoke API answers 429 TooManyRequestsException
	// to the first throttleFirst calls of every function, or of those
	// throttleOnly names.
	throttleFirst int
	throttleOnly  []string
}

func newHarness(t *testing.T, opts harnessOptions) *harness {
	t.Helper()
	ctx := context.Background()
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		t.Fatal(err)
	}
	engine := scenarioEngine(t, opts.engine)
	dbURL, _ := pgtest.Schema(t, "e2e") // the runner applies the schema
	h := &harness{t: t, ctx: ctx, engine: engine, dbURL: dbURL, out: &childproc.Output{}, serverLog: &childproc.Output{}}
	h.env = map[string]string{
		"DATABASE_URL":       dbURL,
		"DATABASE_MAX_CONNS": "5",
	}
	if !opts.embeddedS3 {
		backend := opts.s3
		if backend == "" {
			backend = s3server.BackendVersityGW
		}
		var srv *s3server.Server
		if opts.versioned && backend == s3server.BackendVersityGW {
			srv = s3server.StartVersionedForTest(t, restoreBucket, archiveBucket)
		} else {
			srv = s3server.StartBackendForTest(t, backend, restoreBucket, archiveBucket)
		}
		h.s3srv = srv
		h.s3, _ = srv.Client(ctx)
		h.env["AWS_ENDPOINT_URL_S3"] = srv.Endpoint
		h.env["AWS_ACCESS_KEY_ID"] = srv.AccessKey
		h.env["AWS_SECRET_ACCESS_KEY"] = srv.SecretKey
		h.env["AWS_REGION"] = srv.Region
	}
	for k, v := range opts.env {
		h.env[k] = v
	}
	if opts.lambdaEnv != nil {
		h.lambda = opts.lambdaEnv(h)
	}
	runner, err := execution.NewRunner(ctx, execution.Config{
		Engine:     engine,
		RepoRoot:   root,
		Getenv:     func(k string) string { return h.env[k] },
		S3Dir:      t.TempDir(),
		Buckets:    []string{restoreBucket, archiveBucket},
		Out:        h.out,
		ServerLog:  h.serverLog,
		LambdaEnv:  h.lambda,
		LambdaLog:  h.out,
		RetryPause: 20 * time.Millisecond,

		CopyFunctionTimeout: opts.copyTimeout,
		ThrottleFirst:       opts.throttleFirst,
		ThrottleOnly:        opts.throttleOnly,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runner.Close)
	h.runner = runner
	if opts.embeddedS3 {
		h.s3 = runner.Services.S3
	}
	h.db, err = pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.db.Close)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_SHOW_OUTPUT") != "" {
			t.Logf("runner output:\n%s", h.out.String())
		}
	})
	return h
}

// engineEnv names the variable choosing the scenarios' engine: `make test`
// runs the scenarios once per engine, the second time with
// LOCAL_E2E_ENGINE=moto.
const engineEnv = "LOCAL_E2E_ENGINE"

// scenarioEngine returns the engine a scenario runs on: want, else
// $LOCAL_E2E_ENGINE, else the Node engine. Without a usable moto the moto
// runs skip, saying why, and fail under CI=true.
func scenarioEngine(t *testing.T, want string) string {
	t.Helper()
	engine := want
	if engine == "" {
		engine = os.Getenv(engineEnv)
	}
	if engine == "" {
		engine = stepengine.EngineNode
	}
	if engine == stepengine.EngineMoto {
		requireMoto(t)
	}
	return engine
}

var (
	motoOnce sync.Once
	motoErr  error
)

// requireMoto stops the test when the moto engine cannot run here
// (testenv.Unavailable).
func requireMoto(t *testing.T) {
	t.Helper()
	motoOnce.Do(func() { motoErr = stepengine.CheckMoto(context.Background(), "") })
	if motoErr == nil {
		return
	}
	testenv.Unavailable(t, fmt.Sprintf("the moto engine cannot run: %v", motoErr))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// putObject puts body under key in the restore bucket and returns the new
// object's version id (empty without versioning) and ETag, without quotes,
// as events carry it.
func (h *harness) putObject(key string, body []byte) (versionID, etag string) {
	h.t.Helper()
	out, err := h.s3.PutObject(h.ctx, &s3.PutObjectInput{
		Bucket: aws.String(restoreBucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		h.t.Fatalf("put %s: %v", key, err)
	}
	return aws.ToString(out.VersionId), strings.Trim(aws.ToString(out.ETag), `"`)
}

func (h *harness) archived(key string) ([]byte, bool) {
	h.t.Helper()
	out, err := h.s3.GetObject(h.ctx, &s3.GetObjectInput{Bucket: aws.String(archiveBucket), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return b, true
}

// s3Proxy starts a fault proxy with rules in front of the harness's S3
// server, closed with the test; its URL is the endpoint the Lambdas are
// given instead.
func (h *harness) s3Proxy(rules ...*faultproxy.Rule) *faultproxy.Proxy {
	h.t.Helper()
	p, err := faultproxy.New(h.s3srv.Endpoint, rules...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(p.Close)
	return p
}

// openUploads counts the multipart uploads left open in the archive bucket.
func (h *harness) openUploads() int {
	h.t.Helper()
	ups, err := h.s3.ListMultipartUploads(h.ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(archiveBucket)})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(ups.Uploads)
}

func (h *harness) archiveKeys() []string {
	h.t.Helper()
	out, err := h.s3.ListObjectsV2(h.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(archiveBucket)})
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (h *harness) insertJob(key string) jobseed.Row {
	h.t.Helper()
	job, err := jobseed.Insert(h.ctx, h.db, jobseed.Row{
		ObjectKey: key, RestoreBucketDest: restoreBucket, ArchiveBucketDest: archiveBucket,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return job
}

func (h *harness) job(requestID string) jobseed.Row {
	h.t.Helper()
	job, err := jobseed.Read(h.ctx, h.db, requestID)
	if err != nil {
		h.t.Fatal(err)
	}
	return job
}

func (h *harness) run(event []byte) *execution.Result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 3*time.Minute)
	defer cancel()
	res, err := h.runner.Run(ctx, event)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	return res
}

// restoredFile is one object of a hand-built S3 event.
// md5Hex is the hex MD5 of b: the bare eTag an S3 event carries for a
// single-part plaintext object of those bytes.
func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

type restoredFile struct {
	key  string
	size int
	etag string // the event's eTag, as S3 sends it; "" for none
}

// classicEvent returns a classic S3 notification with one
// ObjectRestore:Completed record per file in restoreBucket, each key
// URL-encoded as S3 sends it.
func classicEvent(t *testing.T, files ...restoredFile) []byte {
	t.Helper()
	records := make([]any, 0, len(files))
	for _, f := range files {
		object := map[string]any{"key": url.QueryEscape(f.key), "size": f.size}
		if f.etag != "" {
			object["eTag"] = f.etag
		}
		records = append(records, map[string]any{
			"eventSource": "aws:s3", "eventName": "ObjectRestore:Completed",
			"s3": map[string]any{
				"bucket": map[string]any{"name": restoreBucket},
				"object": object,
			},
		})
	}
	event, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		t.Fatal(err)
	}
	return event
}

// sampleEvents holds the project's sample events (one copy, beside the
// event parser).
var sampleEvents = filepath.Join("..", "..", "shared", "parseevent", "testdata")

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleEvents, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outputResults decodes a succeeded execution's output.
func outputResults(t *testing.T, res *execution.Result) []contract.FileResult {
	t.Helper()
	if !res.Succeeded() {
		t.Fatalf("execution %s: %s: %s", res.Status, res.ErrorName(), res.CauseText())
	}
	var results []contract.FileResult
	if err := json.Unmarshal(res.Output, &results); err != nil {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	return results
}

// failedResults checks that the execution failed with CopyRequestError and
// returns the file results its message lists.
func failedResults(t *testing.T, res *execution.Result) []contract.FileResult {
	t.Helper()
	if res.Succeeded() || res.ErrorName() != "CopyRequestError" {
		t.Fatalf("execution %s with error %q (%s), want FAILED with CopyRequestError", res.Status, res.ErrorName(), res.CauseText())
	}
	results, _, err := aggregate.ParseMessage(res.CauseText())
	if err != nil {
		t.Fatalf("cause %q: %v", res.CauseText(), err)
	}
	return results
}

// rerunInput returns the re-run input a CopyRequestError cause carries.
func rerunInput(t *testing.T, res *execution.Result) []byte {
	t.Helper()
	_, input, err := aggregate.ParseMessage(res.CauseText())
	if err != nil || input == nil {
		t.Fatalf("cause %q has no re-run input (%v)", res.CauseText(), err)
	}
	return input
}

// countEvents counts history events of a type in a state.
func countEvents(res *execution.Result, typ, state string) int {
	n := 0
	for _, ev := range res.History {
		if ev.Type == typ && ev.State != nil && ev.State.Name == state {
			n++
		}
	}
	return n
}

// scheduledRetryCounts returns the retry_count each invocation of a Task
// state was scheduled with, from the moto engine's AWS history events.
func scheduledRetryCounts(t *testing.T, res *execution.Result, state string) []int {
	t.Helper()
	var counts []int
	for _, ev := range res.History {
		var aws struct {
			Type    string `json:"type"`
			Details *struct {
				Input string `json:"input"`
			} `json:"lambdaFunctionScheduledEventDetails"`
		}
		if ev.State == nil || ev.State.Name != state || json.Unmarshal(ev.Raw, &aws) != nil || aws.Details == nil {
			continue
		}
		var in struct {
			RetryCount *int `json:"retry_count"`
		}
		if err := json.Unmarshal([]byte(aws.Details.Input), &in); err != nil || in.RetryCount == nil {
			t.Fatalf("%s scheduled with input %s: no retry_count (%v)", state, aws.Details.Input, err)
		}
		counts = append(counts, *in.RetryCount)
	}
	return counts
}

func ignoreRequestIDs() cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".RequestID" }, cmp.Ignore())
}

// Scenarios 1, 2, 3: files copied byte for byte under their decoded keys,
// rows complete, output lists each file with success.
func TestScenarioCopiesFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event string
		keys  []string
		// sampleETag is the ETag the sample event names for its (only)
		// object; the test puts other bytes, so it writes their ETag in.
		sampleETag string
	}{
		{"1 one file", "s3-records-restore-completed.json", []string{singleKey}, ""},
		{"2 two encoded keys", "s3-records-two-files-encoded-keys.json",
			[]string{"granules/L0A RAD RAW product (1 of 20).h5", "granules/a+b=c café.iso.xml"}, ""},
		{"3 EventBridge shape", "eventbridge-object-restore-completed.json",
			[]string{"dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.hdf"}, "b1946ac92492d2347c6235b4d2611184"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			bodies := map[string][]byte{}
			var jobs []jobseed.Row
			var want []contract.FileResult
			event := readEvent(t, tc.event)
			for i, key := range tc.keys {
				bodies[key] = []byte(fmt.Sprintf("content of file %d, key %q: %s", i, key, randomHex(64)))
				_, etag := h.putObject(key, bodies[key])
				if tc.sampleETag != "" {
					event = bytes.ReplaceAll(event, []byte(tc.sampleETag), []byte(etag))
				}
				job := h.insertJob(key)
				jobs = append(jobs, job)
				want = append(want, contract.FileResult{
					RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key,
					TargetBucket: archiveBucket, Success: true,
				})
			}

			res := h.run(event)

			if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			for _, key := range tc.keys {
				got, ok := h.archived(key)
				if !ok {
					t.Errorf("%q not in the archive bucket", key)
				} else if !bytes.Equal(got, bodies[key]) {
					t.Errorf("%q archived with different bytes", key)
				}
			}
			for _, job := range jobs {
				if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
					t.Errorf("row %s: status %q err_msg %q, want complete without error", job.ObjectKey, got.JobStatus, got.ErrMsg)
				}
			}
			checkEMF(t, h.out.String(), len(tc.keys))
		})
	}
}

// checkEMF checks the functions' EMF lines in the Lambda log of a run that
// copied files in one Express child: FilesCopied from the aggregate
// function, BytesCopied once per file from copy-file, a database latency
// per status call (one find_open_jobs for the child, one record per file);
// it logs the
// bytes per file of the lines carrying metrics (the outcome lines that are
// also EMF documents, metrics.Writer.Log).
func checkEMF(t *testing.T, log string, files int) {
	t.Helper()
	var emfBytes int
	got := map[string]float64{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"_aws":{`) {
			continue
		}
		emfBytes += len(line) + 1
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("EMF line %q: %v", line, err)
		}
		for _, m := range []string{"FilesCopied", "BytesCopied", "DatabaseCallMilliseconds"} {
			if _, ok := l[m].(float64); ok {
				got[l["Function"].(string)+" "+m]++
			}
		}
	}
	want := map[string]float64{"aggregate FilesCopied": 1, "copy-file BytesCopied": float64(files), "request-status DatabaseCallMilliseconds": float64(1 + files)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EMF lines by function and metric (-want +got):\n%s", diff)
	}
	t.Logf("lines with EMF: %d bytes for %d files (%d per file)", emfBytes, files, emfBytes/files)
}

// Scenario: Lambda throttles. The account's concurrency is taken (long
// copies elsewhere), so Lambda refuses the first 5 invocations of every
// function with 429 TooManyRequestsException, which reaches the workflow as
// Lambda.TooManyRequestsException. The parent's and the Standard lane's
// tasks retry it for hours, so the event is not rejected; the Express
// child's "Find open jobs" retries it twice only, then hands its chunk over
// (its third throttled invocation is caught, not retried): "Sort results"
// defers the chunk, which waits and goes round the Express lane again, not
// to the Standard lane. In the second round one file's copy is throttled a
// third time and goes round once more. Each file is copied once (a
// throttled invocation never runs the handler), its row is complete and the
// execution succeeds with no Standard child. Before every task had the long
// retrier, "Read restored files" gave up after 3 and rejected the event.
func TestScenarioThrottledFunctions(t *testing.T) {
	t.Parallel()
	const throttles = 5
	h := newHarness(t, harnessOptions{throttleFirst: throttles})
	keys := []string{"granules/L0A RAD RAW product (1 of 20).h5", "granules/a+b=c café.iso.xml"}
	bodies := map[string][]byte{}
	var jobs []jobseed.Row
	for i, key := range keys {
		bodies[key] = []byte(fmt.Sprintf("file %d: %s", i, randomHex(32)))
		h.putObject(key, bodies[key])
		jobs = append(jobs, h.insertJob(key))
	}

	res := h.run(readEvent(t, "s3-records-two-files-encoded-keys.json"))

	results := outputResults(t, res)
	if len(results) != len(keys) {
		t.Fatalf("%d results, want %d: %+v", len(results), len(keys), results)
	}
	for _, r := range results {
		if !r.Success {
			t.Errorf("%s failed: %s", r.SourceKey, r.ErrMsg)
		}
	}
	// The throttled find_open_jobs defers the chunk, which goes round the
	// Express lane: the Standard lane's copy-file is never invoked.
	wantThrottled := map[string]int{}
	for name := range res.Calls {
		wantThrottled[name] = throttles
	}
	wantThrottled["copy-file"] = 0
	if diff := cmp.Diff(wantThrottled, res.Throttled); diff != "" {
		t.Errorf("throttled invocations (-want +got):\n%s", diff)
	}
	// Each file copied once: one copy-file-express handler run per file;
	// the aggregate function sorts three rounds and reports.
	wantCalls := map[string]int{"parse-event": 1, "request-status": 2 * len(keys), "copy-file": 0, "copy-file-express": len(keys), "aggregate": 4}
	if diff := cmp.Diff(wantCalls, res.Calls); diff != "" {
		t.Errorf("handler runs (-want +got):\n%s", diff)
	}
	for _, key := range keys {
		if got, ok := h.archived(key); !ok || !bytes.Equal(got, bodies[key]) {
			t.Errorf("%q archived: %v, same bytes: %v", key, ok, bytes.Equal(got, bodies[key]))
		}
	}
	for _, job := range jobs {
		if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
			t.Errorf("row %s: status %q err_msg %q, want complete", job.ObjectKey, got.JobStatus, got.ErrMsg)
		}
	}
	retried := 0
	for _, ev := range res.History {
		if ev.Type == "StateRetried" {
			retried++
		}
	}
	if retried != 4*throttles-2 {
		t.Errorf("%d StateRetried events, want %d (one per throttled invocation but the two the Express children caught)", retried, 4*throttles-2)
	}
	for state, want := range map[string]int{"Hand the chunk over": 1, "Wait before going round": 2, "Copy chunks": 3, "Find open job": 0} {
		if got := countEvents(res, "StateEntered", state); got != want {
			t.Errorf("%s entered %d times, want %d", state, got, want)
		}
	}
	t.Logf("throttled execution: %v wall time with the retry pauses shortened to 20 ms (%d throttled invocations, %d retries)",
		res.Duration.Round(time.Millisecond), 4*throttles, retried)
}

// Scenario: an event naming 800 files. In AWS their report would overflow
// Step Functions' limits (the Map's 256 KiB, the 32,768-character cause);
// parse-event rejects it, naming the bound, and nothing is copied.
func TestScenarioOversizedEventRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	var records []string
	for i := range 800 {
		records = append(records, fmt.Sprintf(`{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":%q},"object":{"key":"granules/file-%04d.h5","size":10}}}`, restoreBucket, i))
	}
	h.putObject("granules/file-0000.h5", []byte("restored"))
	job := h.insertJob("granules/file-0000.h5")

	res := h.run([]byte(`{"Records":[` + strings.Join(records, ",") + `]}`))

	results := failedResults(t, res)
	if len(results) != 1 || results[0].Success || !strings.Contains(results[0].ErrMsg, "invalid event, nothing was copied: event names 800 files") ||
		!strings.Contains(results[0].ErrMsg, "32768-character error cause") {
		t.Errorf("results %+v, want one failed result naming the bound", results)
	}
	if n := res.Calls["copy-file"] + res.Calls["copy-file-express"] + res.Calls["request-status"]; n != 0 {
		t.Errorf("%d copy and request-status calls, want none", n)
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %v", keys)
	}
	if got := h.job(job.RequestID); got.JobStatus != "inprogress" {
		t.Errorf("row status %q, want inprogress (untouched)", got.JobStatus)
	}
	if len([]rune(res.CauseText())) > 32768 {
		t.Errorf("cause of %d characters", len([]rune(res.CauseText())))
	}
}

// Scenario 4: S3 answers 503 SlowDown to the first two copy attempts of a
// file; the workflow retries twice and the file ends complete.
//
// A copy attempt is one copy-file invocation. Its S3 client keeps the SDK's
// own retries (3 requests per call by default, as deployed), so with the
// defaults S3 must refuse 2 x 3 requests for the workflow to see two failed
// attempts; with AWS_MAX_ATTEMPTS=1 each attempt is one request.
func TestScenarioSlowDownRetried(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		maxAttempts string // AWS_MAX_ATTEMPTS for copy-file; "" keeps the SDK default (3)
		slowDowns   int
	}{
		{"SDK retries off", "1", 2},
		{"SDK default retries", "", 2 * 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			slowDown := &faultproxy.Rule{Match: faultproxy.IsCopyObject, Times: tc.slowDowns,
				Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
			h := newHarness(t, harnessOptions{lambdaEnv: func(h *harness) map[string]string {
				proxy := h.s3Proxy(slowDown)
				env := map[string]string{"AWS_ENDPOINT_URL_S3": proxy.URL}
				if tc.maxAttempts != "" {
					env["AWS_MAX_ATTEMPTS"] = tc.maxAttempts
				}
				return env
			}})
			body := []byte("retried " + randomHex(32))
			h.putObject(singleKey, body)
			job := h.insertJob(singleKey)

			res := h.run(readEvent(t, "s3-records-restore-completed.json"))

			results := outputResults(t, res)
			if len(results) != 1 || !results[0].Success {
				t.Errorf("results = %+v, want one success", results)
			}
			// The Express lane tries twice (its one short retry), then
			// hands the file over; it is deferred, and the second round's
			// Express copy copies it. The Standard lane runs no child.
			for state, want := range map[string]int{expressCopyState: 2, "Wait before going round": 1, standardCopyState: 0} {
				if got := countEvents(res, "StateEntered", state); got != want {
					t.Errorf("%s entered %d times, want %d", state, got, want)
				}
			}
			if got := countEvents(res, "StateRetried", expressCopyState); got != 1 {
				t.Errorf("history shows %d retries of %s, want 1", got, expressCopyState)
			}
			if got := countEvents(res, "StateFailed", expressCopyState); got != 2 {
				t.Errorf("history shows %d failures of %s, want 2", got, expressCopyState)
			}
			for _, ev := range res.History {
				if ev.Type == "StateFailed" && ev.State.Name == expressCopyState &&
					(ev.Error != "TransientCopyError" || !strings.Contains(ev.CauseText(), "SlowDown")) {
					t.Errorf("copy failed with %s: %s, want TransientCopyError naming SlowDown", ev.Error, ev.CauseText())
				}
			}
			if slowDown.Hits() != tc.slowDowns {
				t.Errorf("SlowDown answered %d times, want %d", slowDown.Hits(), tc.slowDowns)
			}
			if got, _ := h.archived(singleKey); !bytes.Equal(got, body) {
				t.Error("file not archived intact")
			}
			if got := h.job(job.RequestID); got.JobStatus != "complete" {
				t.Errorf("row status %q, want complete", got.JobStatus)
			}
		})
	}
}

// Scenario 5: the source object is missing: no retry, row error with S3's
// message, execution FAILED with CopyRequestError listing the file.
func TestScenarioMissingSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	job := h.insertJob(singleKey)

	res := h.run(readEvent(t, "s3-records-restore-completed.json"))

	results := failedResults(t, res)
	if len(results) != 1 || results[0].SourceKey != singleKey || results[0].Success || results[0].RequestID != job.RequestID {
		t.Fatalf("results = %+v, want one failed result for %s", results, singleKey)
	}
	if got := countEvents(res, "StateRetried", expressCopyState); got != 0 {
		t.Errorf("%s retried %d times, want none (a missing object is permanent)", expressCopyState, got)
	}
	if got := countEvents(res, "StateFailed", expressCopyState); got != 1 {
		t.Errorf("%s failed %d times, want once", expressCopyState, got)
	}
	if got := countEvents(res, "StateEntered", standardCopyState); got != 0 {
		t.Errorf("%s entered %d times, want never (the Express lane recorded the error)", standardCopyState, got)
	}
	row := h.job(job.RequestID)
	if row.JobStatus != "error" {
		t.Errorf("row status %q, want error", row.JobStatus)
	}
	for name, msg := range map[string]string{"row err_msg": row.ErrMsg, "result err_msg": results[0].ErrMsg} {
		if !strings.Contains(msg, "NoSuchKey: The specified key does not exist.") || !strings.Contains(msg, singleKey) {
			t.Errorf("%s %q does not carry S3's error and the key", name, msg)
		}
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %q, want nothing", keys)
	}
}

// Scenario 5b: the re-run input in the cause. A run fails because one of
// two sources is missing (the cause lists the failed file only); the object
// is then put; the re-run input from the cause names only that file (its key encoded as S3 encodes it) and, started
// as a new execution, copies it: the execution succeeds and the row becomes
// complete. The file that was copied the first time is not touched again.
func TestScenarioRerunInputFromCause(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	const present, missing = "granules/L0A RAD RAW product (1 of 20).h5", "granules/a+b=c café.iso.xml"
	h.putObject(present, []byte("present "+randomHex(16)))
	presentJob, missingJob := h.insertJob(present), h.insertJob(missing)

	res := h.run(readEvent(t, "s3-records-two-files-encoded-keys.json"))

	results := failedResults(t, res)
	if len(results) != 1 || results[0].Success || results[0].SourceKey != missing {
		t.Fatalf("results = %+v, want the second file failed, and only it listed", results)
	}
	if got := h.job(missingJob.RequestID).JobStatus; got != "error" {
		t.Fatalf("missing file's row is %q, want error", got)
	}
	input := rerunInput(t, res)
	if !strings.Contains(string(input), `"key":"granules/a%2Bb%3Dc+caf%C3%A9.iso.xml"`) || strings.Contains(string(input), "L0A") {
		t.Errorf("re-run input %s should name only the failed file, key encoded as S3 does", input)
	}

	body := []byte("restored again " + randomHex(16))
	h.putObject(missing, body)
	rerun := h.run(input)

	got := outputResults(t, rerun)
	want := []contract.FileResult{{RequestID: missingJob.RequestID, SourceBucket: restoreBucket, SourceKey: missing, TargetBucket: archiveBucket, Success: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("re-run output (-want +got):\n%s", diff)
	}
	if b, ok := h.archived(missing); !ok || !bytes.Equal(b, body) {
		t.Errorf("%q not archived intact by the re-run", missing)
	}
	if row := h.job(missingJob.RequestID); row.JobStatus != "complete" || row.ErrMsg != "" {
		t.Errorf("row after the re-run: %q, err_msg %q; want complete", row.JobStatus, row.ErrMsg)
	}
	if row := h.job(presentJob.RequestID); row.JobStatus != "complete" {
		t.Errorf("the file copied the first time is now %q", row.JobStatus)
	}
}

// Scenario 6: no open job for the key: nothing copied, CopyRequestError
// naming the key.
func TestScenarioNoOpenJob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.putObject(singleKey, []byte("orphan"))

	res := h.run(readEvent(t, "s3-records-restore-completed.json"))

	results := failedResults(t, res)
	if len(results) != 1 || results[0].SourceKey != singleKey || results[0].Success {
		t.Fatalf("results = %+v, want one failed result for %s", results, singleKey)
	}
	if !strings.Contains(res.CauseText(), singleKey) {
		t.Errorf("cause %q does not name the key", res.CauseText())
	}
	if !strings.Contains(results[0].ErrMsg, "no open job") {
		t.Errorf("err_msg %q does not say there is no open job", results[0].ErrMsg)
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %q, want nothing", keys)
	}
	for _, state := range []string{expressCopyState, standardCopyState} {
		if got := countEvents(res, "StateEntered", state); got != 0 {
			t.Errorf("%s entered %d times, want never", state, got)
		}
	}
}

// Scenario 7: a record without a key: the execution fails naming the
// field; nothing copied, no row changed.
func TestScenarioRecordWithoutKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.putObject(singleKey, []byte("untouched"))
	job := h.insertJob(singleKey)
	before := h.job(job.RequestID)

	res := h.run(readEvent(t, "s3-records-missing-key.json"))

	if res.Succeeded() {
		t.Fatal("execution succeeded, want FAILED")
	}
	if res.ErrorName() != "CopyRequestError" {
		t.Errorf("error %q, want CopyRequestError", res.ErrorName())
	}
	if !strings.Contains(res.CauseText(), "Records[0].s3.object.key") {
		t.Errorf("cause %q does not name the missing field", res.CauseText())
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %q, want nothing", keys)
	}
	if diff := cmp.Diff(before, h.job(job.RequestID)); diff != "" {
		t.Errorf("row changed (-before +after):\n%s", diff)
	}
	if got := countEvents(res, "StateEntered", "Find open jobs") + countEvents(res, "StateEntered", "Find open job"); got != 0 {
		t.Errorf("Find open jobs / Find open job entered %d times, want never", got)
	}
}

// An execution input that is not a JSON object (Step Functions accepts any
// JSON value): the execution fails with CopyRequestError saying why, not
// with States.ResultPathMatchFailure from the Catcher; nothing is copied. A
// string is rejected as an event; a list is a batch (the intake's Pipe
// sends one), each element of which is rejected alone, as not an event.
func TestScenarioInputNotAnObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.putObject(singleKey, []byte("untouched"))
	job := h.insertJob(singleKey)
	before := h.job(job.RequestID)

	for _, tc := range []struct {
		input         string
		wantCause     []string
		eventRejected int
	}{
		{`"x"`, []string{"nothing was copied", "event is not a JSON object"}, 1},
		{`[1,2]`, []string{"2 messages of the batch rejected", `{"index":1,"error":"event is not a JSON object"}`}, 0},
	} {
		t.Run(tc.input, func(t *testing.T) {
			res := h.run([]byte(tc.input))

			if res.Succeeded() || res.ErrorName() != "CopyRequestError" {
				t.Fatalf("execution %s with error %q (%s), want FAILED with CopyRequestError", res.Status, res.ErrorName(), res.CauseText())
			}
			for _, want := range tc.wantCause {
				if !strings.Contains(res.CauseText(), want) {
					t.Errorf("cause %q does not say %q", res.CauseText(), want)
				}
			}
			if got := countEvents(res, "StateEntered", "Event rejected"); got != tc.eventRejected {
				t.Errorf("Event rejected entered %d times, want %d", got, tc.eventRejected)
			}
			if got := countEvents(res, "StateEntered", "Find open jobs") + countEvents(res, "StateEntered", "Find open job"); got != 0 {
				t.Errorf("Find open jobs / Find open job entered %d times, want never", got)
			}
		})
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %q, want nothing", keys)
	}
	if diff := cmp.Diff(before, h.job(job.RequestID)); diff != "" {
		t.Errorf("row changed (-before +after):\n%s", diff)
	}
}

// Scenario 8: the database refuses connections once the copy starts (after
// the job lookup): the Express child's status update is retried once, then
// the file is handed over and deferred; it goes round the Express lane
// again, where each round's "Find open jobs" is retried once and the chunk
// deferred again, until the last round (statemachine.DeferMaxRounds) gives
// it to the Standard lane, whose job lookup retries for long; then the
// execution fails and the file's result says the database was unavailable. The file is archived, its row left inprogress, and the
// cause holds its re-run input.
func TestScenarioDatabaseDownWhileRecording(t *testing.T) {
	t.Parallel()
	var dbProxy *tcpProxy
	h := newHarness(t, harnessOptions{lambdaEnv: func(h *harness) map[string]string {
		u, err := url.Parse(h.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		dbProxy = startTCPProxy(t, u.Host)
		u.Host = dbProxy.Addr()
		// The copy request closes the database proxy: the lookup has
		// happened, the status update has not.
		closeDB := &faultproxy.Rule{Match: func(r *http.Request) bool {
			if faultproxy.IsCopyObject(r) {
				dbProxy.Close()
			}
			return false
		}}
		s3proxy := h.s3Proxy(closeDB)
		return map[string]string{"DATABASE_URL": u.String(), "AWS_ENDPOINT_URL_S3": s3proxy.URL}
	}})
	body := []byte("copied, not recorded " + randomHex(16))
	h.putObject(singleKey, body)
	job := h.insertJob(singleKey)

	res := h.run(readEvent(t, "s3-records-restore-completed.json"))

	results := failedResults(t, res)
	if len(results) != 1 || results[0].Success {
		t.Fatalf("results = %+v, want one failed result", results)
	}
	if !strings.Contains(results[0].ErrMsg, "DatabaseUnavailableError") {
		t.Errorf("err_msg %q does not say the database was unavailable", results[0].ErrMsg)
	}
	rerunInput(t, res)
	for state, want := range map[string]int{"Record copy complete (Express)": 1, "Find open jobs": statemachine.DeferMaxRounds - 1,
		"Find open job": h.runner.Settings.DatabaseRetries - 1} {
		if got := countEvents(res, "StateRetried", state); got != want {
			t.Errorf("%s retried %d times, want %d", state, got, want)
		}
	}
	for state, want := range map[string]int{"Wait before going round": statemachine.DeferMaxRounds - 1, "Copy in the Standard lane": 1} {
		if got := countEvents(res, "StateEntered", state); got != want {
			t.Errorf("%s entered %d times, want %d", state, got, want)
		}
	}
	for _, ev := range res.History {
		if ev.Type == "StateFailed" && ev.State.Name != "Report results" && ev.Error != "DatabaseUnavailableError" {
			t.Errorf("%s failed with %q, want DatabaseUnavailableError", ev.State.Name, ev.Error)
		}
	}
	if got, _ := h.archived(singleKey); !bytes.Equal(got, body) {
		t.Error("file not archived intact")
	}
	if got := h.job(job.RequestID); got.JobStatus != "inprogress" {
		t.Errorf("row status %q, want it left inprogress (nothing could be recorded)", got.JobStatus)
	}
}

// Scenario 9: the same event twice: rows stay complete, the second run
// succeeds too.
func TestScenarioSameEventTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	body := []byte("twice " + randomHex(16))
	h.putObject(singleKey, body)
	job := h.insertJob(singleKey)
	event := readEvent(t, "s3-records-restore-completed.json")

	for run := 1; run <= 2; run++ {
		res := h.run(event)
		results := outputResults(t, res)
		if len(results) != 1 || !results[0].Success || results[0].RequestID != job.RequestID {
			t.Errorf("run %d: results %+v, want one success for request %s", run, results, job.RequestID)
		}
		if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
			t.Errorf("run %d: row %q %q, want complete", run, got.JobStatus, got.ErrMsg)
		}
	}
	if got, _ := h.archived(singleKey); !bytes.Equal(got, body) {
		t.Error("file not archived intact")
	}
}

// Scenario 10: fifty files with concurrency 5 (Express children of 5
// files, one child at a time; Standard children 5 at a time): all copied
// and complete, never more than five copies in flight (by the history and
// by the Invoke API server).
func TestScenarioFiftyFilesConcurrencyFive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{
		env: map[string]string{"MAP_MAX_CONCURRENCY": "5", "CHUNK_FILES": "5", "CHUNK_MAP_MAX_CONCURRENCY": "1"},
		lambdaEnv: func(h *harness) map[string]string {
			// Each copy takes a moment, so that iterations overlap.
			slow := &faultproxy.Rule{Match: faultproxy.IsCopyObject, Delay: 40 * time.Millisecond}
			proxy := h.s3Proxy(slow)
			return map[string]string{"AWS_ENDPOINT_URL_S3": proxy.URL}
		},
	})
	var files []restoredFile
	var want []string
	for i := range 50 {
		key := fmt.Sprintf("batch/file %02d.dat", i)
		h.putObject(key, []byte(key))
		h.insertJob(key)
		want = append(want, key)
		files = append(files, restoredFile{key: key, size: len(key)})
	}
	event := classicEvent(t, files...)

	start := time.Now()
	res := h.run(event)
	t.Logf("50 files, Map concurrency 5: execution took %v", res.Duration.Round(time.Millisecond))

	results := outputResults(t, res)
	if len(results) != 50 {
		t.Fatalf("%d results, want 50", len(results))
	}
	for _, r := range results {
		if !r.Success {
			t.Errorf("%s failed: %s", r.SourceKey, r.ErrMsg)
		}
	}
	got := h.archiveKeys()
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive keys (-want +got):\n%s", diff)
	}
	counts, err := requeststatus.NewTable(h.db).CountByStatus(h.ctx, requeststatus.Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if counts[requeststatus.StatusInProgress] != 0 || counts[requeststatus.StatusError] != 0 || counts["null"] != 0 {
		t.Errorf("rows not complete: %v", counts)
	}
	t.Logf("copies in flight at most: %d by the history, %d by the Invoke API server (wall time %v)",
		res.MaxCopiesInHistory, res.MaxCopiesInFlight, time.Since(start).Round(time.Millisecond))
	if res.MaxCopiesInHistory > 5 || res.MaxCopiesInFlight > 5 {
		t.Errorf("copies in flight: %d (history), %d (server), want at most 5", res.MaxCopiesInHistory, res.MaxCopiesInFlight)
	}
	if res.MaxCopiesInFlight < 2 {
		t.Errorf("at most %d copy in flight: the Map did not run iterations concurrently", res.MaxCopiesInFlight)
	}
}

// Scenario 11: a 12 MiB file above a 5 MiB threshold takes the multipart path
// (three 5 MiB parts at most) on the runner's own S3 server, where the runner
// turns MULTIPART_CHECKSUM off for versitygw's part-checksum bug and says
// so; the copy is byte-equal and the row complete.
func TestScenarioMultipartOnEmbeddedS3(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{
		embeddedS3: true,
		env:        map[string]string{"MULTIPART_THRESHOLD_MB": "5", "MULTIPART_CHUNKSIZE_MB": "5"},
	})
	const key = "granules/big granule+1.h5"
	body := make([]byte, 12<<20)
	rand.Read(body)
	h.putObject(key, body)
	job := h.insertJob(key)
	event := classicEvent(t, restoredFile{key: key, size: len(body)})

	res := h.run(event)

	want := []contract.FileResult{{
		RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key,
		TargetBucket: archiveBucket, Success: true,
	}}
	if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	// One pass, in the Express lane: a 12 MiB copy ends well within its
	// budget.
	var outcomes []contract.CopyOutcome
	for _, p := range copyPasses(t, res) {
		if p.lane != expressMap+": "+expressCopyState {
			t.Errorf("a copy pass in %s, want the Express lane's only", p.lane)
		}
		outcomes = append(outcomes, p.outcome)
	}
	wantOutcome := []contract.CopyOutcome{{TargetBucket: archiveBucket, TargetKey: key, Bytes: 12 << 20, Multipart: true, Parts: 3,
		Complete: true, PartSize: 5 << 20, PartsDone: 3, PartsTotal: 3, BytesDone: 12 << 20, Passes: 1}}
	if diff := cmp.Diff(wantOutcome, outcomes, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS", "ElapsedMS")); diff != "" {
		t.Errorf("copy outcomes (-want +got):\n%s", diff)
	}
	if got, ok := h.archived(key); !ok {
		t.Errorf("%q not in the archive bucket", key)
	} else if !bytes.Equal(got, body) {
		t.Errorf("%q archived with different bytes (%d bytes, want %d)", key, len(got), len(body))
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row: status %q err_msg %q, want complete without error", got.JobStatus, got.ErrMsg)
	}
	if note := "MULTIPART_CHECKSUM=off for copy-file"; !strings.Contains(h.serverLog.String(), note) {
		t.Errorf("the runner's log does not say %q", note)
	}
}

// Scenario 12: a file too large for one copy invocation. The copy-file
// function's timeout is 8.5 s here (the runner's test knob; 900 s deployed)
// with the smallest deadline margin (5 s), so a pass may copy for 3.5 s,
// one part at a time. Two gates in the fault proxy each hold one part copy
// until the copier gives up on it at its copy deadline (the proxy never
// forwards it), whatever the machine's load: the first pass, in the
// Express child, copies parts 1 and 2 and returns complete=false with its
// resume token, and "Copy finished? (Express)" hands the file over to the
// Standard lane; there "Copy file" resumes the same upload, copies parts 3
// and 4 and is held at part 5; "Copy finished?" marks the row and sends the
// iteration back to "Copy file", which copies parts 5 and 6. The history
// shows the loop without a retry; the file is copied byte for byte with one
// upload, each part forwarded to S3 once, no upload left open, and the row
// ends complete.
func TestScenarioResumableCopyLoops(t *testing.T) {
	t.Parallel()
	gates := []*faultproxy.Rule{partGate(3), partGate(5)}
	parts := &faultproxy.Rule{Match: faultproxy.IsUploadPartCopy} // counts the parts forwarded
	creates := &faultproxy.Rule{Match: func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("uploads") }}
	h := newHarness(t, harnessOptions{
		copyTimeout: 8500 * time.Millisecond,
		lambdaEnv: func(h *harness) map[string]string {
			proxy := h.s3Proxy(creates, gates[0], gates[1], parts)
			env := resumableCopyEnv(proxy.URL)
			env["COPY_PROGRESS_SECS"] = "1"
			return env
		},
	})
	const key = "granules/too big for one invocation+1.h5"
	body := make([]byte, 30<<20)
	rand.Read(body)
	h.putObject(key, body)
	job := h.insertJob(key)
	event := classicEvent(t, restoredFile{key: key, size: len(body)})

	res := h.run(event)
	t.Logf("execution took %v", res.Duration.Round(time.Millisecond))

	want := []contract.FileResult{{
		RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key,
		TargetBucket: archiveBucket, Success: true,
	}}
	if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	var outcomes []contract.CopyOutcome
	var lanes []string
	for i, p := range copyPasses(t, res) {
		outcomes = append(outcomes, p.outcome)
		lanes = append(lanes, p.lane)
		t.Logf("pass %d (%s): complete=%v parts %d/%d, %d ms", i+1, p.lane, p.outcome.Complete, p.outcome.PartsDone, p.outcome.PartsTotal, p.outcome.DurationMS)
	}
	wantLanes := []string{expressMap + ": " + expressCopyState, standardMap + ": " + standardCopyState, standardMap + ": " + standardCopyState}
	if diff := cmp.Diff(wantLanes, lanes); diff != "" {
		t.Fatalf("copy passes by lane (-want +got; the gates stop the first two after two parts each):\n%s", diff)
	}
	first, last := outcomes[0], outcomes[len(outcomes)-1]
	if first.Complete || first.PartsDone != 2 || first.PartsTotal != 6 || first.UploadID == "" || first.SourceETag == "" {
		t.Errorf("first pass = %+v, want incomplete with parts 1 and 2 of 6 and a resume token", first)
	}
	for i, o := range outcomes[:len(outcomes)-1] {
		if o.Complete || o.UploadID != first.UploadID {
			t.Errorf("pass %d = %+v, want incomplete, resuming upload %s", i+1, o, first.UploadID)
		}
		if next := outcomes[i+1]; next.PartsDone <= o.PartsDone {
			t.Errorf("pass %d made no progress: %d parts after %d", i+2, next.PartsDone, o.PartsDone)
		}
	}
	if !last.Complete || last.PartsDone != 6 || last.BytesDone != 30<<20 || last.UploadID != "" {
		t.Errorf("last pass = %+v, want complete with 6 parts", last)
	}
	// The passes and their time add up across the loop and the lanes (the
	// CopyPasses and CopySeconds metrics).
	var sum int64
	for _, o := range outcomes {
		sum += o.DurationMS
	}
	if first.Passes != 1 || last.Passes != 3 || last.ElapsedMS != sum {
		t.Errorf("passes %d then %d, elapsed %d ms after passes of %d ms in all; want 1, 3 and the sum",
			first.Passes, last.Passes, last.ElapsedMS, sum)
	}
	// The first pass, held at part 3 for seconds, logged its progress every
	// second, and the runner printed it beside the history.
	if want := "copying " + key + ": 2 of 6 parts, 10.0 of 30.0 MiB (33.3%)"; !strings.Contains(h.out.String(), want) {
		t.Errorf("the runner's output has no progress line %q", want)
	}
	checkHandedOver(t, res)
	if got := countEvents(res, "StateEntered", "Copy finished?"); got != 2 {
		t.Errorf("Copy finished? was entered %d times, want once per Standard lane pass (2)", got)
	}
	// Each resumed pass in the Standard lane is preceded by a mark of the
	// row (issue 22): the reconcile sweep counts its grace from it. The
	// Standard child's first pass follows "Find open job", which marks.
	var marks int
	for _, ev := range res.History {
		if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Mark copy resumed" {
			var it contract.Iteration
			if err := json.Unmarshal(ev.State.Output, &it); err != nil || it.Marked == nil || !it.Marked.Marked || it.MarkError != nil {
				t.Errorf("Mark copy resumed output %s: want marked=true and no mark_error (%v)", ev.State.Output, err)
			}
			marks++
		}
	}
	if marks != 1 {
		t.Errorf("%d marks of the row, want one (the Standard lane's resumed pass)", marks)
	}
	// A retry of the task shows as StateRetried (a failed attempt), not as
	// another StateEntered.
	for _, typ := range []string{"StateRetried", "StateFailed", "StateCaught"} {
		if got := countEvents(res, typ, standardCopyState) + countEvents(res, typ, expressCopyState); got != 0 {
			t.Errorf("the copy states have %d %s events, want none: every pass should succeed", got, typ)
		}
	}
	for i, g := range gates {
		if g.Hits() != 1 {
			t.Errorf("gate %d held %d part copies, want 1", i+1, g.Hits())
		}
	}
	if creates.Hits() != 1 {
		t.Errorf("%d multipart uploads created, want 1: every later pass resumes it", creates.Hits())
	}
	if n := parts.Hits(); n != 6 {
		t.Errorf("%d part copies forwarded for 6 parts over %d passes, want each part copied once", n, len(outcomes))
	}
	if got, ok := h.archived(key); !ok {
		t.Errorf("%q not in the archive bucket", key)
	} else if !bytes.Equal(got, body) {
		t.Errorf("%q archived with different bytes (%d bytes, want %d)", key, len(got), len(body))
	}
	if n := h.openUploads(); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
	if got := h.job(job.RequestID); got.JobStatus != "complete" || got.ErrMsg != "" {
		t.Errorf("row: status %q err_msg %q, want complete without error", got.JobStatus, got.ErrMsg)
	}
}

// tcpProxy forwards TCP connections to a target until closed; Close also
// cuts the connections it carries, so the database looks gone.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// Close stops accepting (new connections are refused) and cuts the open ones.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// Scenario: a versioned restore bucket. The key was overwritten after the
// restore (version 2 is current); the event names version 1, in either
// shape. The archive must hold version 1's bytes, and the row is complete.
func TestScenarioCopiesTheEventsVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{versioned: true})
	for _, shape := range []string{"S3 notification", "EventBridge"} {
		key := "granules/" + shape + "/MOD09 v1 ü+.h5"
		v1 := []byte("version 1 of " + key + ": " + randomHex(64))
		version1, etag1 := h.putObject(key, v1)
		if version1 == "" {
			t.Fatal("no version id: versioning is off")
		}
		h.putObject(key, []byte("version 2, written after the restore: "+randomHex(64)))
		job := h.insertJob(key)

		var event string
		if shape == "EventBridge" {
			event = fmt.Sprintf(`{"version":"0","id":"e1","detail-type":"Object Restore Completed","source":"aws.s3","account":"111122223333",`+
				`"time":"2026-11-29T12:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::%s"],"detail":{"version":"0",`+
				`"bucket":{"name":%q},"object":{"key":%q,"size":%d,"etag":%q,"version-id":%q},`+
				`"restore-expiry-time":"2026-12-06T00:00:00Z","source-storage-class":"GLACIER"}}`,
				restoreBucket, restoreBucket, url.QueryEscape(key), len(v1), etag1, version1)
		} else {
			event = fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectRestore:Completed",`+
				`"s3":{"bucket":{"name":%q},"object":{"key":%q,"size":%d,"eTag":%q,"versionId":%q,"sequencer":"0055AED6DCD90281E5"}}}]}`,
				restoreBucket, url.QueryEscape(key), len(v1), etag1, version1)
		}
		res := h.run([]byte(event))

		want := []contract.FileResult{{RequestID: job.RequestID, SourceBucket: restoreBucket, SourceKey: key, TargetBucket: archiveBucket, Success: true}}
		if diff := cmp.Diff(want, outputResults(t, res)); diff != "" {
			t.Errorf("%s: output (-want +got):\n%s", shape, diff)
		}
		if got, ok := h.archived(key); !ok || !bytes.Equal(got, v1) {
			t.Errorf("%s: the archive does not hold version 1's bytes (present %v: %.40q)", shape, ok, got)
		}
		if got := h.job(job.RequestID); got.JobStatus != "complete" {
			t.Errorf("%s: row status %q (%s), want complete", shape, got.JobStatus, got.ErrMsg)
		}
	}
}

// partGate holds the first copy of part n or later for an hour: the
// copier gives up on it at its copy deadline, the proxy never forwards it.
func partGate(n int) *faultproxy.Rule {
	return &faultproxy.Rule{Match: func(r *http.Request) bool {
		part, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		return faultproxy.IsUploadPartCopy(r) && err == nil && part >= n
	}, Times: 1, Delay: time.Hour}
}

// resumableCopyEnv is copy-file's environment for a copy that cannot finish
// in one invocation of copyTimeout 8.5 s: S3 through the proxy at proxyURL,
// 5 MiB parts copied one at a time, and a 5 s deadline margin.
func resumableCopyEnv(proxyURL string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_S3":       proxyURL,
		"MULTIPART_THRESHOLD_MB":    "5",
		"MULTIPART_CHUNKSIZE_MB":    "5",
		"MULTIPART_CONCURRENCY":     "1",
		"MULTIPART_CHECKSUM":        "off", // versitygw's part-checksum bug (docs/limits.md)
		"COPY_DEADLINE_MARGIN_SECS": "5",
	}
}
