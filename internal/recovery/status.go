// Package recovery is the operators' view of request_status and their way
// to re-run files: `cmd/recovery status` (counts by status, failures grouped
// by error, the files waiting longest, restores about to expire; --watch
// for a progress bar per request group) and `cmd/recovery rerun` (start
// executions for the failed or stuck files it selects, as the reconcile
// sweep does).
package recovery

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
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

// where returns the selector's conditions ("" for none) with their
// arguments appended to args, numbered after the ones already there.
func (s Selector) where(args *[]any, now time.Time) string {
	var conds []string
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(cond, len(*args)))
	}
	if s.RequestGroupID != "" {
		add("request_group_id = $%d::uuid", s.RequestGroupID)
	}
	if s.GranuleID != "" {
		add("granule_id = $%d", s.GranuleID)
	}
	if s.Since > 0 {
		add("request_time >= $%d", now.Add(-s.Since))
	}
	return strings.Join(conds, " AND ")
}

func and(conds ...string) string {
	var kept []string
	for _, c := range conds {
		if c != "" {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(kept, " AND ")
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
type FailureGroup struct {
	Error   string    `json:"error"`
	Count   int64     `json:"count"`
	Example string    `json:"example_err_msg"`
	Files   []FileRow `json:"files"`
}

// FileRow is one row, briefly.
type FileRow struct {
	RequestID      string    `json:"request_id"`
	RequestGroupID string    `json:"request_group_id"`
	GranuleID      string    `json:"granule_id"`
	Key            string    `json:"key"`
	LastUpdate     time.Time `json:"last_update_time"`
}

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

// normalizedErrSQL is err_msg with the row's key, UUIDs and RFC 3339 times
// replaced, so that the same failure of different files groups together.
const normalizedErrSQL = `regexp_replace(regexp_replace(replace(coalesce(err_msg, ''), object_key, '<key>'),
    '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'),
    '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)', '<time>', 'g')`

// StatusOptions bounds the report.
type StatusOptions struct {
	// Waiting is how many of the longest-waiting files to list.
	Waiting int
	// CheckRestores is how many waiting files' restores to ask S3 about
	// (0: none; S3 may be nil then).
	CheckRestores int
	// RestoreBuckets are asked for rows without restore_bucket_dest.
	RestoreBuckets []string
}

// Querier is what the queries need: *pgxpool.Pool satisfies it.
type Querier = reconcile.DB

// ReadStatus builds the report for sel.
func ReadStatus(ctx context.Context, db Querier, s3c reconcile.ObjectStore, sel Selector, opts StatusOptions, now time.Time) (*Status, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	if opts.Waiting <= 0 {
		opts.Waiting = DefaultWaitingRows
	}
	st := &Status{Selector: sel, Counts: map[string]int64{"inprogress": 0, "complete": 0, "error": 0},
		Failed: []FailureGroup{}, Waiting: []WaitingFile{}, Expiring: []RestoreExpiry{}}
	st.Warnings = indexWarnings(ctx, db)

	var args []any
	rows, err := db.Query(ctx, `SELECT coalesce(job_status, 'null'), count(*) FROM request_status `+and(sel.where(&args, now))+` GROUP BY 1`, args...)
	if err != nil {
		return nil, fmt.Errorf("count rows by status: %w", err)
	}
	type count struct {
		Status string
		N      int64
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[count])
	if err != nil {
		return nil, fmt.Errorf("count rows by status: %w", err)
	}
	for _, c := range counts {
		st.Counts[c.Status] = c.N
	}

	args = nil
	rows, err = db.Query(ctx, `SELECT `+normalizedErrSQL+` AS error, count(*),
    (array_agg(coalesce(err_msg, '') ORDER BY last_update_time DESC))[1],
    (array_agg(request_id::text ORDER BY last_update_time DESC))[1:`+fmt.Sprint(FilesPerGroup)+`],
    (array_agg(request_group_id::text ORDER BY last_update_time DESC))[1:`+fmt.Sprint(FilesPerGroup)+`],
    (array_agg(granule_id ORDER BY last_update_time DESC))[1:`+fmt.Sprint(FilesPerGroup)+`],
    (array_agg(object_key ORDER BY last_update_time DESC))[1:`+fmt.Sprint(FilesPerGroup)+`],
    (array_agg(last_update_time ORDER BY last_update_time DESC))[1:`+fmt.Sprint(FilesPerGroup)+`]
FROM request_status `+and("job_status = 'error'", sel.where(&args, now))+`
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT `+fmt.Sprint(MaxFailureGroups), args...)
	if err != nil {
		return nil, fmt.Errorf("group failed files: %w", err)
	}
	st.Failed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (FailureGroup, error) {
		var (
			g                   FailureGroup
			ids, gids, grs, kys []string
			times               []time.Time
		)
		if err := r.Scan(&g.Error, &g.Count, &g.Example, &ids, &gids, &grs, &kys, &times); err != nil {
			return g, err
		}
		for i := range ids {
			g.Files = append(g.Files, FileRow{RequestID: ids[i], RequestGroupID: gids[i], GranuleID: grs[i], Key: kys[i], LastUpdate: times[i]})
		}
		return g, nil
	})
	if err != nil {
		return nil, fmt.Errorf("group failed files: %w", err)
	}

	args = nil
	rows, err = db.Query(ctx, `SELECT request_id::text, request_group_id::text, granule_id, object_key, last_update_time,
    coalesce(restore_bucket_dest, '')
FROM request_status `+and("job_status = 'inprogress'", sel.where(&args, now))+`
ORDER BY last_update_time, request_id LIMIT `+fmt.Sprint(max(opts.Waiting, opts.CheckRestores)), args...)
	if err != nil {
		return nil, fmt.Errorf("list waiting files: %w", err)
	}
	waiting, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WaitingFile, error) {
		var w WaitingFile
		err := r.Scan(&w.RequestID, &w.RequestGroupID, &w.GranuleID, &w.Key, &w.LastUpdate, &w.RestoreBucket)
		w.Waiting = now.Sub(w.LastUpdate).Round(time.Second).String()
		return w, err
	})
	if err != nil {
		return nil, fmt.Errorf("list waiting files: %w", err)
	}
	st.Waiting = waiting[:min(len(waiting), opts.Waiting)]
	if opts.CheckRestores > 0 && s3c != nil {
		finder := reconcile.RestoreFinder{S3: s3c, Buckets: opts.RestoreBuckets, Now: now}
		var failed checkFailures
		toCheck := waiting[:min(len(waiting), opts.CheckRestores)]
		for i, w := range toCheck {
			r, err := finder.Find(ctx, w.RestoreBucket, w.Key)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if failed.add(err) {
					failed.skip(len(toCheck) - i - 1)
					break
				}
				continue
			}
			st.RestoresChecked++
			soon := !r.ExpiryDate.IsZero() && r.ExpiryDate.Before(now.Add(24*time.Hour))
			if soon || r.State == reconcile.StateExpired {
				st.Expiring = append(st.Expiring, RestoreExpiry{RequestID: w.RequestID, Bucket: r.Bucket, Key: w.Key, State: string(r.State), Expiry: r.ExpiryDate})
			}
		}
		st.CheckFailures = failed.list
	}
	return st, nil
}
