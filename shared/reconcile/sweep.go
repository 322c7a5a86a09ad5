// Package reconcile brings into the copy workflow the restored files that
// no event brought in. Notifications may be off, a rule disabled, a
// dead-letter message expired, an execution never re-run. A sweep lists the
// request_status rows still 'inprogress' after a grace period. It asks S3
// what became of each restore. It starts executions for the files waiting
// to be copied. It records 'error' for those whose restore expired or
// whose object is gone. This is the reconcile Lambda's logic; `cmd/recovery
// rerun` and the local runner's `reconcile` use it too.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// ExecutionStarter is the part of the Step Functions client the sweep uses
// (the local runner has its own, on the local engine).
type ExecutionStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// The err_msg prefixes the sweep writes. On an 'inprogress' row,
// MarkStarted and MarkReRestored say what the sweep did. A later sweep that
// lists the row again knows it is stuck again. The workflow clears err_msg
// when it records the copy.
//
// MarkRestoreRunning says a sweep found the row's restore still running.
// Its last_update_time moved to then: no sweep asks S3 about it again
// before another grace period. A row whose err_msg says MarkReRestored
// keeps that message, which stops a second paid restore.
//
// MarkStartFailed says a sweep claimed the row but its execution did not
// start: the claim was undone (last_update_time back to the value listed),
// so the next sweep tries again and does not count it stuck again.
const (
	MarkStarted        = "reconcile: copy started by the sweep at "
	MarkReRestored     = "reconcile: restore requested again at "
	MarkStartFailed    = "reconcile: copy not started by the sweep at "
	MarkRestoreRunning = "reconcile: restore still running at "
)

// headConcurrency bounds the HeadObject calls in flight.
const headConcurrency = 16

// DefaultDeadlineMargin is how long before its context's deadline (the
// Lambda's timeout) a sweep stops listing rows and asking S3. It leaves
// time to record the page in hand and start its claimed files' executions.
// It leaves time to log the report and write the metrics.
const DefaultDeadlineMargin = time.Minute

// MaxNamedFiles bounds each list of Report.Files, so that a huge sweep's
// report (its log line, the Lambda's answer) stays small; the counts are
// complete.
const MaxNamedFiles = 50

// Reconciler runs sweeps.
type Reconciler struct {
	Config  Config
	DB      DB
	S3      ObjectStore
	SFN     ExecutionStarter
	Logger  *slog.Logger
	Metrics *metrics.Writer
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// DeadlineMargin is how long before ctx's deadline the sweep stops
	// listing and asking S3 (DefaultDeadlineMargin when 0), at most a
	// quarter of the time the sweep has.
	DeadlineMargin time.Duration
	// IntakeAge reads the intake queue's oldest message age; the sweep
	// holds off while it is older than Config.IntakeGrace (intake.go).
	// Nil: the sweep does not look.
	IntakeAge IntakeAgeReader
}

