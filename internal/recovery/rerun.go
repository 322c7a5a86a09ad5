package recovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// RerunOptions says which files to re-run and where.
type RerunOptions struct {
	Selector Selector
	// Failed selects rows in 'error'; Stuck selects rows 'inprogress' not
	// updated within Grace (the CLI's default is DefaultStuckGrace). At
	// least one is set.
	Failed, Stuck bool
	Grace         time.Duration
	// Limit bounds the rows selected (oldest update first).
	Limit int
	// DryRun says what would start; nothing is started.
	DryRun          bool
	StateMachineARN string
	RestoreBuckets  []string
	// MaxFilesPerExecution bounds each execution's event (default
	// reconcile.DefaultMaxFilesPerExecution).
	MaxFilesPerExecution int
}

// DefaultRerunLimit is how many rows one rerun selects unless told.
const DefaultRerunLimit = 1000

// DefaultStuckGrace is how long an inprogress row must have gone unmarked
// for rerun --stuck to select it unless told: the reconcile sweep's default
// grace, which covers the longest the workflow can leave a row unmarked
// while it still works on the file (docs/reconcile.md). A shorter grace may
// start a second execution for a file still in flight.
const DefaultStuckGrace = reconcile.DefaultGraceMinutes * time.Minute

// StuckGraceWarning returns a warning when grace is shorter than the
// longest the workflow, rendered with the default settings, can leave a
// file's row unmarked while it works on it (statemachine.MaxUnmarked), and
// "" otherwise. A warning, not a refusal: an operator may know the
// executions of the files are over.
func StuckGraceWarning(grace time.Duration) string {
	bound, err := statemachine.MaxUnmarked(statemachine.DefaultSettings())
	if err != nil {
		return fmt.Sprintf("--grace %s: the longest the workflow can leave a row unmarked cannot be counted (%v): a selected file may still be in flight", grace, err)
	}
	if grace >= bound {
		return ""
	}
	return fmt.Sprintf("--grace %s is shorter than the longest the workflow can leave a file's row unmarked while it still works on it, %s with the default settings: "+
		"a row selected now may belong to a file still being copied (throttled, retrying the database, or resuming a large copy), and a re-run starts a second execution for it; "+
		"the default --grace is %s (docs/reconcile.md)", grace, bound, DefaultStuckGrace)
}

// RerunReport is what rerun found and started.
type RerunReport struct {
	Selected int  `json:"selected"`
	DryRun   bool `json:"dry_run"`
	// Waiting files were put in executions; Left are those S3 says cannot
	// be copied now (restore running, expired, object missing), untouched.
	Waiting    int                         `json:"waiting"`
	Left       []LeftFile                  `json:"left"`
	Executions []reconcile.ExecutionReport `json:"executions"`
	// CheckFailures are the causes that kept S3 from being asked about
	// selected files (those files were not re-run), each once with its
	// count.
	CheckFailures []CheckFailure `json:"check_failures,omitempty"`
	Problems      []string       `json:"problems,omitempty"`
}

// LeftFile is a selected file rerun did not start, and why.
type LeftFile struct {
	RequestID string `json:"request_id"`
	Key       string `json:"key"`
	State     string `json:"state"`
	Why       string `json:"why"`
}

