package localrun_test

// Load runs against the calibrated S3 model (loadsim.LoadConfig.S3Model):
// every S3 request takes S3's latency, so the Lambdas' billed durations
// are what AWS would bill, not loopback's milliseconds.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/loadsim"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// newModelLoadWorld prepares a load run on the S3 model (no versitygw)
// and a schema of its own.
func newModelLoadWorld(t *testing.T, cfg loadsim.LoadConfig) *loadWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("runs many executions against the S3 model at S3's latency")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "loadmodel")
	cfg.S3Model = true
	w := &loadWorld{t: t, ctx: context.Background(), log: &childproc.Output{Max: 1 << 20}}
	w.prepare(cfg, root, dbURL, map[string]string{"DATABASE_URL": dbURL})
	return w
}

// seedJobs gives n files under prefix an open job and returns one
// single-file event per file, of size bytes, with an eTag as S3's events
// carry (the model holds the objects the events name, with that ETag).
func (w *loadWorld) seedJobs(prefix string, n, size int) [][]byte {
	w.t.Helper()
	var events [][]byte
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s/file-%04d.dat", prefix, i)
		if _, err := jobseed.Insert(w.ctx, w.db, jobseed.Row{ObjectKey: key, RestoreBucketDest: restoreBucket, ArchiveBucketDest: archiveBucket}); err != nil {
			w.t.Fatal(err)
		}
		events = append(events, classicEvent(w.t, restoredFile{key: key, size: size, etag: md5Hex([]byte(key))}))
	}
	return events
}

// TestLoadOnS3Model: a steady stream of one-file events of small objects
// (256 KiB) on the S3 model, unthrottled: every file complete, and the
// report's figures hold together as Lambda bills them. Each invocation's
// duration is rounded up to the millisecond ("rounded up to the nearest 1
// ms", https://aws.amazon.com/lambda/pricing/; since December 2020,
// https://aws.amazon.com/blogs/aws/new-for-aws-lambda-1ms-billing-granularity-adds-cost-savings/),
// a function's GB-seconds are its billed seconds times its memory in GB, the
// report's per-file figure is their sum over the functions divided by the
// files. Its durations include the model's latency: a small copy whose
// event gives its size and ETag is one request (CopyObject; no HeadObject
// of the source before it, and the copy's ETag, the source's MD5, proves
// it without one of the archive), held at least the model's 100 ms, so
// copy-file cannot bill less than 100 ms per invocation; on loopback it
// bills a few. That is a
// floor the model's sleeps set, not a speed. (The 1,000 events run
// with LOAD_SCALE=50.)
func TestLoadOnS3Model(t *testing.T) {
	w := newModelLoadWorld(t, loadsim.LoadConfig{Rate: 10})
	n := loadSize(20)
	events := w.seedJobs("model", n, 256<<10)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	rep := w.run(events)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	checkAllComplete(t, rep, n)
	if rep.S3 != "model" || rep.Throttles != 0 {
		t.Errorf("s3 %q, %d throttles: want the model, none", rep.S3, rep.Throttles)
	}
	checkBilling(t, rep, n)

	latency := s3model.DefaultParams().Latency
	copyFile := rep.Functions[statemachine.FunctionCopyFileExpress]
	if perCopy := time.Duration(copyFile.BilledMs/int64(max(copyFile.Requests, 1))) * time.Millisecond; perCopy < latency {
		t.Errorf("copy-file-express billed %s per invocation: below the request of %s the model holds it; the durations do not include the model's latency", perCopy, latency)
	}
	ops := rep.S3Operations
	envs := copyEnvironments(rep)
	if ops["CopyObject"] != n || ops["HeadBucket"] > 2*envs || len(ops) > 2 {
		t.Errorf("S3 operations %v: want %d CopyObject (the event names the size and ETag; the copy's ETag proves it), at most %d HeadBucket (2 per copy-file environment), nothing else", ops, n, 2*envs)
	}
	if got, want := rep.PerFile.S3GetClass, float64(ops["HeadBucket"])/float64(n); rep.PerFile.S3PutClass != 1 || math.Abs(got-want) > 1e-9 {
		t.Errorf("S3 per file: %.3f PUT-class + %.3f GET-class, want 1 + %.3f (the model's count)", rep.PerFile.S3PutClass, got, want)
	}
	logModelFigures(t, rep, n, before, after)
}