// Report is what one sweep found and did; its JSON form is the local
// runner's `reconcile --json` document.
type Report struct {
	Window string `json:"window"`
	// Stuck counts the rows listed: inprogress, not updated within the
	// grace period.
	Stuck int `json:"stuck"`
	// StuckAgain counts the listed rows a previous sweep had already
	// acted on (their err_msg starts with MarkStarted).
	StuckAgain int `json:"stuck_again"`
	// Waiting, Running, Expired, Missing count the listed rows by what S3
	// said of them.
	Waiting int `json:"waiting"`
	Running int `json:"running"`
	Expired int `json:"expired"`
	Missing int `json:"missing"`
	// NoArchive counts rows without archive_bucket_dest (recorded error).
	NoArchive int `json:"no_archive"`
	// ReRestored counts restores requested again.
	ReRestored int `json:"re_restored"`
	// Started counts executions started, AlreadyStarted those an earlier
	// sweep of the same window had started (same name).
	Started        int `json:"started"`
	AlreadyStarted int `json:"already_started"`
	// Skipped counts rows left for the next sweep: changed since listed,
	// or S3 could not be asked.
	Skipped int `json:"skipped"`
	// NotHere counts rows without restore_bucket_dest whose key none of
	// this stack's restore buckets has: left alone, never recorded as
	// missing (another stack's file, or one not restored yet).
	NotHere int `json:"not_here"`
	// NotReached counts rows listed but not asked about (HeadObject, or
	// RestoreObject for an expired restore to request again): the sweep
	// was cut short first. They are left for the next sweep.
	NotReached int `json:"not_reached,omitempty"`
	// Truncated says the sweep stopped listing at MaxFilesPerSweep waiting
	// files; the next sweep goes on.
	Truncated bool `json:"truncated,omitempty"`
	// CutShort says the sweep stopped before it had listed every stuck
	// row, DeadlineMargin before its deadline; the next sweep goes on.
	CutShort bool `json:"cut_short,omitempty"`
	// HeldOff says the sweep listed nothing and started nothing: the
	// intake queue's oldest message, IntakeOldestAgeSecs old, waited
	// longer than the intake grace, so its files are still in flight
	// (intake.go). IntakeOldestAgeSecs is set whenever the sweep read an
	// age.
	HeldOff             bool              `json:"held_off"`
	IntakeOldestAgeSecs *int64            `json:"intake_oldest_age_secs,omitempty"`
	Files               NamedFiles        `json:"files"`
	Executions          []ExecutionReport `json:"executions"`
	Problems            []string          `json:"problems,omitempty"`
	// Warnings do not fail the sweep: the reconcile indexes are missing
	// and could not be created (ensureIndexes), or the intake's age could
	// not be read (holdOff).
	Warnings []string `json:"warnings,omitempty"`
}

// NamedFiles names the files a sweep counted as missing, expired (recorded
// error or restored again), not here, and started. Each list holds at most
// MaxNamedFiles; LeftOut counts the rest.
type NamedFiles struct {
	Missing []FileRef `json:"missing"`
	Expired []FileRef `json:"expired"`
	NotHere []FileRef `json:"not_here"`
	Started []FileRef `json:"started"`
	LeftOut int       `json:"left_out,omitempty"`
}

// add appends f to *list unless it holds MaxNamedFiles already (then
// counts it in LeftOut).
func (n *NamedFiles) add(list *[]FileRef, f FileRef) {
	if len(*list) >= MaxNamedFiles {
		n.LeftOut++
		return
	}
	*list = append(*list, f)
}

// ExecutionReport is one execution the sweep started (or found started).
type ExecutionReport struct {
	Name           string    `json:"name"`
	ARN            string    `json:"arn,omitempty"`
	AlreadyStarted bool      `json:"already_started,omitempty"`
	Error          string    `json:"error,omitempty"`
	Files          []FileRef `json:"files"`
	// Input is the classic event the execution was started with.
	Input []byte `json:"-"`
}

