package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// TestLoadReportsFailedFiles: `seed` then `load` on an events file whose
// line 3 names a file that was never seeded (no object, no job) among two
// seeded ones: one batch, one execution. `load --json` names the batch's
// lines, and the failed file with its event's line, its reason and its
// re-run input; the text lists it by line number; the time has decimals.
func TestLoadReportsFailedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts versitygw")
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dbURL, _ := pgtest.Schema(t, "loadfailed")
	srv := s3server.StartBackendForTest(t, s3server.BackendVersityGW, restoreBucket, archiveBucket)
	env := map[string]string{
		"DATABASE_URL": dbURL, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_ACCESS_KEY_ID": srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey, "AWS_REGION": srv.Region,
	}
	dir := t.TempDir()
	good1 := classicEvent(t, restoredFile{key: "report/good 1.dat", size: 100})
	good2 := classicEvent(t, restoredFile{key: "report/good-2.dat", size: 200})
	bad := classicEvent(t, restoredFile{key: "report/never seeded.dat", size: 300})
	seedFile, loadFile := filepath.Join(dir, "seed.ndjson"), filepath.Join(dir, "load.ndjson")
	writeLines(t, seedFile, good1, good2)
	writeLines(t, loadFile, good1, nil, bad, good2) // the bad event on line 3

	cli := func(args ...string) (stdout, stderr string) {
		t.Helper()
		var out, errOut strings.Builder
		c := &localrun.CLI{Stdout: &out, Stderr: &errOut, Dir: root, Getenv: func(k string) string { return env[k] }}
		args = append(args, "--log-file", filepath.Join(dir, args[0]+".log"))
		if code := c.Main(context.Background(), args); code != localrun.ExitSucceeded {
			t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, localrun.ExitSucceeded, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	cli("seed", "--events", seedFile, "--archive-bucket", archiveBucket)

	out, _ := cli("load", "--json", "--events", loadFile)
	var doc struct {
		Executions struct{ Succeeded, Failed int }
		Failed     []struct {
			Lines []int  `json:"lines"`
			Error string `json:"error"`
			Files []struct {
				Line                int
				Bucket, Key, Reason string
			} `json:"files"`
			RerunInput json.RawMessage `json:"rerun_input"`
		} `json:"failed"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	if doc.Executions.Succeeded != 0 || doc.Executions.Failed != 1 || len(doc.Failed) != 1 {
		t.Fatalf("executions %+v, failed %+v: want the batch's one execution failed\n%s", doc.Executions, doc.Failed, out)
	}
	f := doc.Failed[0]
	if fmt.Sprint(f.Lines) != "[1 3 4]" || f.Error != "CopyRequestError" || len(f.Files) != 1 {
		t.Fatalf("failed execution: lines %v, %s, files %v: want lines 1, 3, 4, CopyRequestError, one file", f.Lines, f.Error, f.Files)
	}
	if got := f.Files[0]; got.Line != 3 || got.Bucket != restoreBucket || got.Key != "report/never seeded.dat" || !strings.Contains(got.Reason, "no open job") {
		t.Errorf("failed file %+v: want line 3, %s/report/never seeded.dat, no open job", got, restoreBucket)
	}
	rerun, err := parseevent.ParseEvent(f.RerunInput)
	if err != nil || len(rerun) != 1 || rerun[0].SourceKey != "report/never seeded.dat" {
		t.Errorf("re-run input %s: %v (%v), want the one failed file", f.RerunInput, rerun, err)
	}

	out, _ = cli("load", "--events", loadFile)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\s+line 3\s+CopyRequestError s3://` + restoreBucket + `/report/never seeded\.dat: .*no open job`),
		regexp.MustCompile(`(?m)^time\s+\d+\.\d\d s, \d+\.\d\d files/s$`),
		regexp.MustCompile(`(?m)^peak database sessions\s+\d+ \(sessions of role cfta_load_`),
	} {
		if !want.MatchString(out) {
			t.Errorf("text output does not match %s:\n%s", want, out)
		}
	}
}

// writeLines writes events one per line (nil: an empty line).
func writeLines(t *testing.T, path string, events ...[]byte) {
	t.Helper()
	var b strings.Builder
	for _, ev := range events {
		b.Write(ev)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
