package s3server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// TestWaitReadyAcceptsOnlyItsOwnServer: a server counts as ready only when
// it accepts its own random keys and names its own account, and its process
// is still running. Another server on the port (as when ours failed to bind
// a port someone else took) must not count.
func TestWaitReadyAcceptsOnlyItsOwnServer(t *testing.T) {
	srv := StartForTest(t)
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A well-formed ListBuckets answer, but not for our account.
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets></Buckets><Owner><ID>someone-else</ID></Owner></ListAllMyBucketsResult>`))
	}))
	defer impostor.Close()
	// The same, but every answer after the first comes too late: the last
	// probe is cut by the deadline, and the error must still name the
	// owner the first answer gave (as on a loaded machine).
	var answered atomic.Bool
	slowImpostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answered.Swap(true) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets></Buckets><Owner><ID>someone-else</ID></Owner></ListAllMyBucketsResult>`))
	}))
	defer slowImpostor.Close()

	// like returns a Server whose process (a sleep) is running but whose
	// endpoint and keys may be another's.
	like := func(endpoint, access, secret string) *Server {
		proc, err := childproc.Start(exec.Command("sleep", "60"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proc.Stop)
		return &Server{Endpoint: endpoint, AccessKey: access, SecretKey: secret, Region: region, proc: proc}
	}
	otherAccess, otherSecret := newRootKeys()
	exited := like(srv.Endpoint, srv.AccessKey, srv.SecretKey)
	exited.proc.Stop()

	tests := []struct {
		name    string
		s       *Server
		wantErr string // "" means ready
	}{
		{name: "its own server, running", s: like(srv.Endpoint, srv.AccessKey, srv.SecretKey)},
		{name: "another versitygw with other keys", s: like(srv.Endpoint, otherAccess, otherSecret), wantErr: "did not answer"},
		{name: "another HTTP server naming another owner", s: like(impostor.URL, srv.AccessKey, srv.SecretKey), wantErr: `owner "someone-else"`},
		{name: "another HTTP server, then silent", s: like(slowImpostor.URL, srv.AccessKey, srv.SecretKey), wantErr: `owner "someone-else"`},
		{name: "answers, but its process has exited", s: exited, wantErr: "another process holds the port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// 3 s, not less: on a loaded machine (2 cores, parallel test
			// packages) a first probe took over 500 ms and the impostor case
			// failed as "did not answer".
			err := tc.s.waitReady(context.Background(), 3*time.Second)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("not ready: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("refused as wanted: %v", err)
			}
		})
	}
}

// TestServersHaveTheirOwnKeys: two servers never share credentials, so a
// client of one is refused by the other.
func TestServersHaveTheirOwnKeys(t *testing.T) {
	a, b := StartForTest(t), StartForTest(t)
	if a.AccessKey == b.AccessKey || a.SecretKey == b.SecretKey {
		t.Fatalf("two servers share keys: %s and %s", a.AccessKey, b.AccessKey)
	}
	c := a.ClientFor(b.Endpoint)
	_, err := c.ListBuckets(context.Background(), nil)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("ListBuckets on b with a's keys: err = %v, want b to refuse them", err)
	}
	t.Logf("refused as wanted: %s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
}