// FileRef names one file of an execution.
type FileRef struct {
	RequestID string `json:"request_id"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
}

// SweepError means the sweep could not do all it should: a query failed, or
// executions could not be started. What it did is in its Report.
type SweepError struct {
	Problems []string
}

func (e *SweepError) Error() string {
	return fmt.Sprintf("reconcile sweep: %d problems: %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// now is the sweep clock: r.Now, else time.Now.
func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// log is r.Logger, else slog.Default.
func (r *Reconciler) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// WindowName is the sweep window of time t for a schedule of period: t
// truncated to the period, in UTC, as execution names carry it.
func WindowName(t time.Time, period time.Duration) string {
	if period <= 0 {
		period = time.Minute
	}
	return t.UTC().Truncate(period).Format("20060102T1504")
}

// pending is a file waiting to be copied, claimed by this sweep.
type pending struct {
	row     StuckRow
	restore Restore
}

// sweep is one run of Sweep: its clock, its report, the files it has
// claimed so far, and when it must stop listing.
type sweep struct {
	r       *Reconciler
	now     time.Time
	stamp   string // now, as the err_msg marks carry it
	rep     *Report
	claimed int
	// stopAt is DeadlineMargin before ctx's deadline (zero: none); listCtx
	// ends then, for the queries and HeadObject calls in flight.
	stopAt  time.Time
	listCtx context.Context
	// rows are request_status's sweep queries on r.DB.
	rows stuckRows
}

// Sweep runs one sweep. It holds off, doing nothing, while the intake
// queue's oldest message is older than Config.IntakeGrace (holdOff). It lists the stuck rows a page at a time
// (listPages). For each page it asks S3 about the rows, records what it
// found and starts the claimed files' executions (sweepPage). It stops
// listing DeadlineMargin before ctx's deadline (Report.CutShort). It
// returns the report, and a *SweepError when something failed; the report
// says what was done anyway.
func (r *Reconciler) Sweep(ctx context.Context) (*Report, error) {
	// The indexes first: a build (at most IndexBuildTimeout) comes before
	// the sweep's clock starts, and the deadline still bounds the sweep.
	warnings := r.ensureIndexes(ctx)
	s, cancel := r.newSweep(ctx)
	defer cancel()
	s.rep.Warnings = warnings
	if !s.holdOff(ctx) {
		s.listPages(ctx)
	}
	r.emit(ctx, s.rep)
	s.logDone(ctx)
	if len(s.rep.Problems) > 0 {
		return s.rep, &SweepError{Problems: s.rep.Problems}
	}
	return s.rep, nil
}

// newSweep starts a sweep at r's clock's now, with an empty report, to
// stop listing DeadlineMargin before ctx's deadline.
func (r *Reconciler) newSweep(ctx context.Context) (*sweep, context.CancelFunc) {
	now := r.now()
	s := &sweep{r: r, now: now, stamp: now.UTC().Format(time.RFC3339), listCtx: ctx, rows: requeststatus.NewTable(r.DB),
		rep: &Report{Window: WindowName(now, r.Config.Period), Executions: []ExecutionReport{},
			Files: NamedFiles{Missing: []FileRef{}, Expired: []FileRef{}, NotHere: []FileRef{}, Started: []FileRef{}}}}
	cancel := context.CancelFunc(func() {})
	if deadline, ok := ctx.Deadline(); ok {
		margin := r.DeadlineMargin
		if margin <= 0 {
			margin = DefaultDeadlineMargin
		}
		if left := deadline.Sub(now); left > 0 {
			margin = min(margin, left/4) // a short invocation still sweeps
		}
		s.stopAt = deadline.Add(-margin)
		s.listCtx, cancel = context.WithDeadline(ctx, s.stopAt)
	}
	return s, cancel
}

// pastStop reports whether the time to stop listing and asking S3 has
// come.
func (s *sweep) pastStop() bool {
	return !s.stopAt.IsZero() && (!s.r.now().Before(s.stopAt) || s.listCtx.Err() != nil)
}

// timeUp is pastStop, and says so in the report.
func (s *sweep) timeUp() bool {
	if !s.pastStop() {
		return false
	}
	s.rep.CutShort = true
	return true
}

// maxFiles bounds the files of one execution: MaxFilesPerExecution, else
// DefaultMaxFilesPerExecution.
func (r *Reconciler) maxFiles() int {
	if n := r.Config.MaxFilesPerExecution; n > 0 {
		return n
	}
	return DefaultMaxFilesPerExecution
}

// listPages sweeps the stuck rows page by page until none is left, a query
// fails (a problem), MaxFilesPerSweep files are claimed (Truncated), or
// time is up (CutShort).
func (s *sweep) listPages(ctx context.Context) {
	cfg := s.r.Config
	q := requeststatus.StuckPage{Cutoff: s.now.Add(-cfg.Grace), After: requeststatus.FirstPage, Limit: cfg.PageSize, Buckets: cfg.RestoreBuckets}
	if q.Limit <= 0 {
		q.Limit = DefaultPageSize
	}
	for {
		if s.timeUp() {
			return
		}
		rows, err := s.rows.ListStuck(s.listCtx, q)
		if err != nil && s.timeUp() {
			return
		}
		if err != nil {
			s.problem(err.Error())
			return
		}
		if len(rows) == 0 {
			return
		}
		s.sweepPage(ctx, rows)
		if len(rows) < q.Limit {
			return
		}
		if cfg.MaxFilesPerSweep > 0 && s.claimed >= cfg.MaxFilesPerSweep {
			s.rep.Truncated = true // the rest waits for the next sweep
			return
		}
		q = q.Next(rows)
	}
}

// sweepPage runs one page's steps in order. It counts the rows and asks
// S3 about each until time is up (the rest are not reached). It classifies
// the answers and records the outcomes. It claims the waiting files and
// starts their executions.
func (s *sweep) sweepPage(ctx context.Context, rows []StuckRow) {
	s.count(rows)
	answers := s.askS3(rows)
	var reached []StuckRow
	var got []answer
	for i, a := range answers {
		if a.notReached {
			s.rep.NotReached++
			continue
		}
		reached, got = append(reached, rows[i]), append(got, a)
	}
	updates, waiting := s.classify(ctx, reached, got)
	claimed := s.record(ctx, updates, waiting)
	s.claimed += len(claimed)
	s.startBatches(ctx, claimed)
}

// count adds rows to the report's Stuck and StuckAgain.
func (s *sweep) count(rows []StuckRow) {
	for _, row := range rows {
		s.rep.Stuck++
		if strings.HasPrefix(row.ErrMsg, MarkStarted) {
			s.rep.StuckAgain++
		}
	}
}

// answer is what S3 said of one row's file, or why it could not be asked;
// notReached: time was up before it was asked.
type answer struct {
	restore    Restore
	err        error
	notReached bool
}

// askS3 finds each row's restore, headConcurrency HeadObject calls at a
// time, until time is up; answers[i] is rows[i]'s.
func (s *sweep) askS3(rows []StuckRow) []answer {
	finder := RestoreFinder{S3: s.r.S3, Buckets: s.r.Config.RestoreBuckets, Now: s.now}
	answers := make([]answer, len(rows))
	var wg sync.WaitGroup
	sem := make(chan struct{}, headConcurrency)
	for i, row := range rows {
		sem <- struct{}{}
		if s.timeUp() {
			<-sem
			for j := i; j < len(rows); j++ {
				answers[j].notReached = true
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			answers[i].restore, answers[i].err = finder.Find(s.listCtx, row.RestoreBucketDest, row.ObjectKey)
			if answers[i].err != nil && s.pastStop() {
				answers[i].notReached = true // cut off at the deadline: not a problem
			}
		}()
	}
	wg.Wait()
	for _, a := range answers {
		if a.notReached {
			s.rep.CutShort = true
		}
	}
	return answers
}

// classify returns the updates the answers call for and the files waiting
// to be copied. The updates are errors, restores requested again, then the
// claims. A row S3 could not be asked about is skipped, with a problem.
func (s *sweep) classify(ctx context.Context, rows []StuckRow, answers []answer) ([]requeststatus.GuardedUpdate, []pending) {
	var updates []requeststatus.GuardedUpdate
	var waiting []pending
	for i, row := range rows {
		if err := answers[i].err; err != nil {
			s.rep.Skipped++
			s.problem(fmt.Sprintf("request %s: %v", row.RequestID, err))
			continue
		}
		u, wait := s.decide(ctx, row, answers[i].restore)
		if u != nil {
			updates = append(updates, *u)
		}
		if wait {
			waiting = append(waiting, pending{row: row, restore: answers[i].restore})
		}
	}
	for _, p := range waiting {
		updates = append(updates, s.claim(p.row))
	}
	return updates, waiting
}

// decide counts row under what S3 said of its file and returns the update
// to record (nil for none) and whether the file waits to be copied.
func (s *sweep) decide(ctx context.Context, row StuckRow, res Restore) (*requeststatus.GuardedUpdate, bool) {
	where := describeWhere(row, s.r.Config.RestoreBuckets, res.Bucket)
	switch res.State {
	case StateRunning:
		s.rep.Running++
		s.r.log().InfoContext(ctx, "reconcile: restore still running; not asked again for a grace period",
			"request_id", row.RequestID, "bucket", res.Bucket, "key", row.ObjectKey)
		return update(row, statusInProgress, s.runningMessage(row)), false
	case StateWaiting:
		s.rep.Waiting++
		if row.ArchiveBucketDest != "" {
			return nil, true
		}
		s.rep.NoArchive++
		return update(row, statusError, noArchiveMessage(where, row)), false
	case StateExpired:
		u, reached := s.expired(ctx, row, res, where)
		if !reached {
			s.rep.NotReached++
			return nil, false
		}
		s.rep.Expired++
		s.rep.Files.add(&s.rep.Files.Expired, FileRef{RequestID: row.RequestID, Bucket: res.Bucket, Key: row.ObjectKey})
		return &u, false
	case StateMissing:
		if row.RestoreBucketDest == "" {
			// Not in this stack's buckets: maybe another stack's file
			// (one database may serve several), maybe not restored yet.
			s.rep.NotHere++
			s.rep.Files.add(&s.rep.Files.NotHere, FileRef{RequestID: row.RequestID, Key: row.ObjectKey})
			s.r.log().InfoContext(ctx, "reconcile: row without restore_bucket_dest not found in this stack's restore buckets; left alone",
				"request_id", row.RequestID, "key", row.ObjectKey, "buckets", strings.Join(s.r.Config.RestoreBuckets, ","))
			return nil, false
		}
		s.rep.Missing++
		s.rep.Files.add(&s.rep.Files.Missing, FileRef{RequestID: row.RequestID, Bucket: row.RestoreBucketDest, Key: row.ObjectKey})
		return update(row, statusError, missingMessage(where)), false
	}
	return nil, false
}

// runningMessage is the err_msg of a row whose restore is still running:
// MarkRestoreRunning. When a sweep requested this restore, MarkReRestored
// stays, so an expiry after it is not restored a third time.
func (s *sweep) runningMessage(row StuckRow) string {
	if strings.HasPrefix(row.ErrMsg, MarkReRestored) {
		return row.ErrMsg
	}
	return fmt.Sprintf("%s%s: not asked again for %s", MarkRestoreRunning, s.stamp, s.r.Config.Grace)
}

// expired is the update for a file archived again. It requests the
// restore again when ReRestore is on, no sweep did so before and S3
// accepts. Otherwise it is an error saying what expired. reached is false
// when the restore was to be requested again but the sweep's stop time
// had come (as for HeadObject, no RestoreObject is issued after it, and
// one cut off by it is not a problem): the row is left as it was, for the
// next sweep.
func (s *sweep) expired(ctx context.Context, row StuckRow, res Restore, where string) (u requeststatus.GuardedUpdate, reached bool) {
	if s.r.Config.ReRestore && !strings.HasPrefix(row.ErrMsg, MarkReRestored) {
		if s.timeUp() {
			return u, false
		}
		msg, ok, cut := s.reRestore(ctx, row, res)
		if cut {
			s.rep.CutShort = true
			return u, false
		}
		if ok {
			return *update(row, statusInProgress, msg), true
		}
	}
	return *update(row, statusError, expiredMessage(where, res, row)), true
}

// reRestore requests the restore again, on the sweep's listing context
// (it ends at the stop time); ok is false when S3 refused (a problem; the
// row is then recorded as expired), cut is true when the call failed past
// the stop time (not a problem).
func (s *sweep) reRestore(ctx context.Context, row StuckRow, res Restore) (msg string, ok, cut bool) {
	cfg := s.r.Config
	req, err := ReRestoreRequest(res, cfg.ReRestoreDays, cfg.ReRestoreTier)
	if err == nil {
		_, err = s.r.S3.RestoreObject(s.listCtx, &s3.RestoreObjectInput{
			Bucket: aws.String(res.Bucket), Key: aws.String(row.ObjectKey), RestoreRequest: req})
		if err != nil && s.pastStop() {
			return "", false, true
		}
	}
	if err != nil {
		s.problem(fmt.Sprintf("request %s: RestoreObject s3://%s/%s: %v", row.RequestID, res.Bucket, row.ObjectKey, err))
		return "", false, false
	}
	s.rep.ReRestored++
	s.r.log().WarnContext(ctx, "reconcile: restore requested again (RECONCILE_RERESTORE is on)",
		"request_id", row.RequestID, "bucket", res.Bucket, "key", row.ObjectKey,
		"storage_class", res.StorageClass, "archive_status", res.ArchiveStatus, "request", describeRestoreRequest(req))
	return fmt.Sprintf("%s%s (%s): the earlier restore had expired before any copy", MarkReRestored,
		s.stamp, describeRestoreRequest(req)), true, false
}

// claim is the update claiming a waiting file. Its last_update_time moves
// to now, so no sweep lists it again within the grace period. Its err_msg
// says this sweep started its copy.
func (s *sweep) claim(row StuckRow) requeststatus.GuardedUpdate {
	return *update(row, statusInProgress, s.claimMessage())
}

// claimMessage is the err_msg of this sweep's claims.
func (s *sweep) claimMessage() string {
	return fmt.Sprintf("%s%s: no event had copied this restored file within %s", MarkStarted, s.stamp, s.r.Config.Grace)
}

// unclaim undoes the claims of batch, whose execution did not start
// (requeststatus.Table.UndoClaims: only rows still carrying this sweep's
// claim). A claim left in place would say the copy started although
// nothing did, keep the rows from the next sweeps for a grace period, and
// have them counted StuckAgain then. So last_update_time goes back to the
// value listed: the next sweep retries the files at once. err_msg says
// MarkStartFailed and why, rather than the err_msg before the claim: an
// operator reading the row sees that a sweep found the file restored and
// could not start its copy, and the next sweep's claim replaces it.
func (s *sweep) unclaim(ctx context.Context, batch []pending, why string) {
	msg := fmt.Sprintf("%s%s: %s; the next sweep tries again", MarkStartFailed, s.stamp, why)
	claims := make([]requeststatus.UndoneClaim, len(batch))
	for i, p := range batch {
		claims[i] = requeststatus.UndoneClaim{Row: p.row, Claim: s.claimMessage(), ErrMsg: msg}
	}
	undone, err := s.rows.UndoClaims(ctx, claims)
	if err != nil {
		s.problem(fmt.Sprintf("undo the claims of %d files whose execution did not start (they are retried after the grace period): %v", len(batch), err))
		return
	}
	for _, p := range batch {
		if !undone[p.row.RequestID] {
			s.r.log().InfoContext(ctx, "reconcile: claimed row changed since; its claim is left to it", "request_id", p.row.RequestID, "key", p.row.ObjectKey)
		}
	}
}

// update is the guarded update setting row's job_status and err_msg.
func update(row StuckRow, status, errMsg string) *requeststatus.GuardedUpdate {
	return &requeststatus.GuardedUpdate{Row: row, Status: status, ErrMsg: errMsg}
}

// record applies the guarded updates and returns the waiting files it
// claimed. A row changed since listed is skipped. When the update fails,
// every row is skipped (a problem) and none is claimed.
func (s *sweep) record(ctx context.Context, updates []requeststatus.GuardedUpdate, waiting []pending) []pending {
	changed, err := s.rows.ApplyGuarded(ctx, updates)
	if err != nil {
		s.problem(err.Error())
		s.rep.Skipped += len(updates)
		return nil
	}
	s.rep.Skipped += len(updates) - len(changed)
	for _, u := range updates {
		if !changed[u.Row.RequestID] {
			s.r.log().InfoContext(ctx, "reconcile: row changed since listed; left alone", "request_id", u.Row.RequestID, "key", u.Row.ObjectKey)
		} else if u.Status == statusError {
			s.r.log().WarnContext(ctx, "reconcile: recorded error", "request_id", u.Row.RequestID, "key", u.Row.ObjectKey, "err_msg", u.ErrMsg)
		}
	}
	var claimed []pending
	for _, p := range waiting {
		if changed[p.row.RequestID] {
			claimed = append(claimed, p)
		}
	}
	return claimed
}

// problem adds msg to the report's Problems (Sweep then returns a SweepError).
func (s *sweep) problem(msg string) { s.rep.Problems = append(s.rep.Problems, msg) }

// logDone logs the report's counts in one line.
func (s *sweep) logDone(ctx context.Context) {
	rep := s.rep
	s.r.log().InfoContext(ctx, "reconcile: sweep done", "window", rep.Window, "grace", s.r.Config.Grace.String(),
		"stuck", rep.Stuck, "stuck_again", rep.StuckAgain, "waiting", rep.Waiting, "running", rep.Running,
		"expired", rep.Expired, "missing", rep.Missing, "re_restored", rep.ReRestored,
		"started", rep.Started, "already_started", rep.AlreadyStarted, "skipped", rep.Skipped,
		"not_here", rep.NotHere, "not_reached", rep.NotReached, "cut_short", rep.CutShort, "held_off", rep.HeldOff,
		"problems", len(rep.Problems), "files", rep.Files)
}

// describeWhere names where the sweep looked for a row's object.
func describeWhere(row StuckRow, configured []string, found string) string {
	switch {
	case found != "":
		return fmt.Sprintf("s3://%s/%s", found, row.ObjectKey)
	case row.RestoreBucketDest != "":
		return fmt.Sprintf("s3://%s/%s (its restore_bucket_dest)", row.RestoreBucketDest, row.ObjectKey)
	case len(configured) == 0:
		return fmt.Sprintf("%q in any restore bucket (none is configured and the row has no restore_bucket_dest)", row.ObjectKey)
	}
	return fmt.Sprintf("%q in the restore buckets %s", row.ObjectKey, strings.Join(configured, ", "))
}

// noArchiveMessage, missingMessage and expiredMessage are the err_msg the
// sweep records for a file it cannot copy; each says what to do next.
func noArchiveMessage(where string, row StuckRow) string {
	return fmt.Sprintf("reconcile: %s is restored but request_status has no archive_bucket_dest for request %s: nothing to copy it to", where, row.RequestID)
}

func missingMessage(where string) string {
	return fmt.Sprintf("reconcile: no object %s: the restored file is gone (deleted, or never restored there); request the restore again", where)
}

func expiredMessage(where string, res Restore, row StuckRow) string {
	class := res.StorageClass
	if class == "" {
		class = "an archive tier"
	}
	if !res.ExpiryDate.IsZero() {
		return fmt.Sprintf("reconcile: the restore of %s expired at %s before any copy (the object is in %s again); request the restore again",
			where, res.ExpiryDate.Format(time.RFC3339), class)
	}
	return fmt.Sprintf("reconcile: %s is archived in %s and not restored (the restore expired, or was never made, since the request at %s); request the restore again",
		where, class, row.RequestTime.UTC().Format(time.RFC3339))
}

// startBatches starts one page's claimed files' executions, in request_id
// order: the same files always make the same batches (and names), whatever
// order the page listed them in.
func (s *sweep) startBatches(ctx context.Context, claimed []pending) {
	sort.Slice(claimed, func(i, j int) bool { return claimed[i].row.RequestID < claimed[j].row.RequestID })
	starter := CopyStarter{SFN: s.r.SFN, StateMachineARN: s.r.Config.StateMachineARN, Prefix: "reconcile", Window: s.rep.Window, Now: s.r.now}
	for queue := claimed; len(queue) > 0; {
		queue = s.startBatch(ctx, starter, queue)
	}
}

// startBatch starts one execution for the first files of queue that fit in
// one event, reports it, and returns the rest.
func (s *sweep) startBatch(ctx context.Context, starter CopyStarter, queue []pending) []pending {
	files := make([]contract.File, min(len(queue), s.r.maxFiles()))
	for i := range files {
		files[i] = fileOf(queue[i])
	}
	n := BatchSize(files, len(files))
	files, batch := files[:n], queue[:n]
	x := starter.Start(ctx, refs(batch), files)
	switch {
	case x.Error != "":
		s.problem(fmt.Sprintf("start execution %s: %s", x.Name, x.Error))
		s.r.log().ErrorContext(ctx, "reconcile: could not start an execution; its files are retried at the next sweep",
			"execution", x.Name, "files", len(batch), "error", x.Error)
		s.unclaim(ctx, batch, fmt.Sprintf("could not start execution %s: %s", x.Name, x.Error))
	case x.AlreadyStarted:
		s.rep.AlreadyStarted++
		s.r.log().InfoContext(ctx, "reconcile: execution already started by an earlier sweep of this window", "execution", x.Name, "files", len(batch))
	default:
		s.rep.Started++
		for _, f := range x.Files {
			s.rep.Files.add(&s.rep.Files.Started, f)
		}
		s.r.log().InfoContext(ctx, "reconcile: started execution", "execution", x.Name, "arn", x.ARN, "files", len(batch))
	}
	s.rep.Executions = append(s.rep.Executions, x)
	return queue[n:]
}

// refs names batch's files as an ExecutionReport does.
func refs(batch []pending) []FileRef {
	out := make([]FileRef, len(batch))
	for i, p := range batch {
		out[i] = FileRef{RequestID: p.row.RequestID, Bucket: p.restore.Bucket, Key: p.row.ObjectKey}
	}
	return out
}

// fileOf is p's file as the execution's event names it.
func fileOf(p pending) contract.File { return p.restore.File(p.row.ObjectKey) }

// The metrics of a sweep (namespace metrics.Namespace, dimension Function =
// "reconcile"); the stack's alarm and dashboard read these names.
const (
	MetricStuck          = "StuckFiles"
	MetricStuckAgain     = "StuckAgainFiles"
	MetricStarted        = "ReconcileExecutionsStarted"
	MetricFilesStarted   = "ReconcileFilesStarted"
	MetricExpired        = "RestoresExpired"
	MetricMissing        = "RestoredFilesMissing"
	MetricReRestored     = "RestoresRequestedAgain"
	MetricRestoreRunning = "RestoresRunning"
	// MetricCutShort is 1 for a sweep that stopped listing before its
	// deadline (Report.CutShort), else 0.
	MetricCutShort = "ReconcileCutShort"
	// MetricNotHere counts rows without restore_bucket_dest that none of
	// this stack's restore buckets has (Report.NotHere).
	MetricNotHere = "RowsNotInRestoreBuckets"
	// MetricHeldOff is 1 for a sweep that held off because the intake
	// queue's oldest message was older than the intake grace
	// (Report.HeldOff), else 0.
	MetricHeldOff = "ReconcileHeldOff"
)

// emit writes the sweep's metrics from rep; FilesStarted counts only the
// files of executions this sweep started.
func (r *Reconciler) emit(ctx context.Context, rep *Report) {
	files, cutShort, heldOff := 0, 0.0, 0.0
	if rep.CutShort {
		cutShort = 1
	}
	if rep.HeldOff {
		heldOff = 1
	}
	for _, x := range rep.Executions {
		if x.Error == "" && !x.AlreadyStarted {
			files += len(x.Files)
		}
	}
	r.Metrics.Emit(ctx, nil,
		metrics.Metric{Name: MetricStuck, Unit: metrics.Count, Value: float64(rep.Stuck)},
		metrics.Metric{Name: MetricStuckAgain, Unit: metrics.Count, Value: float64(rep.StuckAgain)},
		metrics.Metric{Name: MetricStarted, Unit: metrics.Count, Value: float64(rep.Started)},
		metrics.Metric{Name: MetricFilesStarted, Unit: metrics.Count, Value: float64(files)},
		metrics.Metric{Name: MetricExpired, Unit: metrics.Count, Value: float64(rep.Expired)},
		metrics.Metric{Name: MetricMissing, Unit: metrics.Count, Value: float64(rep.Missing)},
		metrics.Metric{Name: MetricReRestored, Unit: metrics.Count, Value: float64(rep.ReRestored)},
		metrics.Metric{Name: MetricRestoreRunning, Unit: metrics.Count, Value: float64(rep.Running)},
		metrics.Metric{Name: MetricCutShort, Unit: metrics.Count, Value: cutShort},
		metrics.Metric{Name: MetricNotHere, Unit: metrics.Count, Value: float64(rep.NotHere)},
		metrics.Metric{Name: MetricHeldOff, Unit: metrics.Count, Value: heldOff},
	)
}
