package recovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
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
	// reconcile.DefaultMaxFilesPerExecution; at most
	// reconcile.MaxFilesPerExecutionLimit, the history quota's bound).
	MaxFilesPerExecution int
	// Now is when the rerun runs (time.Now when zero): --stuck's grace
	// and --since count back from it.
	Now time.Time
}

// DefaultRerunLimit is how many rows one rerun selects unless told.
const DefaultRerunLimit = 1000

// DefaultStuckGrace is how long an inprogress row must have gone unmarked
// for rerun --stuck to select it unless told. It is the reconcile sweep's
// default grace. That grace covers the longest the workflow can leave a
// row unmarked while it still works on the file (docs/reconcile.md). A
// shorter grace may start a second execution for a file still in flight.
const DefaultStuckGrace = reconcile.DefaultGraceMinutes * time.Minute

// StuckGraceWarning returns a warning when grace is shorter than
// statemachine.MaxUnmarked with the default settings, and "" otherwise.
// That bound is the longest the workflow can leave a file's row unmarked
// while it works on it. A warning, not a refusal: an operator may know the
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

// rerunRows is what rerun needs of request_status: requeststatus.Table
// satisfies it.
type rerunRows interface {
	RerunCandidates(ctx context.Context, q requeststatus.RerunSelection) ([]requeststatus.RerunCandidate, error)
}

var _ rerunRows = (*requeststatus.Table)(nil)

// Rerun selects the rows, asks S3 about each (reconcile.RestoreFinder), and
// starts executions for the restored ones in batches. The executions are
// named "rerun-<minute>-<digest of the request ids>": the same rerun
// repeated within a minute starts nothing twice. It changes no row; the
// executions record the outcomes.
func Rerun(ctx context.Context, c Clients, opts RerunOptions) (*RerunReport, error) {
	opts, err := opts.checked()
	if err != nil {
		return nil, err
	}
	var rows rerunRows = requeststatus.NewTable(c.DB)
	q := requeststatus.RerunSelection{Selection: opts.Selector.selection(opts.Now), Failed: opts.Failed, Limit: opts.Limit}
	if opts.Stuck {
		q.StuckBefore = opts.Now.Add(-opts.Grace)
	}
	selected, err := rows.RerunCandidates(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := &RerunReport{Selected: len(selected), DryRun: opts.DryRun, Left: []LeftFile{}, Executions: []reconcile.ExecutionReport{}}
	queue, err := rep.restored(ctx, c.S3, selected, opts)
	if err != nil {
		return nil, err
	}
	rep.start(ctx, c.SFN, queue, opts)
	return rep, nil
}

// checked is opts with its defaults, or an error naming what is wrong.
func (opts RerunOptions) checked() (RerunOptions, error) {
	if err := opts.Selector.Check(); err != nil {
		return opts, err
	}
	if !opts.Failed && !opts.Stuck {
		return opts, errors.New("select --failed, --stuck or both")
	}
	if !opts.DryRun {
		if err := reconcile.ValidStateMachineARN(opts.StateMachineARN); err != nil {
			return opts, fmt.Errorf("--state-machine-arn %q: %w (the stack output StateMachineArn); or use --dry-run", opts.StateMachineARN, err)
		}
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultRerunLimit
	}
	if opts.MaxFilesPerExecution <= 0 {
		opts.MaxFilesPerExecution = reconcile.DefaultMaxFilesPerExecution
	}
	if opts.MaxFilesPerExecution > reconcile.MaxFilesPerExecutionLimit {
		return opts, fmt.Errorf("%d files per execution: at most %d, so that no execution can pass Step Functions' 25,000 history events (docs/limits.md)", opts.MaxFilesPerExecution, reconcile.MaxFilesPerExecutionLimit)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	return opts, nil
}

// ready is a selected file S3 says can be copied now.
type ready struct {
	ref  reconcile.FileRef
	file contract.File
}

// restored asks S3 about each selected file and returns those that can be
// copied now, in request_id order. It adds the others to rep.Left with the
// reason, and the checks that failed to rep.CheckFailures.
func (rep *RerunReport) restored(ctx context.Context, s3c reconcile.ObjectStore, selected []requeststatus.RerunCandidate, opts RerunOptions) ([]ready, error) {
	var queue []ready
	finder := reconcile.RestoreFinder{S3: s3c, Buckets: opts.RestoreBuckets, Now: opts.Now}
	var failed checkFailures
	for i, s := range selected {
		r, err := finder.Find(ctx, s.RestoreBucket, s.ObjectKey)
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
		if why := notReady(s, r); why != "" {
			rep.Left = append(rep.Left, LeftFile{RequestID: s.RequestID, Key: s.ObjectKey, State: string(r.State), Why: why})
			continue
		}
		rep.Waiting++
		queue = append(queue, ready{reconcile.FileRef{RequestID: s.RequestID, Bucket: r.Bucket, Key: s.ObjectKey}, r.File(s.ObjectKey)})
	}
	rep.CheckFailures = failed.list
	sort.Slice(queue, func(i, j int) bool { return queue[i].ref.RequestID < queue[j].ref.RequestID })
	return queue, nil
}

// notReady says why a selected file cannot be copied now, or "".
func notReady(s requeststatus.RerunCandidate, r reconcile.Restore) string {
	switch {
	case s.ArchiveBucket == "":
		return "the row has no archive_bucket_dest"
	case r.State == reconcile.StateRunning:
		return "its restore is still running"
	case r.State == reconcile.StateExpired:
		return "it is archived and not restored: request the restore again first"
	case r.State == reconcile.StateMissing:
		return "no object under the key in the restore bucket(s)"
	}
	return ""
}

// start starts the queue's executions in batches that fit one event each
// (in a dry run, only says what it would start).
func (rep *RerunReport) start(ctx context.Context, sf reconcile.ExecutionStarter, queue []ready, opts RerunOptions) {
	starter := reconcile.CopyStarter{SFN: sf, StateMachineARN: opts.StateMachineARN, Prefix: "rerun",
		Window: opts.Now.UTC().Truncate(time.Minute).Format("20060102T1504")}
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
}
