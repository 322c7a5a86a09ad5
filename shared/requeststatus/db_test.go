package requeststatus

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testDatabaseURL returns TEST_DATABASE_URL, skipping the test loudly when it
// is unset, or failing it when CI=true.
func testDatabaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("TEST_DATABASE_URL")
	if url == "" {
		const msg = "TEST_DATABASE_URL is not set: this test needs a Postgres, e.g. " +
			"TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPED: " + msg)
	}
	return url
}

// emptySchemaPool creates a schema with a random name, returns a pool whose
// search_path is that schema, and drops the schema when the test ends.
func emptySchemaPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := testDatabaseURL(t)
	ctx := context.Background()

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := fmt.Sprintf("requeststatus_test_%x", b)
	ident := pgx.Identifier{schema}.Sanitize()

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("cleanup: connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
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
func mustInsert(t testing.TB, db DB, job JobRow) JobRow {
	t.Helper()
	got, err := InsertJob(context.Background(), db, job)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustRead(t testing.TB, db DB, requestID string) JobRow {
	t.Helper()
	got, err := ReadJob(context.Background(), db, requestID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
