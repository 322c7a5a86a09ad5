package requeststatus

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestApplySchemaTwiceKeepsRowsAndShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, schema := emptySchemaPool(t)

	if err := ApplySchema(ctx, pool); err != nil {
		t.Fatalf("first ApplySchema: %v", err)
	}
	job := mustInsert(t, pool, Row{ObjectKey: "a/b.txt", ArchiveBucketDest: "archive"})
	if err := ApplySchema(ctx, pool); err != nil {
		t.Fatalf("second ApplySchema: %v", err)
	}
	if got := mustRead(t, pool, job.RequestID); got.ObjectKey != "a/b.txt" {
		t.Errorf("row after second ApplySchema: %+v", got)
	}

	// The columns of the original table, in order, with their types.
	rows, err := pool.Query(ctx, `SELECT column_name, data_type, is_nullable, coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'request_status'
		ORDER BY ordinal_position`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var name, typ, nullable, def string
		if err := rows.Scan(&name, &typ, &nullable, &def); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, strings.Join([]string{name, typ, nullable, def}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	wantCols := []string{
		"request_id uuid NO ",
		"request_group_id uuid NO ",
		"granule_id character varying NO ",
		"object_key text NO ",
		"job_type character varying YES 'restore'::character varying",
		"restore_bucket_dest text YES ",
		"archive_bucket_dest text YES ",
		"job_status character varying YES 'inprogress'::character varying",
		"request_time timestamp with time zone NO ",
		"last_update_time timestamp with time zone NO ",
		"err_msg text YES ",
	}
	if diff := cmp.Diff(wantCols, cols); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}

	var indexes []string
	rows, err = pool.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = $1 AND tablename = 'request_status' ORDER BY indexname`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	wantIndexes := []string{"idx_reqstat_error_lstupd", "idx_reqstat_granidlstupd", "idx_reqstat_inprogress_lstupd", "idx_reqstat_keylstupd", "idx_reqstat_reqgidlstupd", "request_status_pkey"}
	if diff := cmp.Diff(wantIndexes, indexes); diff != "" {
		t.Errorf("indexes (-want +got):\n%s", diff)
	}
}

func TestSchemaConstraints(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	tests := []struct {
		name     string
		job      Row
		wantCode string // SQLSTATE; "" means the insert succeeds
	}{
		{name: "inprogress", job: Row{JobStatus: "inprogress"}},
		{name: "complete", job: Row{JobStatus: "complete"}},
		{name: "error", job: Row{JobStatus: "error", ErrMsg: "boom"}},
		{name: "regenerate job type", job: Row{JobType: "regenerate"}},
		{name: "unknown job_status", job: Row{JobStatus: "done"}, wantCode: "23514"},
		{name: "unknown job_type", job: Row{JobType: "copy"}, wantCode: "23514"},
		{name: "granule_id over 100 chars", job: Row{GranuleID: strings.Repeat("g", 101)}, wantCode: "22001"},
		{name: "duplicate request_id", job: Row{RequestID: "7d2b0b9e-1f5c-4f7e-9a51-4a1d6f0c2b11"}, wantCode: "23505"},
	}
	mustInsert(t, pool, Row{RequestID: "7d2b0b9e-1f5c-4f7e-9a51-4a1d6f0c2b11", ObjectKey: "first"})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.job.ObjectKey = "k/" + tc.name
			_, err := NewTable(pool).Insert(context.Background(), tc.job)
			var pgErr *pgconn.PgError
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("Table.Insert: %v", err)
			case tc.wantCode != "" && !errors.As(err, &pgErr):
				t.Fatalf("Table.Insert error = %v, want SQLSTATE %s", err, tc.wantCode)
			case tc.wantCode != "" && pgErr.Code != tc.wantCode:
				t.Fatalf("Table.Insert SQLSTATE = %s (%v), want %s", pgErr.Code, err, tc.wantCode)
			}
		})
	}
}

func TestApplySchemaConcurrently(t *testing.T) {
	t.Parallel()
	pool, _ := emptySchemaPool(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = ApplySchema(context.Background(), pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("ApplySchema #%d: %v", i, err)
		}
	}
}

func TestApplySchemaRejectsForeignTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := emptySchemaPool(t)
	// An older request_status without archive_bucket_dest (ORCA before 2019-10-23).
	if _, err := pool.Exec(ctx, `CREATE TABLE request_status (
		request_id uuid PRIMARY KEY, request_group_id uuid NOT NULL, granule_id varchar(100) NOT NULL,
		object_key text NOT NULL, job_type varchar(12), restore_bucket_dest text, job_status varchar(12),
		request_time timestamptz NOT NULL, last_update_time timestamptz NOT NULL, err_msg text)`); err != nil {
		t.Fatal(err)
	}
	err := ApplySchema(ctx, pool)
	if err == nil || !strings.Contains(err.Error(), "archive_bucket_dest") {
		t.Fatalf("ApplySchema on a table without archive_bucket_dest: err = %v, want one naming the column", err)
	}
}

func TestSeededJobDefaults(t *testing.T) {
	t.Parallel()
	pool := testPool(t)
	before := time.Now().Add(-time.Second)
	job := mustInsert(t, pool, Row{ObjectKey: "defaults.txt"})
	got := mustRead(t, pool, job.RequestID)
	if got.JobStatus != StatusInProgress || got.JobType != "restore" || got.GranuleID != "granule" ||
		got.ArchiveBucketDest != "" || got.RequestTime.Before(before) || !got.LastUpdateTime.Equal(got.RequestTime) {
		t.Errorf("defaults: %+v", got)
	}
	if diff := cmp.Diff(job.RequestTime.UnixMicro(), got.RequestTime.UnixMicro()); diff != "" {
		t.Errorf("request_time (-inserted +read):\n%s", diff)
	}
}
