package requeststatus

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
)

// emptySchemaPool returns a pool on a fresh, empty schema of its own
// (pgtest.Schema: its search_path, dropped when the test ends), and the
// schema's name.
func emptySchemaPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return emptySchemaPoolWith(t, nil)
}

// emptySchemaPoolWith is emptySchemaPool with configure applied to the
// pool's configuration (nil: none), e.g. to trace its queries.
func emptySchemaPoolWith(t testing.TB, configure func(*pgxpool.Config)) (*pgxpool.Pool, string) {
	t.Helper()
	connString, schema := pgtest.Schema(t, "requeststatus_test")
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	cfg.MaxConns = 4
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, schema
}

// testPool is emptySchemaPool with the schema applied.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := emptySchemaPool(t)
	if err := ApplySchema(context.Background(), pool); err != nil {
		t.Fatalf("ApplySchema: %v", err)
	}
	return pool
}

// mustInsert seeds a job and returns it as inserted.
func mustInsert(t testing.TB, db Queryer, job Row) Row {
	t.Helper()
	got, err := NewTable(db).Insert(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustRead(t testing.TB, db Queryer, requestID string) Row {
	t.Helper()
	got, err := NewTable(db).Read(context.Background(), requestID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
