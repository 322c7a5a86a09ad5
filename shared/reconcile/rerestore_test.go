package reconcile_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// The RestoreObject bodies the SDK sends for each archived class or tier,
// captured on a loopback server standing in for S3: what AWS accepts for
// each (see ReRestoreRequest for the pages that say so).
func TestReRestoreRequestBodies(t *testing.T) {
	var mu sync.Mutex
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body = string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	const open = `<RestoreRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`
	for _, tc := range []struct {
		name          string
		class, status string
		tier          string
		want          string // "" when no request is sent
	}{
		{"GLACIER Expedited", "GLACIER", "", "Expedited",
			open + `<Days>3</Days><GlacierJobParameters><Tier>Expedited</Tier></GlacierJobParameters></RestoreRequest>`},
		{"GLACIER Bulk", "GLACIER", "", "Bulk",
			open + `<Days>3</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>`},
		{"DEEP_ARCHIVE asked Expedited gets Standard", "DEEP_ARCHIVE", "", "Expedited",
			open + `<Days>3</Days><GlacierJobParameters><Tier>Standard</Tier></GlacierJobParameters></RestoreRequest>`},
		{"DEEP_ARCHIVE Bulk", "DEEP_ARCHIVE", "", "Bulk",
			open + `<Days>3</Days><GlacierJobParameters><Tier>Bulk</Tier></GlacierJobParameters></RestoreRequest>`},
		{"INTELLIGENT_TIERING ARCHIVE_ACCESS: no Days", "INTELLIGENT_TIERING", "ARCHIVE_ACCESS", "Expedited",
			open + `<GlacierJobParameters><Tier>Expedited</Tier></GlacierJobParameters></RestoreRequest>`},
		{"INTELLIGENT_TIERING DEEP_ARCHIVE_ACCESS: no Days, no Expedited", "INTELLIGENT_TIERING", "DEEP_ARCHIVE_ACCESS", "Expedited",
			open + `<GlacierJobParameters><Tier>Standard</Tier></GlacierJobParameters></RestoreRequest>`},
		{"GLACIER_IR is not archived: no restore", "GLACIER_IR", "", "Standard", ""},
		{"INTELLIGENT_TIERING not archived: no restore", "INTELLIGENT_TIERING", "", "Standard", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			body = "(nothing sent)"
			mu.Unlock()
			req, err := reconcile.ReRestoreRequest(reconcile.Restore{StorageClass: tc.class, ArchiveStatus: tc.status}, 3, tc.tier)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ReRestoreRequest = %+v, want an error (nothing to restore)", req)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.RestoreObject(context.Background(), &s3.RestoreObjectInput{
				Bucket: aws.String("restore-bucket"), Key: aws.String("a.dat"), RestoreRequest: req}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if body != tc.want {
				t.Errorf("body\n got %s\nwant %s", body, tc.want)
			}
		})
	}
}
