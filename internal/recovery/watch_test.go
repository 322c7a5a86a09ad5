package recovery_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/jobseed"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/recovery"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestRateWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	type reading struct {
		after time.Duration
		done  int64
	}
	cases := []struct {
		name     string
		readings []reading
		rate     float64
		known    bool
	}{
		{name: "one reading", readings: []reading{{0, 5}}},
		{name: "same instant", readings: []reading{{0, 5}, {0, 9}}},
		{name: "steady", readings: []reading{{0, 0}, {30 * time.Second, 1}, {time.Minute, 2}}, rate: 2, known: true},
		{name: "nothing finishes", readings: []reading{{0, 7}, {time.Minute, 7}}, rate: 0, known: true},
		{name: "count goes down", readings: []reading{{0, 7}, {time.Minute, 3}}, rate: 0, known: true},
		// A 2-minute window forgets the burst of the first minute: from
		// 1m (base, 60 done) to 3m (64 done) is 2 files/min.
		{name: "window slides", readings: []reading{{0, 0}, {time.Minute, 60}, {2 * time.Minute, 62}, {3 * time.Minute, 64}}, rate: 2, known: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := recovery.RateWindow{Window: 2 * time.Minute}
			for _, x := range tc.readings {
				r.Add(t0.Add(x.after), x.done)
			}
			rate, known := r.PerMinute()
			if rate != tc.rate || known != tc.known {
				t.Errorf("PerMinute() = %v, %v; want %v, %v", rate, known, tc.rate, tc.known)
			}
		})
	}
}

func TestETA(t *testing.T) {
	cases := []struct {
		g    recovery.GroupProgress
		want string
	}{
		{recovery.GroupProgress{Complete: 1, InProgress: 2, PerMinute: 2, RateKnown: true}, " 33%  ETA 1m0s  2.0 files/min  1 complete"},
		{recovery.GroupProgress{Complete: 1, InProgress: 2, PerMinute: 0, RateKnown: true}, "ETA unknown  0.0 files/min"},
		{recovery.GroupProgress{InProgress: 2}, "ETA unknown  rate unknown"},
		{recovery.GroupProgress{Complete: 2, Error: 1, RateKnown: true, PerMinute: 3}, "100%  finished  3.0 files/min"},
		{recovery.GroupProgress{Complete: 1, InProgress: 600, PerMinute: 4, RateKnown: true}, "ETA 2h30m0s  4.0 files/min"},
	}
	for _, tc := range cases {
		if got := recovery.ProgressLine(tc.g); !strings.Contains(got, tc.want) {
			t.Errorf("%+v: line %q, want it to say %q", tc.g, got, tc.want)
		}
	}
	if got := recovery.Bar(recovery.GroupProgress{Complete: 5, Error: 2, InProgress: 3}, 10); got != "#####xx..." {
		t.Errorf("bar %q, want #####xx...", got)
	}
}

// frames is stdout for a watch: each Write (one per reading) is sent to
// the test, which changes rows between readings.
type frames chan string

func (f frames) Write(p []byte) (int, error) { f <- string(p); return len(p), nil }

const (
	groupA = "0a000000-0000-4000-8000-00000000000a"
	groupB = "0b000000-0000-4000-8000-00000000000b"
)

// watchRun runs `recovery status --watch` args on db's rows with an
// injected clock and ticker; step(i) changes rows after frame i and
// returns false to stop sending ticks (and cancel, if cancel is set).
type watchRun struct {
	url      string
	terminal bool
	args     []string
}

func (r watchRun) run(t *testing.T, step func(i int) bool) (out, stderr string, code int) {
	t.Helper()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	ticks := make(chan time.Time)
	out1 := make(frames)
	var errb bytes.Buffer
	cli := &recovery.CLI{Stdout: out1, Stderr: &errb, Getenv: func(k string) string { return map[string]string{"DATABASE_URL": r.url}[k] },
		Now:      func() time.Time { return t0 },
		Ticker:   func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} },
		Terminal: func(io.Writer) bool { return r.terminal }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan int)
	go func() { done <- cli.Main(ctx, append([]string{"status", "--watch"}, r.args...)) }()
	var b strings.Builder
	for i := 0; ; {
		select {
		case f := <-out1:
			b.WriteString(f)
			if strings.HasPrefix(f, "\x1b[?25") || strings.HasPrefix(f, "\x1b[?7h") || strings.HasPrefix(f, "interrupted") {
				continue // cursor hidden or shown, or the closing line
			}
			i++
			if !step(i) {
				cancel()
				continue
			}
			go func(at time.Time) {
				select {
				case ticks <- at:
				case <-ctx.Done():
				}
			}(t0.Add(time.Duration(i) * 30 * time.Second))
		case code = <-done:
			return b.String(), errb.String(), code
		}
	}
}

func finish(t *testing.T, db *pgxpool.Pool, status string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := requeststatus.NewTable(db).SetStatus(context.Background(), k, status); err != nil {
			t.Fatal(err)
		}
	}
}

