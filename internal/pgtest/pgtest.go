// Package pgtest gives database tests a real Postgres of their own: the
// server named by TEST_DATABASE_URL, and a fresh schema per test so that
// tests run in parallel without seeing each other's rows.
//
// It applies no schema itself (it must not import shared/requeststatus,
// whose own tests use it): a test that needs the request_status table calls
// requeststatus.ApplySchema on the schema it got.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

// URL returns TEST_DATABASE_URL. When it is unset the test stops
// (testenv.Unavailable: skipped loudly, failed under CI=true).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		testenv.Unavailable(t, "TEST_DATABASE_URL is not set: this test needs a Postgres, e.g. "+
			"TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return u
}

// prefixPattern keeps schema names that need no quoting in search_path.
var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Schema creates an empty schema named prefix_<random hex> in the database
// of URL, and returns a connection string for that database whose
// search_path is the schema (pgx puts it in ConnConfig.RuntimeParams), and
// the schema's name. The schema and everything in it are dropped when the
// test ends, after the test's own cleanups registered later (closing its
// pools) have run. prefix is lower-case letters, digits and underscores.
func Schema(t testing.TB, prefix string) (connString, schema string) {
	t.Helper()
	if !prefixPattern.MatchString(prefix) {
		t.Fatalf("pgtest.Schema: prefix %q is not lower-case letters, digits and underscores", prefix)
	}
	base := URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = prefix + "_" + hex.EncodeToString(b[:])
	ident := pgx.Identifier{schema}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("cleanup: connect to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("cleanup: drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema), schema
}

// withSearchPath adds search_path=schema to a connection string in either
// of the forms pgx accepts: a URL, or keyword/value pairs.
func withSearchPath(t testing.TB, connString, schema string) string {
	t.Helper()
	if !strings.HasPrefix(connString, "postgres://") && !strings.HasPrefix(connString, "postgresql://") {
		return connString + " search_path=" + schema
	}
	u, err := url.Parse(connString)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// ClosedPort returns a loopback TCP port that nothing listens on (it was
// free a moment ago): the address of a database that refuses connections.
func ClosedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