// TestLoadFigure is issue 24's figure: 10,000 one-file events of small
// objects (256 KiB) arriving at a steady rate (20 a second), unthrottled,
// on the S3 model: every file complete, at most $10.00 per million files,
// at most 0.1 Standard transitions and 0.01 StartExecution calls per file.
// About 10 minutes on 2 cores: run with LOAD_FIGURE=1 (make bench-figure);
// LOAD_FIGURE_EVENTS and LOAD_FIGURE_RATE size it otherwise. Each batch's
// files are copied at once (3 chunks of up to 40), so the database takes up
// to a batch's worth of connections at once: give it a server whose
// max_connections allows that (TEST_DATABASE_URL), or the refused records go
// round the Standard lane and cost transitions.
func TestLoadFigure(t *testing.T) {
	if os.Getenv("LOAD_FIGURE") == "" {
		t.Skip("the figure's run: LOAD_FIGURE=1 (make bench-figure)")
	}
	n, rate := 10000, 20.0
	if v, err := strconv.Atoi(os.Getenv("LOAD_FIGURE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("LOAD_FIGURE_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	w := newModelLoadWorld(t, loadsim.LoadConfig{Rate: rate})
	events := w.seedJobs("figure", n, 256<<10)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	rep := w.runFor(events, 30*time.Minute)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	checkAllComplete(t, rep, n)
	checkLambdaFigures(t, rep, n)
	logModelFigures(t, rep, n, before, after)
	t.Logf("figure: %d files, $%.2f per million files, %.4f Standard transitions and %.4f StartExecution per file; items %v; intake %+v",
		n, rep.CostPerMillionFilesUSD, rep.PerFile.StandardTransitions, rep.PerFile.StartExecutions, rep.CostItems, rep.Intake)
	if rep.CostPerMillionFilesUSD > 10 || rep.PerFile.StandardTransitions > 0.1 || rep.PerFile.StartExecutions > 0.01 {
		t.Errorf("$%.2f per million files (target 10.00), %.4f transitions (target 0.1), %.4f StartExecution (target 0.01) per file; items %v",
			rep.CostPerMillionFilesUSD, rep.PerFile.StandardTransitions, rep.PerFile.StartExecutions, rep.CostItems)
	}
}

// checkBilling checks the report's Lambda figures against each other and
// against the executions: per batch (execution) one parse-event and two
// aggregate calls (sort, report), per chunk (Express child) one
// find_open_jobs, per file a copy (copy-file-express's) and a record, when
// every file is copied by the Express lane.
func checkBilling(t *testing.T, rep *loadsim.LoadReport, files int) {
	t.Helper()
	batches := rep.Executions.Started
	chunks := int(math.Round(rep.PerFile.ExpressRequests * float64(files)))
	wantRequests := map[string]int{
		statemachine.FunctionParseEvent: batches, statemachine.FunctionRequestStatus: chunks + files,
		statemachine.FunctionCopyFileExpress: files, statemachine.FunctionCopyFile: 0, statemachine.FunctionAggregate: 2 * batches,
	}
	for _, f := range statemachine.Functions {
		if got := rep.Functions[f.Name].Requests; got != wantRequests[f.Name] {
			t.Errorf("%s: %d requests, want %d", f.Name, got, wantRequests[f.Name])
		}
	}
	checkLambdaFigures(t, rep, files)
}

// checkLambdaFigures checks the report's Lambda figures against each
// other: each function at its deployed memory, billed at least 1 ms an
// invocation, its GB-seconds its billed ms times its memory, the per-file
// figures their sums over the files, the cost items adding up.
func checkLambdaFigures(t *testing.T, rep *loadsim.LoadReport, files int) {
	t.Helper()
	var gbs float64
	var requests int
	for _, f := range statemachine.Functions {
		fu, ok := rep.Functions[f.Name]
		if !ok {
			t.Errorf("the report has no figures for %s", f.Name)
			continue
		}
		if fu.MemoryMB != f.MemoryMB {
			t.Errorf("%s: %d MB, want its deployed %d MB", f.Name, fu.MemoryMB, f.MemoryMB)
		}
		if fu.BilledMs < int64(fu.Requests) {
			t.Errorf("%s: %d billed ms for %d invocations: each is billed at least 1 ms", f.Name, fu.BilledMs, fu.Requests)
		}
		if want := float64(fu.BilledMs) / 1000 * float64(f.MemoryMB) / 1024; math.Abs(fu.GBSeconds-want) > 1e-9 {
			t.Errorf("%s: %.6f GB-s, want %d ms x %d MB = %.6f", f.Name, fu.GBSeconds, fu.BilledMs, f.MemoryMB, want)
		}
		gbs += fu.GBSeconds
		requests += fu.Requests
	}
	if want := gbs / float64(files); math.Abs(rep.PerFile.LambdaGBSeconds-want) > 1e-9 {
		t.Errorf("%.6f GB-s per file, want the functions' %.6f over %d files", rep.PerFile.LambdaGBSeconds, gbs, files)
	}
	if want := float64(requests) / float64(files); math.Abs(rep.PerFile.LambdaRequests-want) > 1e-9 {
		t.Errorf("%.3f Lambda requests per file, want %.3f", rep.PerFile.LambdaRequests, want)
	}
	price := map[string]float64{}
	for _, p := range rep.Prices {
		price[p.Per] = p.USD
	}
	if want := rep.PerFile.LambdaGBSeconds * price["GB-second"] * 1e6; math.Abs(rep.CostItems["lambda_duration"]-want) > 1e-9 {
		t.Errorf("lambda_duration $%.4f per million files, want GB-s per file x $%g x 1e6 = $%.4f", rep.CostItems["lambda_duration"], price["GB-second"], want)
	}
	var sum float64
	for _, v := range rep.CostItems {
		sum += v
	}
	if math.Abs(sum-rep.CostPerMillionFilesUSD) > 1e-9 {
		t.Errorf("cost per million files $%.4f, its items add up to $%.4f", rep.CostPerMillionFilesUSD, sum)
	}
}

// logModelFigures logs the run's figures for docs/concurrency.md: per
// function its billed ms per invocation and GB-s per file, copy-file's GB-s
// at smaller memories for the same duration, and the CPU the whole test
// process (every Lambda, the Invoke API, the model, the proxy) used per file.
func logModelFigures(t *testing.T, rep *loadsim.LoadReport, files int, before, after syscall.Rusage) {
	t.Helper()
	for _, name := range statemachine.FunctionNames() {
		fu := rep.Functions[name]
		t.Logf("%s: %d requests, %.1f billed ms each, %.5f GB-s per file at %d MB", name, fu.Requests,
			float64(fu.BilledMs)/float64(max(fu.Requests, 1)), fu.GBSeconds/float64(files), fu.MemoryMB)
	}
	billedMs := rep.Functions[statemachine.FunctionCopyFile].BilledMs + rep.Functions[statemachine.FunctionCopyFileExpress].BilledMs
	for _, mb := range []int{1769, 512, 256} {
		t.Logf("both copy functions at %d MB for the same billed ms: %.5f GB-s per file, $%.2f per million files", mb,
			float64(billedMs)/1000*float64(mb)/1024/float64(files), float64(billedMs)/1000*float64(mb)/1024/float64(files)*0.0000133334*1e6)
	}
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(files)
	t.Logf("test process CPU: %s per file (every Lambda, Invoke API, model, proxy, Postgres client); S3 %v; per file %+v; $/M %.2f %v",
		cpu, rep.S3Operations, rep.PerFile, rep.CostPerMillionFilesUSD, rep.CostItems)
}

// copyEnvironments is the execution environments of copy-file's code, both
// lanes' functions together.
func copyEnvironments(rep *loadsim.LoadReport) int {
	return rep.Environments[statemachine.FunctionCopyFile] + rep.Environments[statemachine.FunctionCopyFileExpress]
}

// TestLoadCommandS3Model runs `load --s3-model --json` as a user would
// (no S3 server given or started): the report names the model; naming
// another S3 endpoint as well is refused, naming it.
func TestLoadCommandS3Model(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "loadclimodel")
	env := map[string]string{"DATABASE_URL": dbURL}
	var stdout, stderr strings.Builder
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Dir: root, Getenv: func(k string) string { return env[k] }}
	args := []string{"load", "--s3-model", "--json", "--events", "testdata/load-two-events.ndjson", "--log-file", filepath.Join(t.TempDir(), "load.log")}
	if code := cli.Main(context.Background(), args); code != localrun.ExitSucceeded {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, localrun.ExitSucceeded, stderr.String())
	}
	var doc struct {
		S3    string         `json:"s3"`
		Files map[string]int `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	if doc.S3 != "model" || doc.Files["no_job"] != 2 {
		t.Errorf("s3 %q, files %v: want the model, both files without a job", doc.S3, doc.Files)
	}

	env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:9"
	stdout.Reset()
	stderr.Reset()
	if code := cli.Main(context.Background(), args); code == localrun.ExitSucceeded || !strings.Contains(stderr.String(), "AWS_ENDPOINT_URL_S3") {
		t.Errorf("exit %d, stderr %q: want a refusal naming AWS_ENDPOINT_URL_S3", code, stderr.String())
	}
}
