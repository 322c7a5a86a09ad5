package localrun_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// TestSeedTwice: `seed` puts each file of the events (one classic and one
// EventBridge event, one per line) in the restore bucket at the event's
// size with one open job pointing at the archive bucket; seeding again
// changes nothing. An event pinning an ETag the seeded object cannot have
// gets a warning naming the file.
func TestSeedTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "seed")
	srv := s3server.StartBackendForTest(t, s3server.BackendVersityGW, restoreBucket, archiveBucket)
	env := map[string]string{
		"DATABASE_URL": dbURL, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_ACCESS_KEY_ID": srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey, "AWS_REGION": srv.Region,
	}
	seed := func(events string) (string, string) {
		t.Helper()
		var out, errOut strings.Builder
		c := &localrun.CLI{Stdout: &out, Stderr: &errOut, Dir: root, Getenv: func(k string) string { return env[k] }}
		code := c.Main(context.Background(), []string{"seed", "--events", events, "--log-file", filepath.Join(t.TempDir(), "seed.log")})
		if code != localrun.ExitSucceeded {
			t.Fatalf("seed: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	const txt, hdf = "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.txt", "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.hdf"
	out, stderr := seed("testdata/load-two-events.ndjson")
	if !strings.Contains(out, "seeded 2 files of 2 events: 2 restored objects put (the others were there), 2 open jobs inserted") || strings.Contains(stderr, "warning") {
		t.Errorf("first seed:\n%s\n%s", out, stderr)
	}
	out, _ = seed("testdata/load-two-events.ndjson")
	if !strings.Contains(out, "0 restored objects put (the others were there), 0 open jobs inserted") {
		t.Errorf("second seed changed something:\n%s", out)
	}
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, _ := srv.Client(context.Background())
	for key, size := range map[string]int64{txt: 645, hdf: 5242880} {
		var n int
		var archive, restore string
		rows, err := requeststatus.NewTable(db).RowsOfKey(context.Background(), key)
		for _, row := range rows {
			if row.JobStatus == requeststatus.StatusInProgress {
				n, archive, restore = n+1, row.ArchiveBucketDest, row.RestoreBucketDest
			}
		}
		if err != nil || n != 1 || archive != archiveBucket || restore != restoreBucket {
			t.Errorf("%s: %d open jobs to %q from %q (%v), want one to %s from %s", key, n, archive, restore, err, archiveBucket, restoreBucket)
		}
		head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(restoreBucket), Key: aws.String(key)})
		if err != nil || aws.ToInt64(head.ContentLength) != size {
			t.Errorf("%s: head %v, want %d bytes in %s", key, err, size, restoreBucket)
		}
	}
	// The sample EventBridge event names an ETag no seeded object has.
	_, stderr = seed(filepath.Join(root, "shared", "parseevent", "testdata", "eventbridge-object-restore-completed.json"))
	if !strings.Contains(stderr, "warning: s3://"+restoreBucket+"/") || !strings.Contains(stderr, "names ETag b1946ac92492d2347c6235b4d2611184") {
		t.Errorf("no warning about the event's ETag:\n%s", stderr)
	}
}
