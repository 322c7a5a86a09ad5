// Package reconcile finds the restored files that no event brought into the
// copy workflow (notifications off, a rule disabled, a dead-letter message
// expired, an execution nobody re-ran) and brings them in: a sweep lists the
// request_status rows still 'inprogress' after a grace period, asks S3 what
// became of each restore, starts executions for the files waiting to be
// copied, and records 'error' for those whose restore expired or whose
// object is gone. It is the reconcile Lambda's logic, and `cmd/recovery
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
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// ExecutionStarter is the part of the Step Functions client the sweep uses
// (the local runner has its own, on the local engine).
type ExecutionStarter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// The err_msg prefixes the sweep writes. On an 'inprogress' row, MarkStarted
// and MarkReRestored say what the sweep did (a later sweep that lists the
// row again knows it is stuck again); the workflow clears err_msg when it
// records the copy.
const (
	MarkStarted    = "reconcile: copy started by the sweep at "
	MarkReRestored = "reconcile: restore requested again at "
)

// headConcurrency bounds the HeadObject calls in flight.
const headConcurrency = 16

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
	// Truncated says the sweep stopped listing at MaxFilesPerSweep waiting
	// files; the next sweep goes on.
	Truncated  bool              `json:"truncated,omitempty"`
	Executions []ExecutionReport `json:"executions"`
	Problems   []string          `json:"problems,omitempty"`
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

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

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

// Sweep runs one sweep. It returns the report and, when something failed,
// a *SweepError (the report says what was done anyway).
func (r *Reconciler) Sweep(ctx context.Context) (*Report, error) {
	cfg := r.Config
	start := r.now()
	cutoff := start.Add(-cfg.Grace)
	rep := &Report{Window: WindowName(start, cfg.Period), Executions: []ExecutionReport{}}
	pageSize := cfg.PageSize
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	var queue []pending
	key := firstPage
	for {
		rows, err := listStuck(ctx, r.DB, cutoff, key, pageSize)
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
			break
		}
		if len(rows) == 0 {
			break
		}
		last := rows[len(rows)-1]
		key = pageKey{lastUpdate: last.LastUpdateTime, requestID: last.RequestID}
		queue = append(queue, r.sweepPage(ctx, rows, rep, start)...)
		if len(rows) < pageSize {
			break
		}
		if limit := r.Config.MaxFilesPerSweep; limit > 0 && len(queue) >= limit {
			rep.Truncated = true // the rest waits for the next sweep
			break
		}
	}
	// Batches in request_id order: the same files always make the same
	// batches, whatever order the pages listed them in.
	sort.Slice(queue, func(i, j int) bool { return queue[i].row.RequestID < queue[j].row.RequestID })
	for len(queue) > 0 {
		queue = r.startBatch(ctx, queue, rep)
	}
	r.emit(ctx, rep)
	r.log().InfoContext(ctx, "reconcile: sweep done", "window", rep.Window, "grace", cfg.Grace.String(),
		"stuck", rep.Stuck, "stuck_again", rep.StuckAgain, "waiting", rep.Waiting, "running", rep.Running,
		"expired", rep.Expired, "missing", rep.Missing, "re_restored", rep.ReRestored,
		"started", rep.Started, "already_started", rep.AlreadyStarted, "skipped", rep.Skipped,
		"problems", len(rep.Problems))
	if len(rep.Problems) > 0 {
		return rep, &SweepError{Problems: rep.Problems}
	}
	return rep, nil
}

func (r *Reconciler) maxFiles() int {
	if n := r.Config.MaxFilesPerExecution; n > 0 {
		return n
	}
	return DefaultMaxFilesPerExecution
}

