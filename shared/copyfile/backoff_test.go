package copyfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// modelClient is an S3 client for the model with the Lambda's HTTP client.
func modelClient(m *s3model.Server, concurrency int) *s3.Client {
	return s3.NewFromConfig(m.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(m.URL)
		o.UsePathStyle = true
		o.HTTPClient = copyfile.HTTPClient(concurrency)
	})
}

// TestMultipartBacksOffUnderSlowDown: during a burst of 503 SlowDown (the
// model refuses part copies above 4 in flight while 48 parts complete) a
// multipart copy at concurrency 16 lowers the part copies it keeps in
// flight instead of failing, then returns to 16 once the burst is over. The
// burst is delimited by counts of parts, not by time, so the outcome does
// not depend on the machine's speed. Without the adaptive window the parts
// sent during the burst are refused again and again (the burst never ends,
// as no part completes) until the copy fails.
func TestMultipartBacksOffUnderSlowDown(t *testing.T) {
	const concurrency = 16
	p := s3model.DefaultParams()
	p.TimeScale = 250 // a part of about 1 GiB (31 s on the model) takes 125 ms
	burst := s3model.Burst{AfterParts: 2 * concurrency, Parts: 48, MaxInFlight: 4}
	p.Burst = &burst
	m, err := s3model.Start(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	m.CreateBucket("archive")
	const size = 200 << 30 // 208 parts of about 1 GiB: 13 waves of 16
	m.PutObject("restore", "granules/big.h5", size)

	var logs bytes.Buffer
	cfg := copyfile.DefaultConfig()
	cfg.Concurrency = concurrency
	copier := copyfile.NewArchiveCopier(modelClient(m, concurrency), cfg)
	copier.Logger = slog.New(slog.NewJSONHandler(&logs, nil))

	out, err := copier.Copy(context.Background(), contract.CopyRequest{
		SourceBucket: "restore", SourceKey: "granules/big.h5", TargetBucket: "archive",
	})
	if err != nil {
		t.Fatalf("copy failed under a SlowDown burst: %v", err)
	}
	if !out.Complete || out.PartsTotal != 208 || out.PartsDone != 208 {
		t.Errorf("outcome = %+v, want complete with 208 of 208 parts", out)
	}
	if got, ok := m.ObjectSize("archive", "granules/big.h5"); !ok || got != size {
		t.Errorf("archive object: size %d (exists %v), want %d", got, ok, size)
	}
	if n := m.Uploads(); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}

	st := m.Stats()
	if st.SlowDowns == 0 {
		t.Fatal("the model sent no SlowDown: the burst did not happen")
	}
	// The copier said it lowered its concurrency, to at most half, and
	// that it returned to the full concurrency afterwards.
	var lowest, cuts, restoredAfterCut int
	lowest = concurrency
	dec := json.NewDecoder(&logs)
	for dec.More() {
		var rec struct {
			Msg   string `json:"msg"`
			Limit int    `json:"in_flight_limit"`
		}
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Msg {
		case "S3 SlowDown: fewer part copies in flight":
			cuts++
			lowest = min(lowest, rec.Limit)
		case "part copies back to full concurrency after S3 SlowDown":
			if cuts > 0 && rec.Limit == concurrency {
				restoredAfterCut++
			}
		}
	}
	if cuts == 0 || lowest > burst.MaxInFlight {
		t.Errorf("concurrency cut %d times, to %d at the lowest; want at least one cut, to %d or less", cuts, lowest, burst.MaxInFlight)
	}
	if restoredAfterCut == 0 {
		t.Error("no log says the copy went back to full concurrency after the burst")
	}
	// And the model saw it: part copies at the full concurrency after the
	// burst, and none refused once it ended.
	end := burst.AfterParts + burst.Parts
	var fullAfter bool
	for _, a := range st.Parts {
		if a.DoneBefore >= end && a.InFlight == concurrency {
			fullAfter = true
		}
		if a.DoneBefore >= end && a.SlowDown {
			t.Errorf("a part copy was refused after the burst: %+v", a)
		}
	}
	if !fullAfter {
		t.Errorf("no part copy ran with %d in flight after the burst (max in flight overall %d)", concurrency, st.MaxPartsInFlight)
	}
	t.Logf("%d SlowDowns, %d cuts, lowest limit %d, %d part copies sent", st.SlowDowns, cuts, lowest, st.Requests["UploadPartCopy"])
}
