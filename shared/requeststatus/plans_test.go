package requeststatus

// The Table's queries on a seeded table: each is run through EXPLAIN
// (ANALYZE, FORMAT JSON), its plan and time logged, and the selective ones
// must not scan the whole table. REQUESTSTATUS_EXPLAIN_ROWS sets the
// table's size (default 100,000; the figures in docs/reconcile.md are from
// 1,000,000):
//
//	REQUESTSTATUS_EXPLAIN_ROWS=1000000 go test -run TestQueryPlans -v ./shared/requeststatus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// recorder runs queries and remembers each with its arguments.
type recorder struct {
	db *pgxpool.Pool
	qs []recorded
}

type recorded struct {
	sql  string
	args []any
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.qs = append(r.qs, recorded{sql, args})
	return r.db.Query(ctx, sql, args...)
}

func (r *recorder) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	r.qs = append(r.qs, recorded{sql, args})
	return r.db.QueryRow(ctx, sql, args...)
}

func (r *recorder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.qs = append(r.qs, recorded{sql, args})
	return r.db.Exec(ctx, sql, args...)
}

// seedPlanRows fills request_status with n rows: groups of 100, granules
// of 10, 1% inprogress, 1% error, the rest complete, over about 70 days.
// One statement, not n Inserts: a million rows take seconds.
func seedPlanRows(t *testing.T, db *pgxpool.Pool, n int) {
	t.Helper()
	start := time.Now()
	_, err := db.Exec(context.Background(), `INSERT INTO request_status (request_id, request_group_id, granule_id, object_key,
    restore_bucket_dest, archive_bucket_dest, job_status, request_time, last_update_time, err_msg)
SELECT md5('r'||i)::uuid, md5('g'||(i/100))::uuid, 'granule-'||(i/10), 'data/'||(i/10)||'/file-'||i||'.dat', 'restore', 'archive',
  CASE WHEN i % 100 = 0 THEN 'inprogress' WHEN i % 100 = 1 THEN 'error' ELSE 'complete' END,
  now() - (i % 100000) * interval '1 minute', now() - (i % 100000) * interval '1 minute' + interval '5 minutes',
  CASE WHEN i % 100 = 1 THEN 'PermanentCopyError: copy s3://restore/data/'||(i/10)||'/file-'||i||'.dat: ObjectNotInActiveTierError' END
FROM generate_series(1, $1::int) i`, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(context.Background(), "VACUUM ANALYZE request_status"); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d rows in %s", n, time.Since(start).Round(time.Millisecond))
}

type plan struct {
	Plan          map[string]any `json:"Plan"`
	ExecutionTime float64        `json:"Execution Time"`
}

func scans(node map[string]any, out *[]string) {
	if t, _ := node["Node Type"].(string); strings.Contains(t, "Scan") {
		name, _ := node["Index Name"].(string)
		*out = append(*out, strings.TrimSpace(t+" "+name))
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				scans(m, out)
			}
		}
	}
}

// planCase is one use of the Table (or of the Store, the workflow's), and
// which of its queries (1-based) reads every row by nature (0: none).
type planCase struct {
	name     string
	run      func(t *Table) error
	store    func(s *Store) error
	fullScan int
}

// chunkKeysOfPlanRows are a full chunk of the keys of seedPlanRows(n),
// spread over the table: inprogress (i % 100 = 0), error (1) and complete
// rows in turn, and a key without a row.
func chunkKeysOfPlanRows(n int) []string {
	keys := []string{"data/none/file-0.dat"}
	for j := 1; len(keys) < MaxChunkFiles; j++ {
		i := j*n/MaxChunkFiles/100*100 + j%3
		keys = append(keys, fmt.Sprintf("data/%d/file-%d.dat", i/10, i))
	}
	return keys
}

