package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// UnprivilegedRole creates a role that may read and write the tables of
// schema (USAGE on it; SELECT, INSERT, UPDATE, DELETE on the tables it has
// now) but owns none of them, as a function's database user may be. It
// returns a connection string like connString whose sessions act as that
// role (the startup parameter role=..., as SET ROLE), for a superuser's
// connString such as TEST_DATABASE_URL's. The role is dropped when the test
// ends, after the test's later cleanups (closing its pools) have run.
func UnprivilegedRole(t testing.TB, connString, schema string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "pgtest_role_" + hex.EncodeToString(b[:])
	ident, schemaIdent := pgx.Identifier{role}.Sanitize(), pgx.Identifier{schema}.Sanitize()

	exec := func(sqls ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, connString)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		for _, sql := range sqls {
			if _, err := conn.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	}
	if err := exec("CREATE ROLE "+ident+" NOLOGIN",
		"GRANT USAGE ON SCHEMA "+schemaIdent+" TO "+ident,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+schemaIdent+" TO "+ident); err != nil {
		t.Fatalf("create role %s: %v", role, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP OWNED BY "+ident, "DROP ROLE "+ident); err != nil {
			t.Errorf("cleanup: drop role %s: %v", role, err)
		}
	})
	if !strings.HasPrefix(connString, "postgres://") && !strings.HasPrefix(connString, "postgresql://") {
		return connString + " role=" + role
	}
	u, err := url.Parse(connString)
	if err != nil {
		t.Fatalf("connection string: %v", err)
	}
	q := u.Query()
	q.Set("role", role)
	u.RawQuery = q.Encode()
	return u.String()
}