func seedGroups(t *testing.T, db *pgxpool.Pool) {
	t.Helper()
	for _, k := range []string{"a1", "a2", "a3"} {
		insert(t, db, jobseed.Row{RequestGroupID: groupA, ObjectKey: k})
	}
	insert(t, db, jobseed.Row{RequestGroupID: groupB, ObjectKey: "b1", JobStatus: "complete"})
	insert(t, db, jobseed.Row{RequestGroupID: groupB, ObjectKey: "b2"})
}

// status --watch on a pipe: one plain line per group per reading while
// rows finish between readings; it stops when none is inprogress and
// exits 1 because one ended in error.
func TestStatusWatchPlain(t *testing.T) {
	url, db := seededDB(t)
	seedGroups(t, db)
	out, stderr, code := watchRun{url: url}.run(t, func(i int) bool {
		switch i {
		case 1:
			finish(t, db, "complete", "a1")
			finish(t, db, "error", "b2")
		case 2:
			finish(t, db, "complete", "a2", "a3")
		}
		return true
	})
	golden(t, "watch_plain.golden", out)
	if code != 1 || !strings.Contains(stderr, "1 of 5 files ended in error") {
		t.Errorf("exit %d, stderr %q; want 1 saying 1 of 5 files ended in error", code, stderr)
	}
}

// status --watch on a terminal redraws one frame in place and exits 0 when
// every file of the group is complete.
func TestStatusWatchTerminal(t *testing.T) {
	url, db := seededDB(t)
	seedGroups(t, db)
	out, stderr, code := watchRun{url: url, terminal: true, args: []string{"--request-group", groupA}}.run(t, func(i int) bool {
		if i <= 3 {
			finish(t, db, "complete", []string{"a1", "a2", "a3"}[i-1])
		}
		return true
	})
	golden(t, "watch_terminal.golden", out)
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
}

// Ctrl-C (the context ends) stops the watch: the cursor comes back, a line
// says what is left, exit 130.
func TestStatusWatchInterrupted(t *testing.T) {
	url, db := seededDB(t)
	seedGroups(t, db)
	out, _, code := watchRun{url: url, terminal: true}.run(t, func(i int) bool { return false })
	if code != 130 || !strings.Contains(out, "interrupted: 4 of 5 files still inprogress\n") || !strings.HasSuffix(out, "\x1b[?7h\x1b[?25h") {
		t.Errorf("exit %d, output %q; want 130, the interrupted line and the cursor shown last", code, out)
	}
}

// A selection with no rows has nothing to watch: exit 1, saying so.
func TestStatusWatchNothingSelected(t *testing.T) {
	url, db := seededDB(t)
	seedGroups(t, db)
	_, stderr, code := watchRun{url: url, args: []string{"--granule", "no-such-granule"}}.run(t, func(int) bool { return true })
	if code != 1 || !strings.Contains(stderr, "no rows match the selection") {
		t.Errorf("exit %d, stderr %q; want 1 and no rows match the selection", code, stderr)
	}
}

// --since selects the files requested within it of the watch's start:
// the selection stays fixed while the watch runs. A file still inprogress
// must not slide out of the window as the readings go on, which would end
// the watch as finished (exit 0) with that file never copied.
func TestStatusWatchSinceKeepsItsFiles(t *testing.T) {
	url, db := seededDB(t)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) // watchRun's first reading
	insert(t, db, jobseed.Row{RequestGroupID: groupA, ObjectKey: "old", RequestTime: t0.Add(-45 * time.Second)})
	insert(t, db, jobseed.Row{RequestGroupID: groupA, ObjectKey: "new", RequestTime: t0.Add(-10 * time.Second), JobStatus: "complete"})
	out, stderr, code := watchRun{url: url, args: []string{"--since", "1m"}}.run(t, func(i int) bool { return i < 3 })
	if code != 130 || !strings.Contains(out, "interrupted: 1 of 2 files still inprogress\n") {
		t.Errorf("exit %d, stderr %q, output:\n%s\nwant 130 and the file requested 45 s before the start still watched (1 of 2 inprogress)", code, stderr, out)
	}
}

// status --watch on a table without the reconcile indexes warns once, on
// stderr, as status does in its report: the frames stay as they are.
func TestStatusWatchWarnsOfMissingIndexes(t *testing.T) {
	url, db := seededDB(t)
	seedGroups(t, db)
	if _, err := db.Exec(context.Background(), "DROP INDEX "+requeststatus.IndexInProgress+", "+requeststatus.IndexError); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := watchRun{url: url}.run(t, func(i int) bool { return i < 2 })
	if code != 130 || strings.Count(stderr, "warning: "+missingBoth) != 1 {
		t.Errorf("exit %d, stderr %q; want 130 and the warning once:\n%s", code, stderr, missingBoth)
	}
}