// planCases are the sweep's, status's, status --watch's and rerun's uses
// of the Table on the seeded rows.
func planCases(ctx context.Context, group string, now time.Time, planRows int) []planCase {
	page := StuckPage{Cutoff: now.Add(-time.Hour), After: FirstPage, Limit: 500, Buckets: []string{"restore"}}
	of := Selection{RequestGroupID: group}
	status := func(sel Selection) func(t *Table) error {
		return func(t *Table) error {
			if _, err := t.CountByStatus(ctx, sel); err != nil {
				return err
			}
			if _, err := t.FailureGroups(ctx, sel, 20, 5); err != nil {
				return err
			}
			_, err := t.Waiting(ctx, sel, 100)
			return err
		}
	}
	return []planCase{
		{name: "find open jobs of a chunk", store: func(s *Store) error {
			_, err := s.FindOpenJobs(ctx, chunkKeysOfPlanRows(planRows))
			return err
		}},
		{name: "sweep: two pages, their guarded updates and undone claims", run: func(t *Table) error {
			for range 2 {
				rows, err := t.ListStuck(ctx, page)
				if err != nil || len(rows) == 0 {
					return err
				}
				updates := make([]GuardedUpdate, len(rows))
				for i, r := range rows {
					updates[i] = GuardedUpdate{Row: r, Status: StatusInProgress, ErrMsg: "reconcile: restore still running"}
				}
				if _, err := t.ApplyGuarded(ctx, updates); err != nil {
					return err
				}
				undo := make([]UndoneClaim, len(rows))
				for i, r := range rows {
					undo[i] = UndoneClaim{Row: r, Claim: "reconcile: restore still running", ErrMsg: "reconcile: copy not started"}
				}
				if _, err := t.UndoClaims(ctx, undo); err != nil {
					return err
				}
				page = page.Next(rows)
			}
			return nil
		}},
		{name: "status of a group", run: status(of)},
		{name: "status of everything", fullScan: 1, run: status(Selection{})},
		{name: "status --watch of a group", run: func(t *Table) error {
			_, err := t.CountByGroup(ctx, of)
			return err
		}},
		{name: "rerun --failed", run: func(t *Table) error {
			_, err := t.RerunCandidates(ctx, RerunSelection{Selection: of, Failed: true, Limit: 1000})
			return err
		}},
		{name: "rerun --failed --stuck of everything", run: func(t *Table) error {
			_, err := t.RerunCandidates(ctx, RerunSelection{Failed: true, StuckBefore: now.Add(-time.Hour), Limit: 1000})
			return err
		}},
	}
}

func TestQueryPlans(t *testing.T) {
	n := 100000
	if v := os.Getenv("REQUESTSTATUS_EXPLAIN_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("REQUESTSTATUS_EXPLAIN_ROWS=%q: want a number >= 1000", v)
		}
	}
	db := testPool(t)
	seedPlanRows(t, db, n)
	ctx := context.Background()
	var group string
	if err := db.QueryRow(ctx, "SELECT md5('g'||42)::uuid::text").Scan(&group); err != nil {
		t.Fatal(err)
	}
	for _, tc := range planCases(ctx, group, time.Now(), n) {
		rec := &recorder{db: db}
		var err error
		if tc.store != nil {
			err = tc.store(NewStore(rec))
		} else {
			err = tc.run(NewTable(rec))
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, q := range rec.qs {
			ss, ms := explain(t, db, q)
			t.Logf("%d rows: %s, query %d: %.2f ms, %s", n, tc.name, i+1, ms, strings.Join(ss, ", "))
			for _, s := range ss {
				if strings.HasPrefix(s, "Seq Scan") && i+1 != tc.fullScan {
					t.Errorf("%s query %d scans the whole table: %s\n%s", tc.name, i+1, strings.Join(ss, ", "), q.sql)
				}
			}
		}
	}
}

// explain runs q under EXPLAIN (ANALYZE, FORMAT JSON) and returns its
// scans and execution time in milliseconds.
func explain(t *testing.T, db *pgxpool.Pool, q recorded) ([]string, float64) {
	t.Helper()
	var raw []byte
	if err := db.QueryRow(context.Background(), "EXPLAIN (ANALYZE, FORMAT JSON) "+q.sql, q.args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN %s: %v", q.sql, err)
	}
	var plans []plan
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("plan %s: %v", raw, err)
	}
	var ss []string
	scans(plans[0].Plan, &ss)
	return ss, plans[0].ExecutionTime
}
