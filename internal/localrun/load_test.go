package localrun_test

// Mass-recovery scenarios: many events at once, sent to the intake (the
// runner's stand-ins for the SQS queue and the Pipe, which starts one
// execution per batch of events), on the real definition and engine, with Lambda's concurrency enforced by the
// local Invoke API (429 TooManyRequestsException beyond it), an execution
// environment per concurrent invocation (each its own pgx pool and S3
// client) and a Postgres role whose CONNECTION LIMIT Postgres itself
// enforces.
//
// Time is scaled (LoadConfig.TimeScale): the engine's timers run that many
// times faster, so the definition's Retry policy (IntervalSeconds,
// BackoffRate, MaxDelaySeconds, full jitter, MaxAttempts) plays out in
// seconds as it would in minutes or hours; task timeouts are lengthened by
// the same factor, and the copies' duration (CopyDelay) and the database
// outage are given in scaled time.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/loadsim"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// loadWorld is one load scenario's services and seeded files.
type loadWorld struct {
	t     *testing.T
	ctx   context.Context
	load  *loadsim.Load
	db    *pgxpool.Pool
	log   *childproc.Output
	s3srv *s3server.Server
}

// newLoadWorld starts an S3 server and a schema of its own and prepares a
// load run with cfg (RepoRoot, Getenv, Buckets filled in).
func newLoadWorld(t *testing.T, cfg loadsim.LoadConfig) *loadWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("starts versitygw and runs many executions")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "load")
	srv := s3server.StartBackendForTest(t, s3server.BackendVersityGW, restoreBucket, archiveBucket)
	env := map[string]string{
		"DATABASE_URL":          dbURL,
		"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_REGION":            srv.Region,
	}
	w := &loadWorld{t: t, ctx: context.Background(), log: &childproc.Output{Max: 1 << 20}, s3srv: srv}
	w.prepare(cfg, root, dbURL, env)
	return w
}

