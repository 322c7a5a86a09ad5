package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A connection made with Schema's connection string works in the new,
// empty schema, and the schema is gone once the test that made it ends.
func TestSchema(t *testing.T) {
	ctx := context.Background()
	var schema string
	t.Run("inside", func(t *testing.T) {
		var connString string
		connString, schema = Schema(t, "pgtest_test")
		if !strings.HasPrefix(schema, "pgtest_test_") {
			t.Errorf("schema %q, want prefix pgtest_test_", schema)
		}
		conn, err := pgx.Connect(ctx, connString)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var current string
		var tables int
		if err := conn.QueryRow(ctx, `SELECT current_schema(),
			(SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema())`).Scan(&current, &tables); err != nil {
			t.Fatal(err)
		}
		if current != schema || tables != 0 {
			t.Errorf("current_schema() = %q with %d tables, want %q with none", current, tables, schema)
		}
	})
	conn, err := pgx.Connect(ctx, URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s still exists after its test ended", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"host=h dbname=db", "host=h dbname=db search_path=s1"},
	}
	for _, tc := range tests {
		if got := withSearchPath(t, tc.in, "s1"); got != tc.want {
			t.Errorf("withSearchPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
		cfg, err := pgx.ParseConfig(withSearchPath(t, tc.in, "s1"))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.RuntimeParams["search_path"]; got != "s1" {
			t.Errorf("%q: RuntimeParams[search_path] = %q, want s1", tc.in, got)
		}
	}
}

// Nothing accepts a connection on ClosedPort.
func TestClosedPort(t *testing.T) {
	port := ClosedPort(t)
	_, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://u@127.0.0.1:%d/db?sslmode=disable&connect_timeout=2", port))
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("connect to port %d: %v, want connection refused", port, err)
	}
}
