package requeststatus

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// keys are the object keys of rows, in order.
func keys[R interface{ key() string }](rows []R) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, r.key())
	}
	return out
}

func (r StuckRow) key() string { return r.ObjectKey }

// ListStuck pages through the inprogress rows older than the cutoff, in
// (last_update_time, request_id) order, this stack's buckets or none.
func TestListStuckPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	for _, r := range []Row{
		{ObjectKey: "a", RestoreBucketDest: "restore", LastUpdateTime: at(1)},
		{ObjectKey: "b", LastUpdateTime: at(2)}, // no restore bucket: listed
		{ObjectKey: "c", RestoreBucketDest: "other-stack", LastUpdateTime: at(3)},
		{ObjectKey: "d", RestoreBucketDest: "restore", LastUpdateTime: at(4), JobStatus: StatusError},
		{ObjectKey: "e", RestoreBucketDest: "restore", LastUpdateTime: at(5)},
		{ObjectKey: "f", RestoreBucketDest: "restore", LastUpdateTime: at(60)}, // after the cutoff
	} {
		r.RequestTime = base
		mustInsert(t, pool, r)
	}
	tbl := NewTable(pool)
	q := StuckPage{Cutoff: at(30), After: FirstPage, Limit: 2, Buckets: []string{"restore"}}
	var pages [][]string
	for {
		rows, err := tbl.ListStuck(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		pages = append(pages, keys(rows))
		q = q.Next(rows)
	}
	if diff := cmp.Diff([][]string{{"a", "b"}, {"e"}}, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	all, err := tbl.ListStuck(ctx, StuckPage{Cutoff: at(30), After: FirstPage, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "e"}, keys(all)); diff != "" {
		t.Errorf("no buckets configured: every bucket's rows (-want +got):\n%s", diff)
	}
}

// ApplyGuarded changes only rows still inprogress with the
// last_update_time listed.
func TestApplyGuardedLeavesChangedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	for i, k := range []string{"same", "moved", "done"} {
		mustInsert(t, pool, Row{ObjectKey: k, RestoreBucketDest: "restore", ArchiveBucketDest: "archive",
			RequestTime: base, LastUpdateTime: base.Add(time.Duration(i) * time.Second)})
	}
	tbl := NewTable(pool)
	listed, err := tbl.ListStuck(ctx, StuckPage{Cutoff: time.Now(), After: FirstPage, Limit: 10})
	if err != nil || len(listed) != 3 {
		t.Fatalf("listed %d rows (%v), want 3", len(listed), err)
	}
	if _, err := NewStore(pool).MarkPickedUp(ctx, listed[1].RequestID, "moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(pool).RecordOutcome(ctx, listed[2].RequestID, "done", nil); err != nil {
		t.Fatal(err)
	}
	var updates []GuardedUpdate
	for _, r := range listed {
		updates = append(updates, GuardedUpdate{Row: r, Status: StatusError, ErrMsg: "reconcile: gone"})
	}
	changed, err := tbl.ApplyGuarded(ctx, updates)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{listed[0].RequestID: true}, changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	for i, want := range []string{StatusError, StatusInProgress, StatusComplete} {
		if got := mustRead(t, pool, listed[i].RequestID); got.JobStatus != want {
			t.Errorf("%s: job_status %q, want %q", listed[i].ObjectKey, got.JobStatus, want)
		}
	}
	if changed, err := tbl.ApplyGuarded(ctx, nil); err != nil || len(changed) != 0 {
		t.Errorf("no updates: %v, %v", changed, err)
	}
}

// UndoClaims puts back the listed last_update_time of rows still carrying
// the claim, with the new err_msg; a row the workflow recorded since keeps
// what it recorded.
func TestUndoClaimsLeavesRowsRecordedSince(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testPool(t)
	for i, k := range []string{"unstarted", "copied"} {
		mustInsert(t, pool, Row{ObjectKey: k, RestoreBucketDest: "restore", ArchiveBucketDest: "archive",
			RequestTime: base, LastUpdateTime: base.Add(time.Duration(i) * time.Second)})
	}
	tbl := NewTable(pool)
	listed, err := tbl.ListStuck(ctx, StuckPage{Cutoff: time.Now(), After: FirstPage, Limit: 10})
	if err != nil || len(listed) != 2 {
		t.Fatalf("listed %d rows (%v), want 2", len(listed), err)
	}
	const claim = "reconcile: copy started by the sweep at T"
	var updates []GuardedUpdate
	var undo []UndoneClaim
	for _, r := range listed {
		updates = append(updates, GuardedUpdate{Row: r, Status: StatusInProgress, ErrMsg: claim})
		undo = append(undo, UndoneClaim{Row: r, Claim: claim, ErrMsg: "reconcile: copy not started"})
	}
	if changed, err := tbl.ApplyGuarded(ctx, updates); err != nil || len(changed) != 2 {
		t.Fatalf("claimed %v (%v), want 2 rows", changed, err)
	}
	if _, err := NewStore(pool).RecordOutcome(ctx, listed[1].RequestID, "copied", nil); err != nil {
		t.Fatal(err)
	}
	undone, err := tbl.UndoClaims(ctx, undo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{listed[0].RequestID: true}, undone); diff != "" {
		t.Errorf("undone (-want +got):\n%s", diff)
	}
	got := mustRead(t, pool, listed[0].RequestID)
	if got.JobStatus != StatusInProgress || !got.LastUpdateTime.Equal(listed[0].LastUpdateTime) || got.ErrMsg != "reconcile: copy not started" {
		t.Errorf("unstarted: %q %v %q, want inprogress, %v (as listed), the new err_msg", got.JobStatus, got.LastUpdateTime, got.ErrMsg, listed[0].LastUpdateTime)
	}
	if got := mustRead(t, pool, listed[1].RequestID); got.JobStatus != StatusComplete {
		t.Errorf("copied: job_status %q, want complete (recorded after the claim)", got.JobStatus)
	}
}