// prepare prepares the load run of a world whose S3 peer env names (or the
// S3 model, cfg.S3Model) and counts the outcome updates of each row.
func (w *loadWorld) prepare(cfg loadsim.LoadConfig, root, dbURL string, env map[string]string) {
	t := w.t
	var err error
	cfg.RepoRoot = root
	cfg.Getenv = func(k string) string { return env[k] }
	cfg.Buckets = []string{restoreBucket, archiveBucket}
	cfg.ServerLog = w.log
	if os.Getenv("E2E_SHOW_OUTPUT") != "" {
		cfg.Progress = os.Stderr
	}
	w.load, err = loadsim.NewLoad(w.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.load.Close)
	w.db, err = pgxpool.New(w.ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.db.Close)
	// Count the updates of each row that record an outcome, to show each is
	// recorded once. The workflow's marks (Find open job, Mark copy resumed)
	// change only last_update_time of an inprogress row: not counted.
	for _, stmt := range []string{
		`CREATE TABLE row_updates (request_id uuid PRIMARY KEY, n int NOT NULL)`,
		`CREATE FUNCTION count_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
			INSERT INTO row_updates VALUES (NEW.request_id, 1)
			ON CONFLICT (request_id) DO UPDATE SET n = row_updates.n + 1; RETURN NEW; END $$`,
		`CREATE TRIGGER count_update AFTER UPDATE ON request_status FOR EACH ROW
			WHEN (OLD.job_status IS DISTINCT FROM 'inprogress' OR NEW.job_status IS DISTINCT FROM 'inprogress'
				OR OLD.err_msg IS DISTINCT FROM NEW.err_msg)
			EXECUTE FUNCTION count_update()`,
	} {
		if _, err := w.db.Exec(w.ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if w.load.Role != "" {
		if _, err := w.db.Exec(w.ctx, fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE ON row_updates TO %q`, w.load.Role)); err != nil {
			t.Fatal(err)
		}
	}
}

// seed puts n objects under prefix in the restore bucket and an open job
// for each (withJob), and returns one single-file classic event per file.
func (w *loadWorld) seed(prefix string, n int, withObject, withJob bool) [][]byte {
	w.t.Helper()
	h := &harness{t: w.t, ctx: w.ctx, db: w.db}
	h.s3, _ = w.s3srv.Client(w.ctx)
	var events [][]byte
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s/file-%04d.dat", prefix, i)
		if withObject {
			h.putObject(key, []byte("restored "+key)) // the body the event's size and eTag describe
		}
		if withJob {
			h.insertJob(key)
		}
		body := []byte("restored " + key)
		events = append(events, classicEvent(w.t, restoredFile{key: key, size: len(body), etag: md5Hex(body)}))
	}
	return events
}

func (w *loadWorld) run(events [][]byte) *loadsim.LoadReport {
	w.t.Helper()
	return w.runFor(events, 4*time.Minute)
}

// runFor runs the events, failing the test when the run takes more than
// limit (a guard against a hung run, not a measure).
func (w *loadWorld) runFor(events [][]byte, limit time.Duration) *loadsim.LoadReport {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.ctx, limit)
	defer cancel()
	rep, err := w.load.Run(ctx, events)
	if err != nil {
		w.t.Fatalf("load run: %v\nserver log:\n%s", err, w.log.String())
	}
	w.t.Logf("%d events: %+v", len(events), summary(rep))
	return rep
}

func summary(r *loadsim.LoadReport) string {
	return fmt.Sprintf("executions %+v failures %v files %+v intake %+v throttles %d environments %v peak in flight %d peak db %d seconds %.1f (x%g) per file %+v $/M files %.2f %v",
		r.Executions, r.Failures, r.Files, r.Intake, r.Throttles, r.Environments, r.PeakInFlight, r.PeakDBConnections, r.Seconds, r.TimeScale,
		r.PerFile, r.CostPerMillionFilesUSD, r.CostItems)
}

// updatesPerRow returns how many rows were updated once, and the rows
// updated more than once.
func (w *loadWorld) updatesPerRow() (once int, more []string) {
	w.t.Helper()
	rows, err := w.db.Query(w.ctx, `SELECT request_id::text, n FROM row_updates`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			w.t.Fatal(err)
		}
		if n == 1 {
			once++
		} else {
			more = append(more, id+"="+strconv.Itoa(n))
		}
	}
	return once, more
}

// loadSize returns n, or LOAD_SCALE times n for the bench-sized runs.
func loadSize(n int) int {
	if f, err := strconv.Atoi(os.Getenv("LOAD_SCALE")); err == nil && f > 1 {
		return n * f
	}
	return n
}

// TestLoadBurst: single-file events all at once against account
// concurrency 20 and a database limit of 10 sessions: one execution per
// batch of the Pipe's size, every file complete, each row updated once, no
// execution failed. (The 1,000 events run with LOAD_SCALE=5.)
func TestLoadBurst(t *testing.T) {
	w := newLoadWorld(t, loadsim.LoadConfig{AccountConcurrency: 20, DBMaxConnections: 10, TimeScale: 20})
	n := loadSize(200)
	events := w.seed("burst", n, true, true)
	rep := w.run(events)
	batches := (n + w.load.Pipe.BatchSize - 1) / w.load.Pipe.BatchSize
	if rep.Executions.Started != batches || rep.Executions.Succeeded != batches || rep.Executions.Failed != 0 {
		t.Errorf("executions %+v (failures %v), want %d started (batches of %d), all succeeded", rep.Executions, rep.Failures, batches, w.load.Pipe.BatchSize)
	}
	if rep.Files.Complete != n {
		t.Errorf("files %+v, want %d complete", rep.Files, n)
	}
	if once, more := w.updatesPerRow(); once != n || len(more) > 0 {
		t.Errorf("%d rows updated once, want %d; updated more than once: %v", once, n, more)
	}
	if rep.PeakDBConnections > 10 {
		t.Errorf("peak database sessions %d: above the role's limit of 10", rep.PeakDBConnections)
	}
	if rep.PeakInFlight > 20 {
		t.Errorf("peak invocations in flight %d: above the account concurrency of 20", rep.PeakInFlight)
	}
	if rep.Throttles == 0 {
		t.Errorf("no invocation was throttled: the burst did not saturate the account")
	}
}

// TestLoadSaturation: copies that hold all of the account's concurrency
// for far longer than a fixed retry budget of minutes (4 concurrent, 40
// copies of 3 minutes each: 30 minutes of queueing, scaled): every file
// complete.
//
// Time runs 60 times faster, not 600: every hop of the local runner (an
// engine transition, a Lambda call through the Invoke API) takes its
// milliseconds in real time, which the scale multiplies. At 600 a round of
// the Express lane (a dozen hops) gains about a minute and a half of scaled
// time that AWS, whose hops take tens of milliseconds, does not spend: the
// same run measured 63% of the throughput bound at 600, 90% at 60
// (docs/concurrency.md).
func TestLoadSaturation(t *testing.T) {
	w := newLoadWorld(t, loadsim.LoadConfig{AccountConcurrency: 4, TimeScale: 60, CopyDelay: 3 * time.Minute})
	n := loadSize(40)
	events := w.seed("saturation", n, true, true)
	rep := w.run(events)
	checkAllComplete(t, rep, n)
	// n copies of 3 minutes, 4 at a time, take n*3/4 minutes at least.
	scaled := time.Duration(rep.Seconds*rep.TimeScale) * time.Second
	if least := time.Duration(n*3/4) * time.Minute; scaled < least*5/6 {
		t.Errorf("the run took %s scaled, want about %s at least: %d copies of 3 minutes, 4 at a time", scaled, least, n)
	}
	checkHeldCopiesBilled(t, rep, n)

	// The same copies unthrottled (a slot for each), for the cost per
	// file throttling adds. The figure, not a bound: bench-load's size
	// and docs/concurrency.md report it.
	base := newLoadWorld(t, loadsim.LoadConfig{AccountConcurrency: n, TimeScale: 60, CopyDelay: 3 * time.Minute})
	baseRep := base.run(base.seed("unthrottled", n, true, true))
	checkAllComplete(t, baseRep, n)
	checkHeldCopiesBilled(t, baseRep, n)
	perHour := float64(n) / scaled.Hours()
	t.Logf("saturation figure: %d copies of 3 min at C = 4: $%.2f per million files, %.2f times the same copies unthrottled ($%.2f); %.0f files/h, %.0f%% of the bound of 80; %.3f transitions per file (unthrottled %.3f)",
		n, rep.CostPerMillionFilesUSD, rep.CostPerMillionFilesUSD/baseRep.CostPerMillionFilesUSD, baseRep.CostPerMillionFilesUSD,
		perHour, perHour/80*100, rep.PerFile.StandardTransitions, baseRep.PerFile.StandardTransitions)
	t.Logf("saturation items %v; unthrottled items %v", rep.CostItems, baseRep.CostItems)
}

// checkHeldCopiesBilled: the copy functions' billed duration counts each
// of n copies held for its 3 minutes of scaled time, as Lambda would bill
// an invocation waiting on a 3-minute copy.
func checkHeldCopiesBilled(t *testing.T, rep *loadsim.LoadReport, n int) {
	t.Helper()
	billed := rep.Functions[statemachine.FunctionCopyFileExpress].BilledMs + rep.Functions[statemachine.FunctionCopyFile].BilledMs
	if least := int64(n) * (3 * time.Minute).Milliseconds(); billed < least {
		t.Errorf("the copy functions billed %d ms, want at least %d: %d copies held 3 minutes each", billed, least, n)
	}
}

// TestLoadDatabaseOutage: the database refuses every connection for five
// minutes (scaled) in the middle of a burst, once a quarter of the files are
// complete: every file complete once it returns.
func TestLoadDatabaseOutage(t *testing.T) {
	const scale = 100
	w := newLoadWorld(t, loadsim.LoadConfig{AccountConcurrency: 20, DBMaxConnections: 10, TimeScale: scale, Rate: 100})
	n := loadSize(100)
	events := w.seed("outage", n, true, true)
	// Down once a quarter of the files are complete, for 5 minutes scaled.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		table := requeststatus.NewTable(w.db)
		for done := int64(0); done < int64(n/4); time.Sleep(10 * time.Millisecond) {
			counts, err := table.CountByStatus(w.ctx, requeststatus.Selection{})
			if err != nil {
				t.Errorf("count complete rows: %v", err)
				return
			}
			done = counts[requeststatus.StatusComplete]
		}
		if err := w.load.DatabaseOutage(w.ctx, true); err != nil {
			t.Errorf("outage: %v", err)
		}
		time.Sleep(5 * time.Minute / scale)
		if err := w.load.DatabaseOutage(w.ctx, false); err != nil {
			t.Errorf("end of outage: %v", err)
		}
	}()
	rep := w.run(events)
	wg.Wait()
	checkAllComplete(t, rep, n)
	if once, more := w.updatesPerRow(); once != n || len(more) > 0 {
		t.Errorf("%d rows updated once, want %d; updated more than once: %v", once, n, more)
	}
}

// checkAllComplete: every execution succeeded and every one of n files is
// complete.
func checkAllComplete(t *testing.T, rep *loadsim.LoadReport, n int) {
	t.Helper()
	if rep.Executions.Started == 0 || rep.Executions.Succeeded != rep.Executions.Started || rep.Files.Complete != n {
		t.Errorf("executions %+v (failures %v), files %+v: want all succeeded and %d complete", rep.Executions, rep.Failures, rep.Files, n)
	}
}

// TestLoadDatabaseOutageOutlastsRetries: the database refuses every
// connection for longer than the status tasks retry (all the run, about 3
// hours scaled): no file's row leaves inprogress unseen, each such file is in
// its execution's CopyRequestError with its event's line and a re-run input
// naming it.
func TestLoadDatabaseOutageOutlastsRetries(t *testing.T) {
	w := newLoadWorld(t, loadsim.LoadConfig{AccountConcurrency: 10, DBMaxConnections: 5, TimeScale: 2000})
	n := 10
	events := w.seed("longoutage", n, true, true)
	if err := w.load.DatabaseOutage(w.ctx, true); err != nil {
		t.Fatal(err)
	}
	rep := w.run(events)
	if rep.Executions.Failed != rep.Executions.Started || rep.Failures["CopyRequestError"] != rep.Executions.Started || rep.Files.Unrecorded != n {
		t.Fatalf("executions %+v, failures %v, files %+v: want every execution failed with CopyRequestError, every row inprogress", rep.Executions, rep.Failures, rep.Files)
	}
	listed := map[string]int{}
	for _, f := range rep.Failed {
		for _, file := range f.Files {
			listed[file.Key] = file.Line
			if !strings.Contains(string(f.RerunInput), file.Key) {
				t.Errorf("execution %d: re-run input %s does not name %s", f.Execution, f.RerunInput, file.Key)
			}
		}
	}
	for i, ev := range events {
		key := eventFiles(t, ev)[0].key
		if line, ok := listed[key]; !ok || line != i+1 {
			t.Errorf("%s: listed %v with line %d, want listed with its event's line %d", key, ok, line, i+1)
		}
	}
}

// TestLoadMixed: among the events, files without an open job and files
// without a source object fail, with their reasons; the others complete.
// On both engines: the moto engine's driver also runs many executions in
// one process (fewer here: moto's interpreter runs them slowly, about one
// event a second on two cores).
func TestLoadMixed(t *testing.T) {
	for _, tc := range []struct {
		engine    string
		good, bad int
	}{{stepengine.EngineNode, 30, 5}, {stepengine.EngineMoto, 10, 2}} {
		t.Run(tc.engine, func(t *testing.T) {
			if tc.engine == stepengine.EngineMoto {
				requireMoto(t)
			}
			testLoadMixed(t, tc.engine, tc.good, tc.bad)
		})
	}
}

func testLoadMixed(t *testing.T, engine string, nGood, nBad int) {
	w := newLoadWorld(t, loadsim.LoadConfig{Engine: engine, AccountConcurrency: 10, DBMaxConnections: 5, TimeScale: 20})
	good := w.seed("mixed/good", nGood, true, true)
	noJob := w.seed("mixed/nojob", nBad, true, false)
	noObject := w.seed("mixed/noobject", nBad, false, true)
	var events [][]byte
	for i := range good {
		events = append(events, good[i])
		if i < len(noJob) {
			events = append(events, noJob[i], noObject[i])
		}
	}
	rep := w.run(events)
	// One batch: its execution fails with CopyRequestError listing exactly
	// the bad files.
	if rep.Executions.Started != 1 || rep.Executions.Failed != 1 || rep.Failures["CopyRequestError"] != 1 {
		t.Errorf("executions %+v, failures %v: want the batch's one execution failed with CopyRequestError", rep.Executions, rep.Failures)
	}
	failedFiles := 0
	for _, f := range rep.Failed {
		for _, file := range f.Files {
			failedFiles++
			if !strings.HasPrefix(file.Key, "mixed/nojob/") && !strings.HasPrefix(file.Key, "mixed/noobject/") {
				t.Errorf("failed file %s (%s): a good file", file.Key, file.Reason)
			}
		}
	}
	if failedFiles != 2*nBad {
		t.Errorf("%d failed files listed, want the %d bad ones", failedFiles, 2*nBad)
	}
	// Both engines bill the Express children they ran (moto from each
	// child's own history): at least one request, and the parent's five
	// states with one transition per child started.
	children := math.Round(rep.PerFile.ExpressRequests * float64(rep.Files.Total))
	if transitions := math.Round(rep.PerFile.StandardTransitions * float64(rep.Files.Total)); children < 1 || transitions < 5+children ||
		!strings.HasPrefix(rep.StepFunctionsCounted, "parents and children") {
		t.Errorf("%v Express children, %v Standard transitions (%s): want at least one child, and the parent's 5 states and a transition per child",
			children, transitions, rep.StepFunctionsCounted)
	}
	if rep.Files.Complete != nGood || rep.Files.Error != nBad || rep.Files.NoJob != nBad || rep.Files.Unrecorded != 0 {
		t.Errorf("files %+v: want %d complete, %d error (no source object), %d without a job", rep.Files, nGood, nBad, nBad)
	}
	// The state machine's log (at ERROR) holds the failures' events, under
	// either engine's event names, each with its error and cause: the
	// failed copies and lookups, the aggregate's and the execution's
	// failure (the CopyRequestError cause is the batch's failure report),
	// and the retried calls the connection limit refused. Measured with one
	// execution per event: on Node 9.6 to 10 KB per failed file, on moto
	// 2.2 KB. Over 14 KB per failed file on Node means error events counted
	// with the states' inputs, which AWS does not log with them.
	smBytes := rep.LogBytesPerFileBySource[loadsim.LogSourceStateMachine] * float64(rep.Files.Total)
	t.Logf("log bytes per file by source %v; state machine %.0f bytes per failed file", rep.LogBytesPerFileBySource, smBytes/float64(max(failedFiles, 1)))
	if smBytes <= 0 {
		t.Errorf("state machine log: no bytes, want the failed files' error events")
	}
	if perFailed := smBytes / float64(max(failedFiles, 1)); engine == stepengine.EngineNode && perFailed > 14000 {
		t.Errorf("state machine log: %.0f bytes per failed file, want at most 14000", perFailed)
	}
	failed, err := requeststatus.NewTable(w.db).RowsWithStatus(w.ctx, requeststatus.StatusError)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range failed {
		key, msg := row.ObjectKey, row.ErrMsg
		if !strings.HasPrefix(key, "mixed/noobject/") || !strings.Contains(msg, "NoSuchKey") {
			t.Errorf("error row %s: %q, want only the files without a source object, with NoSuchKey", key, msg)
		}
	}
}

// TestLoadReportsFigures: the billed units of one-file and ten-file
// events, on an unsaturated account, are what the batched definition
// implies for three events (one batch, one chunk, nothing for the Standard
// lane): Standard transitions are the parent's five states (Read restored
// files, Copy chunks, Sort results, Go round again?, Report results: the
// chunks are cut in ResultSelectors, and an empty Standard lane is not
// entered) and the one Express child it starts, whose own states are not
// transitions; one Express request; Lambda requests are
// parse, find_open_jobs, per file copy and record, sort and report; one
// StartExecution; the intake's SQS calls are a SendMessage per event, the
// Pipe's ReceiveMessage calls and a DeleteMessageBatch per 10 messages; a
// Pipes request per message.
func TestLoadReportsFigures(t *testing.T) {
	for _, tc := range []struct {
		name          string
		filesPerEvent int
		maxLogBytes   float64 // per file (see checkLogBytes)
	}{
		{"one file per event", 1, 3500},
		{"ten files per event", 10, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newLoadWorld(t, loadsim.LoadConfig{})
			var events [][]byte
			for e := 0; e < 3; e++ {
				var files []restoredFile
				for _, ev := range w.seed(fmt.Sprintf("figures/%d", e), tc.filesPerEvent, true, true) {
					files = append(files, eventFiles(t, ev)...)
				}
				events = append(events, classicEvent(t, files...))
			}
			rep := w.run(events)
			n := 3 * tc.filesPerEvent
			if rep.Files.Complete != n || rep.Executions.Started != 1 {
				t.Fatalf("files %+v, executions %+v: want %d complete, one execution", rep.Files, rep.Executions, n)
			}
			checkBilledUnits(t, rep, len(events), n)
			checkLogBytes(t, rep, tc.maxLogBytes)
			p := rep.PerFile
			if rep.Throttles != 0 || p.LambdaGBSeconds <= 0 || p.ExpressGBSeconds <= 0 || rep.CostPerMillionFilesUSD <= 0 {
				t.Errorf("figures %s: want no throttles, some Lambda and Express GB-seconds, a cost", summary(rep))
			}
			// S3 (docs/concurrency.md, cost per file): per file CopyObject
			// alone (the event gives the size and ETag, so no HeadObject of
			// the source; versitygw answers the source's MD5 ETag, which
			// proves the copy: no HeadObject of the archive copy); per new
			// copy-file environment one HeadBucket per bucket it sends a
			// request to (the region lookup it then remembers), here the
			// archive bucket only: the restore bucket is named in the
			// CopyObject's copy source.
			wantGet := float64(copyEnvironments(rep)) / float64(n)
			if p.S3PutClass != 1 || math.Abs(p.S3GetClass-wantGet) > 0.01 {
				t.Errorf("S3 requests per file: %.2f PUT-class + %.2f GET-class, want 1 + %.2f (%d copy environments for %d files)",
					p.S3PutClass, p.S3GetClass, wantGet, copyEnvironments(rep), n)
			}
		})
	}
}

// checkBilledUnits checks the per-file units of a run of events holding
// files files, all copied in one batch and one chunk by the Express lane.
func checkBilledUnits(t *testing.T, rep *loadsim.LoadReport, events, files int) {
	t.Helper()
	n := float64(files)
	in := rep.Intake
	if in.SendMessage != events || in.DeleteMessageBatch != (events+9)/10 || in.ReceiveMessage < 1 || in.PipeRequests != events {
		t.Errorf("intake %+v: want %d SendMessage, %d DeleteMessageBatch, some ReceiveMessage, %d Pipes requests", in.IntakeCalls, events, (events+9)/10, events)
	}
	want := loadsim.BilledUnits{
		StandardTransitions: 6 / n, ExpressRequests: 1 / n, StartExecutions: 1 / n,
		LambdaRequests: float64(4+2*files) / n,
		SQSRequests:    float64(in.SendMessage+in.ReceiveMessage+in.DeleteMessageBatch) / n,
		PipeRequests:   float64(events) / n,
	}
	got := rep.PerFile
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"standard_transitions", got.StandardTransitions, want.StandardTransitions},
		{"express_requests", got.ExpressRequests, want.ExpressRequests},
		{"start_executions", got.StartExecutions, want.StartExecutions},
		{"lambda_requests", got.LambdaRequests, want.LambdaRequests},
		{"sqs_requests", got.SQSRequests, want.SQSRequests},
		{"pipe_requests", got.PipeRequests, want.PipeRequests},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s per file %.4f, want %.4f (%s)", c.name, c.got, c.want, summary(rep))
		}
	}
}

// checkLogBytes pins the log bytes per file of a run of small copies that
// all succeed, as CloudWatch Logs would ingest them at the deployed levels
// (loadsim's logbytes.go): no state machine line (its log is at ERROR and
// nothing failed), and the functions' lines within max. Measured when the
// bound was set: 2.9 KB per file with one file per event (request-status
// 1.6 KB: two call lines of about 700 bytes, each with its EMF metrics, and
// one "pool configured" line per new environment, here one per file;
// copy-file 0.73 KB, its one outcome line; aggregate 0.35 KB; parse-event
// 0.2 KB) and 2.4 KB with ten (aggregate and parse-event write once per
// event). The bounds leave about 20% for the lines' variable fields
// (timestamps, durations, ids); a line more per file, a REPORT line per
// invocation or a state machine logging ALL breaks them. At $0.50 per GB,
// 3.5 KB per file is $1.63 per million files.
func checkLogBytes(t *testing.T, rep *loadsim.LoadReport, max float64) {
	t.Helper()
	t.Logf("log bytes per file %.0f by source %v: $%.2f per million files", rep.PerFile.LogBytes, rep.LogBytesPerFileBySource, rep.CostItems["log_ingestion"])
	if n := rep.LogBytesPerFileBySource[loadsim.LogSourceStateMachine]; n != 0 {
		t.Errorf("state machine log: %.0f bytes per file, want none at level %s for executions that succeeded without a retry", n, statemachine.LogLevel)
	}
	var sum float64
	for _, f := range statemachine.Functions {
		n, ok := rep.LogBytesPerFileBySource[f.Name]
		// A function not called (copy-file when no file needed the
		// Standard lane) logs nothing.
		if !ok || (n <= 0 && rep.Functions[f.Name].Requests > 0) {
			t.Errorf("no log bytes counted for %s: %v", f.Name, rep.LogBytesPerFileBySource)
		}
		sum += n
	}
	if math.Abs(sum-rep.PerFile.LogBytes) > 0.01 {
		t.Errorf("per_file.log_bytes %.1f is not the sum of its sources %.1f", rep.PerFile.LogBytes, sum)
	}
	if rep.PerFile.LogBytes > max {
		t.Errorf("log bytes per file %.0f, want at most %.0f: %v", rep.PerFile.LogBytes, max, rep.LogBytesPerFileBySource)
	}
}

// eventFiles returns the files of a classic event made by classicEvent.
func eventFiles(t *testing.T, event []byte) []restoredFile {
	t.Helper()
	var doc struct {
		Records []struct {
			S3 struct {
				Object struct {
					Key  string `json:"key"`
					Size int    `json:"size"`
					ETag string `json:"eTag"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(event, &doc); err != nil {
		t.Fatal(err)
	}
	var out []restoredFile
	for _, r := range doc.Records {
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, restoredFile{key: key, size: r.S3.Object.Size, etag: r.S3.Object.ETag})
	}
	return out
}

// TestLoadCommandJSON runs `load --json` as a user would: it exits 0 when
// every execution reached an end (here both fail: their files have no
// job), and prints the document the issue asks for.
func TestLoadCommandJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "loadcli")
	srv := s3server.StartBackendForTest(t, s3server.BackendVersityGW, restoreBucket, archiveBucket)
	env := map[string]string{
		"DATABASE_URL": dbURL, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_ACCESS_KEY_ID": srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey, "AWS_REGION": srv.Region,
	}
	var stdout, stderr strings.Builder
	cli := &localrun.CLI{Stdout: &stdout, Stderr: &stderr, Dir: root, Getenv: func(k string) string { return env[k] }}
	code := cli.Main(context.Background(), []string{"load", "--json", "--events", "testdata/load-two-events.ndjson",
		"--account-concurrency", "3", "--reserved", "request-status=1", "--db-max-connections", "2", "--log-file", filepath.Join(t.TempDir(), "load.log")})
	if code != localrun.ExitSucceeded {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, localrun.ExitSucceeded, stderr.String())
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout.String())
	}
	for _, field := range []string{"executions", "files", "intake", "throttles", "peak_environments", "peak_db_connections", "seconds",
		"per_file", "step_functions_counted", "cost_items_per_million_files_usd", "cost_per_million_files_usd", "prices"} {
		if _, ok := doc[field]; !ok {
			t.Errorf("the document has no %q:\n%s", field, stdout.String())
		}
	}
	// The two events are one batch: one execution.
	want := map[string]any{"started": 1.0, "succeeded": 0.0, "failed": 1.0}
	if diff := cmp.Diff(want, doc["executions"]); diff != "" {
		t.Errorf("executions (-want +got):\n%s", diff)
	}
	if files, _ := doc["files"].(map[string]any); files["no_job"] != 2.0 || files["unrecorded"] != 0.0 {
		t.Errorf("files %v: want both without a job, none unrecorded", doc["files"])
	}
	if n, _ := doc["peak_db_connections"].(float64); n > 1 {
		t.Errorf("peak_db_connections %v: request-status is reserved 1, one connection per environment", n)
	}

	// Without --json: a summary naming each failed event's files and why.
	stdout.Reset()
	stderr.Reset()
	code = cli.Main(context.Background(), []string{"load", "--events", "testdata/load-two-events.ndjson", "--log-file", filepath.Join(t.TempDir(), "load.log")})
	if code != localrun.ExitSucceeded {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", code, localrun.ExitSucceeded, stderr.String())
	}
	for _, want := range []string{"1 started, 0 succeeded, 1 failed", "line 1 ", "line 2 ", "no open job in request_status", "cost per million files", "local: load"} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, stdout.String(), stderr.String())
		}
	}
}