// sweepPage asks S3 about each row, records what must be recorded and
// claims the waiting files; it returns them.
func (r *Reconciler) sweepPage(ctx context.Context, rows []StuckRow, rep *Report, now time.Time) []pending {
	restores := make([]Restore, len(rows))
	errs := make([]error, len(rows))
	var wg sync.WaitGroup
	sem := make(chan struct{}, headConcurrency)
	finder := RestoreFinder{S3: r.S3, Buckets: r.Config.RestoreBuckets, Now: now}
	for i, row := range rows {
		rep.Stuck++
		if strings.HasPrefix(row.ErrMsg, MarkStarted) {
			rep.StuckAgain++
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			restores[i], errs[i] = finder.Find(ctx, row.RestoreBucketDest, row.ObjectKey)
		}()
	}
	wg.Wait()

	var updates []rowUpdate
	var waiting []pending
	stamp := now.UTC().Format(time.RFC3339)
	for i, row := range rows {
		res := restores[i]
		if errs[i] != nil {
			rep.Skipped++
			rep.Problems = append(rep.Problems, fmt.Sprintf("request %s: %v", row.RequestID, errs[i]))
			continue
		}
		where := describeWhere(row, r.Config.RestoreBuckets, res.Bucket)
		switch res.State {
		case StateRunning:
			rep.Running++
			r.log().InfoContext(ctx, "reconcile: restore still running; left alone",
				"request_id", row.RequestID, "bucket", res.Bucket, "key", row.ObjectKey)
		case StateWaiting:
			rep.Waiting++
			if row.ArchiveBucketDest == "" {
				rep.NoArchive++
				updates = append(updates, rowUpdate{row, statusError,
					fmt.Sprintf("reconcile: %s is restored but request_status has no archive_bucket_dest for request %s: nothing to copy it to", where, row.RequestID)})
				continue
			}
			waiting = append(waiting, pending{row: row, restore: res})
		case StateExpired:
			rep.Expired++
			if r.Config.ReRestore && !strings.HasPrefix(row.ErrMsg, MarkReRestored) {
				if msg, ok := r.reRestore(ctx, row, res, rep, stamp); ok {
					updates = append(updates, rowUpdate{row, statusInProgress, msg})
					continue
				}
			}
			updates = append(updates, rowUpdate{row, statusError, expiredMessage(where, res, row)})
		case StateMissing:
			rep.Missing++
			updates = append(updates, rowUpdate{row, statusError,
				fmt.Sprintf("reconcile: no object %s: the restored file is gone (deleted, or never restored there); request the restore again", where)})
		}
	}
	// The waiting files are claimed: last_update_time moves to now, so a
	// sweep running meanwhile (or within the grace period) does not list
	// them again, and err_msg says that this sweep started their copy.
	for _, p := range waiting {
		updates = append(updates, rowUpdate{p.row, statusInProgress,
			fmt.Sprintf("%s%s: no event had copied this restored file within %s", MarkStarted, stamp, r.Config.Grace)})
	}
	changed, err := applyUpdates(ctx, r.DB, updates)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		rep.Skipped += len(updates)
		return nil
	}
	rep.Skipped += len(updates) - len(changed)
	for _, u := range updates {
		if !changed[u.row.RequestID] {
			r.log().InfoContext(ctx, "reconcile: row changed since listed; left alone", "request_id", u.row.RequestID, "key", u.row.ObjectKey)
		} else if u.status == statusError {
			r.log().WarnContext(ctx, "reconcile: recorded error", "request_id", u.row.RequestID, "key", u.row.ObjectKey, "err_msg", u.errMsg)
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

// reRestore requests the restore again; ok is false when S3 refused (the
// row is then recorded as expired, with S3's answer).
func (r *Reconciler) reRestore(ctx context.Context, row StuckRow, res Restore, rep *Report, stamp string) (string, bool) {
	_, err := r.S3.RestoreObject(ctx, &s3.RestoreObjectInput{
		Bucket: aws.String(res.Bucket), Key: aws.String(row.ObjectKey),
		RestoreRequest: &s3types.RestoreRequest{
			Days:                 aws.Int32(r.Config.ReRestoreDays),
			GlacierJobParameters: &s3types.GlacierJobParameters{Tier: s3types.Tier(r.Config.ReRestoreTier)},
		},
	})
	if err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("request %s: RestoreObject s3://%s/%s: %v", row.RequestID, res.Bucket, row.ObjectKey, err))
		return "", false
	}
	rep.ReRestored++
	r.log().WarnContext(ctx, "reconcile: restore requested again (RECONCILE_RERESTORE is on)",
		"request_id", row.RequestID, "bucket", res.Bucket, "key", row.ObjectKey,
		"days", r.Config.ReRestoreDays, "tier", r.Config.ReRestoreTier)
	return fmt.Sprintf("%s%s (%d days, tier %s): the earlier restore had expired before any copy", MarkReRestored,
		stamp, r.Config.ReRestoreDays, r.Config.ReRestoreTier), true
}

// startBatch starts one execution for the first files of queue that fit in
// one event and returns the rest.
func (r *Reconciler) startBatch(ctx context.Context, queue []pending, rep *Report) []pending {
	files := make([]contract.File, min(len(queue), r.maxFiles()))
	for i := range files {
		files[i] = fileOf(queue[i])
	}
	n := BatchSize(files, len(files))
	files, batch := files[:n], queue[:n]
	starter := CopyStarter{SFN: r.SFN, StateMachineARN: r.Config.StateMachineARN, Prefix: "reconcile", Window: rep.Window}
	x := starter.Start(ctx, refs(batch), files)
	switch {
	case x.Error != "":
		rep.Problems = append(rep.Problems, fmt.Sprintf("start execution %s: %s", x.Name, x.Error))
		r.log().ErrorContext(ctx, "reconcile: could not start an execution; its files are retried after the grace period",
			"execution", x.Name, "files", len(batch), "error", x.Error)
	case x.AlreadyStarted:
		rep.AlreadyStarted++
		r.log().InfoContext(ctx, "reconcile: execution already started by an earlier sweep of this window", "execution", x.Name, "files", len(batch))
	default:
		rep.Started++
		r.log().InfoContext(ctx, "reconcile: started execution", "execution", x.Name, "arn", x.ARN, "files", len(batch))
	}
	rep.Executions = append(rep.Executions, x)
	return queue[n:]
}

func refs(batch []pending) []FileRef {
	out := make([]FileRef, len(batch))
	for i, p := range batch {
		out[i] = FileRef{RequestID: p.row.RequestID, Bucket: p.restore.Bucket, Key: p.row.ObjectKey}
	}
	return out
}

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
)

func (r *Reconciler) emit(ctx context.Context, rep *Report) {
	files := 0
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
	)
}
