package recovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

func seededDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url, _ := pgtest.Schema(t, "recovery")
	db, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if err := requeststatus.ApplySchema(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return url, db
}

func insert(t *testing.T, db *pgxpool.Pool, j jobseed.Row) jobseed.Row {
	t.Helper()
	j, err := jobseed.Insert(context.Background(), db, j)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// status on a seeded request group: counts by status for that group only,
// failures grouped by error whatever their keys and times, the longest
// waiting file first.
func TestStatusOfRequestGroup(t *testing.T) {
	url, db := seededDB(t)
	group, other := jobseed.NewRequestID(), jobseed.NewRequestID()
	now := time.Now().UTC().Truncate(time.Second)
	at := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	notRestored := func(key string, h int) string {
		return "PermanentCopyError: copy s3://restore/" + key + ": ObjectNotInActiveTierError: the object is archived in GLACIER and not restored; restored copy expires " + at(h).Format(time.RFC3339)
	}
	for i, k := range []string{"a.dat", "b.dat", "c.dat"} {
		insert(t, db, jobseed.Row{RequestGroupID: group, GranuleID: "G1", ObjectKey: k, JobStatus: "error",
			ErrMsg: notRestored(k, i), RequestTime: at(10), LastUpdateTime: at(i + 1)})
	}
	insert(t, db, jobseed.Row{RequestGroupID: group, GranuleID: "G2", ObjectKey: "d.dat", JobStatus: "error",
		ErrMsg: "reconcile: no object \"d.dat\" in the restore buckets restore", RequestTime: at(10), LastUpdateTime: at(1)})
	oldest := insert(t, db, jobseed.Row{RequestGroupID: group, GranuleID: "G2", ObjectKey: "e.dat", RequestTime: at(9), LastUpdateTime: at(8)})
	insert(t, db, jobseed.Row{RequestGroupID: group, GranuleID: "G2", ObjectKey: "f.dat", RequestTime: at(9), LastUpdateTime: at(2)})
	for _, k := range []string{"g.dat", "h.dat"} {
		insert(t, db, jobseed.Row{RequestGroupID: group, GranuleID: "G1", ObjectKey: k, JobStatus: "complete", RequestTime: at(9)})
	}
	// Another group, which must not be counted.
	for _, s := range []string{"error", "inprogress", "complete", "complete"} {
		insert(t, db, jobseed.Row{RequestGroupID: other, ObjectKey: "x-" + s, JobStatus: s, ErrMsg: "other", RequestTime: at(20), LastUpdateTime: at(20)})
	}

	var stdout, stderr bytes.Buffer
	cli := &recovery.CLI{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		return map[string]string{"DATABASE_URL": url, "AWS_REGION": "us-east-1"}[k]
	}}
	if code := cli.Main(context.Background(), []string{"status", "--request-group", group, "--json", "--check-restores", "0"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var st recovery.Status
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if diff := cmp.Diff(map[string]int64{"inprogress": 2, "complete": 2, "error": 4}, st.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if len(st.Failed) != 2 || st.Failed[0].Count != 3 || st.Failed[1].Count != 1 {
		t.Fatalf("failed groups %+v, want one of 3 files and one of 1", st.Failed)
	}
	if g := st.Failed[0]; !strings.Contains(g.Error, "s3://restore/<key>") || !strings.Contains(g.Error, "expires <time>") ||
		g.Example != notRestored("a.dat", 0) || len(g.Files) != 3 || g.Files[0].Key != "a.dat" {
		t.Errorf("first group %+v: want the not-restored error with <key> and <time>, the newest err_msg as example, a.dat first", g)
	}
	if len(st.Waiting) != 2 || st.Waiting[0].RequestID != oldest.RequestID {
		t.Errorf("waiting %+v, want e.dat first of 2", st.Waiting)
	}

	// The text form says the same.
	stdout.Reset()
	if code := cli.Main(context.Background(), []string{"status", "--request-group", group, "--check-restores", "0"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"request group " + group, "error       4", "3 x PermanentCopyError", "1 x reconcile: no object", "e.dat  waiting 8h"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout.String())
		}
	}

	// --granule narrows further; a bad group id is a usage error naming it.
	stdout.Reset()
	if code := cli.Main(context.Background(), []string{"status", "--granule", "G2", "--json", "--check-restores", "0"}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	st = recovery.Status{}
	_ = json.Unmarshal(stdout.Bytes(), &st)
	if diff := cmp.Diff(map[string]int64{"inprogress": 2, "complete": 0, "error": 1}, st.Counts); diff != "" {
		t.Errorf("--granule G2 counts (-want +got):\n%s", diff)
	}
	stderr.Reset()
	if code := cli.Main(context.Background(), []string{"status", "--request-group", "group-1"}); code != 2 || !strings.Contains(stderr.String(), `--request-group "group-1" is not a request_group_id`) {
		t.Errorf("bad group: exit %d, stderr %q", code, stderr.String())
	}
}
