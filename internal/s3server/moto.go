package s3server

import (
	"context"
	"io"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

// StartMoto starts moto's server (see package motoserver) as a second S3
// peer: unlike versitygw it stores StorageClass GLACIER and DEEP_ARCHIVE
// objects, refuses to copy them until RestoreObject (S3's
// ObjectNotInActiveTierError / InvalidObjectState), then answers HEAD with
// x-amz-restore, and keeps object versions. Its output goes to log.
func StartMoto(ctx context.Context, log io.Writer) (*Server, error) {
	m, err := motoserver.Start(ctx, log)
	if err != nil {
		return nil, err
	}
	return fromMoto(m), nil
}

func fromMoto(m *motoserver.Server) *Server {
	return &Server{
		Endpoint:  m.Endpoint,
		AccessKey: m.AccessKey,
		SecretKey: m.SecretKey,
		Region:    m.Region,
		Backend:   BackendMoto,
		stop:      m.Close,
	}
}

// StartMotoForTest is StartForTest on moto's server: skipped when moto
// cannot run here (failed when CI=true).
func StartMotoForTest(t testing.TB, buckets ...string) *Server {
	t.Helper()
	s := fromMoto(motoserver.StartForTest(t))
	for _, b := range buckets {
		if err := s.CreateBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// StartBackendForTest starts the named backend (BackendVersityGW or
// BackendMoto) with the given buckets.
func StartBackendForTest(t testing.TB, backend string, buckets ...string) *Server {
	t.Helper()
	switch backend {
	case BackendVersityGW:
		return StartForTest(t, buckets...)
	case BackendMoto:
		return StartMotoForTest(t, buckets...)
	}
	t.Fatalf("s3server: unknown backend %q", backend)
	return nil
}

// Backends are the S3 servers tests can run against.
var Backends = []string{BackendVersityGW, BackendMoto}
