package requeststatus

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func (r WaitingRow) key() string     { return r.Key }
func (r RerunCandidate) key() string { return r.ObjectKey }

// seedReport fills a table for the operators' queries: group g1 has two
// failures of the same kind, one other failure, two waiting files (one
// updated long ago) and a complete one; group g2 has one row without
// job_status, requested long ago.
func seedReport(t *testing.T) (tbl *Table, g1, g2 string) {
	t.Helper()
	pool := testPool(t)
	g1, g2 = NewRequestID(), NewRequestID()
	old := time.Now().Add(-48 * time.Hour).UTC()
	for _, r := range []Row{
		{RequestGroupID: g1, ObjectKey: "x/1.dat", JobStatus: StatusError, ErrMsg: "PermanentCopyError: copy s3://restore/x/1.dat at 2024-05-01T12:00:00Z: AccessDenied"},
		{RequestGroupID: g1, ObjectKey: "x/2.dat", JobStatus: StatusError, ErrMsg: "PermanentCopyError: copy s3://restore/x/2.dat at 2024-05-02T13:00:00Z: AccessDenied"},
		{RequestGroupID: g1, ObjectKey: "x/3.dat", JobStatus: StatusError, ErrMsg: "NoOpenJobError"},
		{RequestGroupID: g1, ObjectKey: "x/4.dat", RestoreBucketDest: "restore", LastUpdateTime: old},
		{RequestGroupID: g1, ObjectKey: "x/5.dat"},
		{RequestGroupID: g1, ObjectKey: "x/6.dat", JobStatus: StatusComplete},
		{RequestGroupID: g2, GranuleID: "other", ObjectKey: "y/1.dat", RequestTime: old},
	} {
		mustInsert(t, pool, r)
	}
	if _, err := pool.Exec(context.Background(), "UPDATE request_status SET job_status = NULL WHERE object_key = 'y/1.dat'"); err != nil {
		t.Fatal(err)
	}
	return NewTable(pool), g1, g2
}

func TestOperatorsQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, g1, g2 := seedReport(t)

	counts, err := tbl.CountByStatus(ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int64{"error": 3, "inprogress": 2, "complete": 1, "null": 1}, counts); diff != "" {
		t.Errorf("CountByStatus (-want +got):\n%s", diff)
	}
	recent, err := tbl.CountByStatus(ctx, Selection{RequestedAfter: time.Now().Add(-time.Hour)})
	if err != nil || recent["null"] != 0 || recent["error"] != 3 {
		t.Errorf("CountByStatus requested within an hour: %v (%v), want g2's old row left out", recent, err)
	}
	byGranule, err := tbl.CountByStatus(ctx, Selection{GranuleID: "other"})
	if err != nil || len(byGranule) != 1 || byGranule["null"] != 1 {
		t.Errorf("CountByStatus of granule other: %v (%v), want one null", byGranule, err)
	}

	groups, err := tbl.FailureGroups(ctx, Selection{RequestGroupID: g1}, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]any
	for _, g := range groups {
		got = append(got, [2]any{g.Error, len(g.Files)})
	}
	want := [][2]any{{"PermanentCopyError: copy s3://restore/<key> at <time>: AccessDenied", 1}, {"NoOpenJobError", 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FailureGroups (-want +got):\n%s", diff)
	}
	if groups[0].Count != 2 {
		t.Errorf("first group counts %d files, want 2", groups[0].Count)
	}
	if one, err := tbl.FailureGroups(ctx, Selection{}, 1, 5); err != nil || len(one) != 1 || len(one[0].Files) != 2 {
		t.Errorf("FailureGroups bounded to one group: %+v (%v)", one, err)
	}

	waiting, err := tbl.Waiting(ctx, Selection{RequestGroupID: g1}, 1)
	if err != nil || len(waiting) != 1 || waiting[0].Key != "x/4.dat" || waiting[0].RestoreBucket != "restore" {
		t.Errorf("Waiting, one: %+v (%v), want x/4.dat from restore, the oldest", waiting, err)
	}

	progress, err := tbl.CountByGroup(ctx, Selection{})
	if err != nil {
		t.Fatal(err)
	}
	wantProgress := []GroupCounts{{g1, 1, 3, 2}, {g2, 0, 0, 1}}
	if g2 < g1 {
		wantProgress = []GroupCounts{wantProgress[1], wantProgress[0]}
	}
	if diff := cmp.Diff(wantProgress, progress); diff != "" {
		t.Errorf("CountByGroup (-want +got):\n%s", diff)
	}
}

func TestRerunCandidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tbl, g1, _ := seedReport(t)
	hourAgo := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		q    RerunSelection
		want []string
	}{
		{"failed", RerunSelection{Failed: true, Limit: 10}, []string{"x/1.dat", "x/2.dat", "x/3.dat"}},
		{"stuck", RerunSelection{StuckBefore: hourAgo, Limit: 10}, []string{"x/4.dat"}},
		{"both, bounded", RerunSelection{Selection: Selection{RequestGroupID: g1}, Failed: true, StuckBefore: hourAgo, Limit: 2}, []string{"x/4.dat", "x/1.dat"}},
		{"neither", RerunSelection{Limit: 10}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tbl.RerunCandidates(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, keys(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
