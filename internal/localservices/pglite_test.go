package localservices

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestPGliteServesPgxPool(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckNodeModules(root); err != nil {
		t.Fatal(err) // PGlite runs under Node
	}
	ctx := context.Background()
	dir := t.TempDir()
	pg, err := StartPGlite(ctx, root, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	if _, err := StartPGlite(ctx, root, dir, nil); err == nil {
		t.Error("second StartPGlite on the same dir succeeded, want an in-use error")
	}

	pool, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE TABLE t (k text PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	// Concurrent parameterized queries through the one pooled connection.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := pool.Exec(ctx, "INSERT INTO t (k, v) VALUES ($1, $2)", string(rune('a'+i)), i)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM t WHERE v >= $1", 0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Errorf("rows = %d, want 8", n)
	}
}
