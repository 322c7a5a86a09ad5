package copyfile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// A multipart copy logs its progress at the configured interval: parts and
// bytes done of the total, never going back, the last line below the total
// (the copy's own "file copied" line reports the end). The copy runs in a
// synctest bubble, whose fake clock drives the parts and the interval, so
// the lines are exactly those the schedule gives on any machine.
func TestMultipartCopyLogsProgress(t *testing.T) { synctest.Test(t, testMultipartCopyLogsProgress) }

func testMultipartCopyLogsProgress(t *testing.T) {
	f := newFakeS3("restore", "archive")
	f.put("restore", "big", pattern(40*MiB), s3.HeadObjectOutput{})
	// 8 parts one at a time, 70 ms each, ending at 70, 140, ..., 560 ms:
	// at the 100 ms ticks 1, 2, 4, 5 and 7 parts are done.
	f.delay = 70 * time.Millisecond
	cfg := testConfig()
	cfg.Concurrency = 1
	cfg.ProgressInterval = 100 * time.Millisecond
	var logs bytes.Buffer
	a := NewArchiveCopier(f, cfg)
	a.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	out, err := a.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
	if err != nil || !out.Complete {
		t.Fatalf("Copy: %+v, %v", out, err)
	}
	type progressLine struct {
		Msg        string  `json:"msg"`
		Key        string  `json:"source_key"`
		Upload     string  `json:"upload_id"`
		PartsDone  int     `json:"parts_done"`
		PartsTotal int     `json:"parts_total"`
		BytesDone  int64   `json:"bytes_done"`
		BytesTotal int64   `json:"bytes_total"`
		Percent    float64 `json:"percent"`
	}
	var lines []progressLine
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		json.Unmarshal([]byte(l), &rec)
		if rec.Msg != LogCopyProgress {
			continue
		}
		lines = append(lines, progressLine{})
		if err := json.Unmarshal([]byte(l), &lines[len(lines)-1]); err != nil {
			t.Fatal(err)
		}
	}
	var done []int
	for _, l := range lines {
		done = append(done, l.PartsDone)
	}
	if diff := cmp.Diff([]int{1, 2, 4, 5, 7}, done); diff != "" {
		t.Errorf("parts done by the progress lines (-want +got):\n%s\n%s", diff, logs.String())
	}
	prev := -1
	for _, l := range lines {
		if l.Key != "big" || l.Upload == "" || l.PartsTotal != 8 || l.BytesTotal != 40*MiB {
			t.Errorf("progress line %+v does not name the copy and its totals", l)
		}
		if l.PartsDone < prev || l.PartsDone > 8 || l.BytesDone != int64(l.PartsDone)*5*MiB {
			t.Errorf("progress line %+v: parts/bytes inconsistent or going back (previous %d parts)", l, prev)
		}
		if want := float64(int(1000*float64(l.BytesDone)/float64(40*MiB))) / 10; l.Percent != want {
			t.Errorf("percent %v, want %v", l.Percent, want)
		}
		prev = l.PartsDone
	}
	if prev == 0 {
		t.Errorf("no progress line shows a part done: %+v", lines)
	}
	// Nothing is logged after the copy returned.
	n := logs.Len()
	time.Sleep(250 * time.Millisecond)
	if logs.Len() != n {
		t.Errorf("progress logged after the copy ended:\n%s", logs.String()[n:])
	}
}

func TestProgressIntervalFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "COPY_PROGRESS_SECS" {
				return v
			}
			return ""
		}
	}
	if c, err := ConfigFromEnv(env("")); err != nil || c.ProgressInterval != 30*time.Second {
		t.Errorf("default: %v, %v", c.ProgressInterval, err)
	}
	if c, err := ConfigFromEnv(env("5")); err != nil || c.ProgressInterval != 5*time.Second {
		t.Errorf("5: %v, %v", c.ProgressInterval, err)
	}
	if _, err := ConfigFromEnv(env("0")); err == nil || !strings.Contains(err.Error(), `COPY_PROGRESS_SECS="0": must be between 1 and 900`) {
		t.Errorf("0: %v", err)
	}
}
