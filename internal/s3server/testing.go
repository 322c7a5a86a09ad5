package s3server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// StartForTest starts a server on a fresh t.TempDir with the given buckets
// created, and stops it in t.Cleanup. If the server cannot be built or started the test fails with the
// reason (set VERSITYGW_BIN to a prebuilt versitygw to skip the build). The
// server's output is shown only when the test fails.
func StartForTest(t testing.TB, buckets ...string) *Server {
	t.Helper()
	return startForTest(t, Options{}, buckets)
}

// StartVersionedForTest is StartForTest with versioning: the server runs
// with a versioning directory and every bucket given has versioning
// enabled.
func StartVersionedForTest(t testing.TB, buckets ...string) *Server {
	t.Helper()
	s := startForTest(t, Options{Versioning: true}, buckets)
	for _, b := range buckets {
		if err := s.EnableVersioning(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func startForTest(t testing.TB, opts Options, buckets []string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &childproc.Output{Max: 16 << 10}
	s, err := StartWithOptions(ctx, filepath.Join(t.TempDir(), "data"), log, opts)
	if err != nil {
		t.Fatalf("s3server: cannot start versitygw %s for this test: %v", Version, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("s3server: close: %v", err)
		}
		if t.Failed() {
			t.Logf("s3server output (last 16 KiB):\n%s", log.String())
		}
	})
	for _, b := range buckets {
		if err := s.CreateBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