// Rerun selects the rows, asks S3 about each (reconcile.RestoreFinder), and
// starts executions for the restored ones in batches, named
// "rerun-<minute>-<digest of the request ids>", so that the same rerun
// repeated within a minute starts nothing twice. It changes no row: the
// executions record the outcomes.
func Rerun(ctx context.Context, db Querier, s3c reconcile.ObjectStore, sf reconcile.ExecutionStarter, opts RerunOptions, now time.Time) (*RerunReport, error) {
	if err := opts.Selector.Check(); err != nil {
		return nil, err
	}
	if !opts.Failed && !opts.Stuck {
		return nil, errors.New("select --failed, --stuck or both")
	}
	if !opts.DryRun {
		if err := reconcile.ValidStateMachineARN(opts.StateMachineARN); err != nil {
			return nil, fmt.Errorf("--state-machine-arn %q: %w (the stack output StateMachineArn); or use --dry-run", opts.StateMachineARN, err)
		}
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultRerunLimit
	}
	if opts.MaxFilesPerExecution <= 0 {
		opts.MaxFilesPerExecution = reconcile.DefaultMaxFilesPerExecution
	}
	args := []any{}
	var which string
	switch {
	case opts.Failed && opts.Stuck:
		args = append(args, now.Add(-opts.Grace))
		which = "(job_status = 'error' OR (job_status = 'inprogress' AND last_update_time < $1))"
	case opts.Failed:
		which = "job_status = 'error'"
	default:
		args = append(args, now.Add(-opts.Grace))
		which = "job_status = 'inprogress' AND last_update_time < $1"
	}
	rows, err := db.Query(ctx, `SELECT request_id::text, object_key, coalesce(restore_bucket_dest, ''), coalesce(archive_bucket_dest, '')
FROM request_status `+and(which, opts.Selector.where(&args, now))+`
ORDER BY last_update_time, request_id LIMIT `+fmt.Sprint(opts.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("select files to re-run: %w", err)
	}
	type sel struct{ ID, Key, Restore, Archive string }
	selected, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sel])
	if err != nil {
		return nil, fmt.Errorf("select files to re-run: %w", err)
	}
	rep := &RerunReport{Selected: len(selected), DryRun: opts.DryRun, Left: []LeftFile{}, Executions: []reconcile.ExecutionReport{}}
	type ready struct {
		ref  reconcile.FileRef
		file contract.File
	}
	var queue []ready
	finder := reconcile.RestoreFinder{S3: s3c, Buckets: opts.RestoreBuckets, Now: now}
	var failed checkFailures
	for i, s := range selected {
		r, err := finder.Find(ctx, s.Restore, s.Key)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if failed.add(err) {
				failed.skip(len(selected) - i - 1)
				break
			}
			continue
		}
		why := ""
		switch {
		case s.Archive == "":
			why = "the row has no archive_bucket_dest"
		case r.State == reconcile.StateRunning:
			why = "its restore is still running"
		case r.State == reconcile.StateExpired:
			why = "it is archived and not restored: request the restore again first"
		case r.State == reconcile.StateMissing:
			why = "no object under the key in the restore bucket(s)"
		}
		if why != "" {
			rep.Left = append(rep.Left, LeftFile{RequestID: s.ID, Key: s.Key, State: string(r.State), Why: why})
			continue
		}
		rep.Waiting++
		queue = append(queue, ready{reconcile.FileRef{RequestID: s.ID, Bucket: r.Bucket, Key: s.Key}, r.File(s.Key)})
	}
	rep.CheckFailures = failed.list
	sort.Slice(queue, func(i, j int) bool { return queue[i].ref.RequestID < queue[j].ref.RequestID })
	starter := reconcile.CopyStarter{SFN: sf, StateMachineARN: opts.StateMachineARN, Prefix: "rerun",
		Window: now.UTC().Truncate(time.Minute).Format("20060102T1504")}
	for len(queue) > 0 {
		files := make([]contract.File, min(len(queue), opts.MaxFilesPerExecution))
		for i := range files {
			files[i] = queue[i].file
		}
		n := reconcile.BatchSize(files, len(files))
		refs := make([]reconcile.FileRef, n)
		for i := range refs {
			refs[i] = queue[i].ref
		}
		if opts.DryRun {
			rep.Executions = append(rep.Executions, starter.Planned(refs, files[:n]))
		} else {
			x := starter.Start(ctx, refs, files[:n])
			if x.Error != "" {
				rep.Problems = append(rep.Problems, fmt.Sprintf("start execution %s: %s", x.Name, x.Error))
			}
			rep.Executions = append(rep.Executions, x)
		}
		queue = queue[n:]
	}
	return rep, nil
}
