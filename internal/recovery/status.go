// Package recovery is the operators' view of request_status and their way
// to re-run files. `cmd/recovery status` counts the rows by status, groups
// the failures by error, and lists the files waiting longest and the
// restores about to expire. With --watch it draws a progress bar per
// request group. `cmd/recovery rerun` starts executions for the failed or stuck
// files it selects, as the reconcile sweep does.
package recovery

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// Selector narrows the rows: every field set must match. request_group_id
// and granule_id are request_status's own columns (indexed with
// last_update_time); Since selects rows requested (request_time) within it.
type Selector struct {
	RequestGroupID string        `json:"request_group_id,omitempty"`
	GranuleID      string        `json:"granule_id,omitempty"`
	Since          time.Duration `json:"-"`
	SinceText      string        `json:"since,omitempty"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Check reports a selector value that cannot match, naming the flag.
func (s Selector) Check() error {
	if s.RequestGroupID != "" && !uuidRE.MatchString(s.RequestGroupID) {
		return fmt.Errorf("--request-group %q is not a request_group_id (a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e)", s.RequestGroupID)
	}
	if len(s.GranuleID) > 100 {
		return fmt.Errorf("--granule is %d characters: granule_id holds at most 100", len(s.GranuleID))
	}
	if s.Since < 0 {
		return fmt.Errorf("--since %s is negative", s.Since)
	}
	return nil
}

// selection is the rows s selects at now, as request_status's queries
// take it.
func (s Selector) selection(now time.Time) requeststatus.Selection {
	sel := requeststatus.Selection{RequestGroupID: s.RequestGroupID, GranuleID: s.GranuleID}
	if s.Since > 0 {
		sel.RequestedAfter = now.Add(-s.Since)
	}
	return sel
}

// Status is `cmd/recovery status`'s report; its JSON form is --json's.
type Status struct {
	Selector Selector `json:"selector"`
	// Counts holds inprogress, complete and error always (and "null" for
	// rows without job_status, when there are some).
	Counts   map[string]int64 `json:"counts"`
	Failed   []FailureGroup   `json:"failed"`
	Waiting  []WaitingFile    `json:"waiting_longest"`
	Expiring []RestoreExpiry  `json:"expiring_within_24h"`
	// RestoresChecked is how many of the waiting files' restores S3 was
	// asked about (at most the --check-restores bound, oldest first).
	RestoresChecked int `json:"restores_checked"`
	// CheckFailures are the causes that kept S3 from being asked about
	// some waiting files, each once with its count.
	CheckFailures []CheckFailure `json:"check_failures,omitempty"`
	// Warnings say what makes the report slow or partial without failing
	// it: today the reconcile indexes request_status lacks.
	Warnings []string `json:"warnings,omitempty"`
}

// CheckError is nil when every restore check the report wanted was made.
func (st *Status) CheckError() error {
	return (&checkFailures{list: st.CheckFailures}).err()
}

// FailureGroup is the failed files whose err_msg is the same once the key,
// ids and times are taken out.
type FailureGroup = requeststatus.FailureGroup

// FileRow is one row, briefly.
type FileRow = requeststatus.FileRow

// WaitingFile is an inprogress row, with how long since its last update.
type WaitingFile struct {
	FileRow
	RestoreBucket string `json:"restore_bucket,omitempty"`
	Waiting       string `json:"waiting"`
}

// RestoreExpiry is a waiting file whose restored copy expires soon (or has
// expired).
type RestoreExpiry struct {
	RequestID string    `json:"request_id"`
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	State     string    `json:"state"`
	Expiry    time.Time `json:"expiry_date"`
}

// The bounds of the report.
const (
	MaxFailureGroups   = 20
	FilesPerGroup      = 5
	DefaultWaitingRows = 10
)

// StatusOptions bounds the report.
type StatusOptions struct {
	// Waiting is how many of the longest-waiting files to list.
	Waiting int
	// CheckRestores is how many waiting files' restores to ask S3 about
	// (0: none; S3 may be nil then).
	CheckRestores int
	// RestoreBuckets are asked for rows without restore_bucket_dest.
	RestoreBuckets []string
	// Now is the report's time (time.Now when zero).
	Now time.Time
}

// Querier is what the queries need: *pgxpool.Pool satisfies it.
type Querier = reconcile.DB

// Clients are the database, S3 and Step Functions clients status and
// rerun use. Status needs S3 only to check restores; only rerun starts
// executions.
type Clients struct {
	DB  Querier
	S3  reconcile.ObjectStore
	SFN reconcile.ExecutionStarter
}

// statusRows is what the report needs of request_status:
// requeststatus.Table satisfies it.
type statusRows interface {
	CountByStatus(ctx context.Context, sel requeststatus.Selection) (map[string]int64, error)
	FailureGroups(ctx context.Context, sel requeststatus.Selection, maxGroups, filesPerGroup int) ([]requeststatus.FailureGroup, error)
	Waiting(ctx context.Context, sel requeststatus.Selection, limit int) ([]requeststatus.WaitingRow, error)
}

var _ statusRows = (*requeststatus.Table)(nil)

// ReadStatus builds the report for sel at opts.Now, from c.DB and, when
// opts.CheckRestores is set, c.S3.
func ReadStatus(ctx context.Context, c Clients, sel Selector, opts StatusOptions) (*Status, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	if opts.Waiting <= 0 {
		opts.Waiting = DefaultWaitingRows
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	st := &Status{Selector: sel, Counts: map[string]int64{"inprogress": 0, "complete": 0, "error": 0},
		Failed: []FailureGroup{}, Waiting: []WaitingFile{}, Expiring: []RestoreExpiry{}}
	st.Warnings = indexWarnings(ctx, c.DB)
	var rows statusRows = requeststatus.NewTable(c.DB)
	where := sel.selection(opts.Now)
	counts, err := rows.CountByStatus(ctx, where)
	if err != nil {
		return nil, err
	}
	maps.Copy(st.Counts, counts)
	if st.Failed, err = rows.FailureGroups(ctx, where, MaxFailureGroups, FilesPerGroup); err != nil {
		return nil, err
	}
	waiting, err := rows.Waiting(ctx, where, max(opts.Waiting, opts.CheckRestores))
	if err != nil {
		return nil, err
	}
	for _, w := range waiting[:min(len(waiting), opts.Waiting)] {
		st.Waiting = append(st.Waiting, WaitingFile{FileRow: w.FileRow, RestoreBucket: w.RestoreBucket,
			Waiting: opts.Now.Sub(w.LastUpdate).Round(time.Second).String()})
	}
	if opts.CheckRestores > 0 && c.S3 != nil {
		return st, st.checkRestores(ctx, c.S3, waiting[:min(len(waiting), opts.CheckRestores)], opts)
	}
	return st, nil
}

// checkRestores asks S3 about the restores of waiting, oldest first. It
// adds to st those expiring within 24 hours (or expired) and the checks
// that failed. It stops at a cause that fails every check alike.
func (st *Status) checkRestores(ctx context.Context, s3c reconcile.ObjectStore, waiting []requeststatus.WaitingRow, opts StatusOptions) error {
	finder := reconcile.RestoreFinder{S3: s3c, Buckets: opts.RestoreBuckets, Now: opts.Now}
	var failed checkFailures
	defer func() { st.CheckFailures = failed.list }()
	for i, w := range waiting {
		r, err := finder.Find(ctx, w.RestoreBucket, w.Key)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if failed.add(err) {
				failed.skip(len(waiting) - i - 1)
				break
			}
			continue
		}
		st.RestoresChecked++
		soon := !r.ExpiryDate.IsZero() && r.ExpiryDate.Before(opts.Now.Add(24*time.Hour))
		if soon || r.State == reconcile.StateExpired {
			st.Expiring = append(st.Expiring, RestoreExpiry{RequestID: w.RequestID, Bucket: r.Bucket, Key: w.Key, State: string(r.State), Expiry: r.ExpiryDate})
		}
	}
	return nil
}
