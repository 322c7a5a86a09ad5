package recovery_test

// The queries of the sweep, status and rerun on a seeded table: each is run
// through EXPLAIN (ANALYZE, FORMAT JSON), its plan and time logged, and the
// selective ones must not scan the whole table. RECOVERY_EXPLAIN_ROWS sets
// the table's size (default 100,000; the figures in docs/reconcile.md are
// from 1,000,000):
//
//	RECOVERY_EXPLAIN_ROWS=1000000 go test -run TestQueryPlans -v ./internal/recovery

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// recorder runs queries and remembers each with its arguments.
type recorder struct {
	db *pgxpool.Pool
	mu sync.Mutex
	qs []recorded
}

type recorded struct {
	sql  string
	args []any
}

func (r *recorder) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.mu.Lock()
	r.qs = append(r.qs, recorded{sql, args})
	r.mu.Unlock()
	return r.db.Query(ctx, sql, args...)
}

func (r *recorder) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return r.db.Exec(ctx, sql, args...)
}

// restoring answers every HeadObject with a restore still running, so
// rerun changes nothing and the sweep only marks the rows it asked about
// (last_update_time, so that it does not ask again within the grace).
type restoring struct{ reconcile.ObjectStore }

func (restoring) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return &s3.HeadObjectOutput{StorageClass: s3types.StorageClassGlacier, Restore: aws.String(`ongoing-request="true"`)}, nil
}

// seed fills request_status with n rows: groups of 100, granules of 10, 1%
// inprogress, 1% error, the rest complete, over about 70 days.
func seed(t *testing.T, db *pgxpool.Pool, n int) {
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

func TestQueryPlans(t *testing.T) {
	n := 100000
	if v := os.Getenv("RECOVERY_EXPLAIN_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("RECOVERY_EXPLAIN_ROWS=%q: want a number >= 1000", v)
		}
	}
	_, db := seededDB(t)
	seed(t, db, n)
	ctx := context.Background()
	var group string
	if err := db.QueryRow(ctx, "SELECT md5('g'||42)::uuid::text").Scan(&group); err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	cases := []struct {
		name string
		run  func(q recovery.Querier) error
		// fullScan is the query (1-based) that reads every row by
		// nature: the counts of the whole table (after query 1, status's
		// check of the reconcile indexes in the catalogs).
		fullScan int
	}{
		{name: "sweep", run: func(q recovery.Querier) error {
			r := &reconcile.Reconciler{Config: reconcile.Config{Grace: time.Hour, PageSize: 500, RestoreBuckets: []string{"restore"}}, DB: q, S3: restoring{}}
			_, err := r.Sweep(ctx)
			return err
		}},
		{name: "status of a group", run: func(q recovery.Querier) error {
			_, err := recovery.ReadStatus(ctx, q, nil, recovery.Selector{RequestGroupID: group}, recovery.StatusOptions{}, now)
			return err
		}},
		{name: "status of everything", fullScan: 2, run: func(q recovery.Querier) error {
			_, err := recovery.ReadStatus(ctx, q, nil, recovery.Selector{}, recovery.StatusOptions{}, now)
			return err
		}},
		{name: "status --watch of a group", run: func(q recovery.Querier) error {
			_, err := recovery.ReadProgress(ctx, q, recovery.Selector{RequestGroupID: group}, now)
			return err
		}},
		{name: "rerun --failed --dry-run", run: func(q recovery.Querier) error {
			_, err := recovery.Rerun(ctx, q, restoring{}, nil, recovery.RerunOptions{Failed: true, DryRun: true, Limit: 1}, now)
			return err
		}},
	}
	for _, tc := range cases {
		rec := &recorder{db: db}
		if err := tc.run(rec); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for i, q := range rec.qs {
			var raw []byte
			if err := db.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q.sql, q.args...).Scan(&raw); err != nil {
				t.Fatalf("%s query %d: EXPLAIN: %v", tc.name, i, err)
			}
			var plans []plan
			if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
				t.Fatalf("%s query %d: plan %s: %v", tc.name, i, raw, err)
			}
			var ss []string
			scans(plans[0].Plan, &ss)
			t.Logf("%d rows: %s, query %d: %.2f ms, %s", n, tc.name, i+1, plans[0].ExecutionTime, strings.Join(ss, ", "))
			for _, s := range ss {
				if strings.HasPrefix(s, "Seq Scan") && i+1 != tc.fullScan {
					t.Errorf("%s query %d scans the whole table: %s\n%s", tc.name, i+1, strings.Join(ss, ", "), q.sql)
				}
			}
		}
	}
}
