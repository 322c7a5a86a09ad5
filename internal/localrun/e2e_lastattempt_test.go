package localrun_test

import (
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
)

// A resumed multipart copy whose every attempt fails transiently: the last
// attempt aborts the upload instead of keeping it for a retry that will not
// come. The first pass copies parts 1 and 2 and pauses (a gate holds part 3
// until the copier's deadline, as in scenario 12); from then on S3 answers
// every part copy with 503 SlowDown, so the resumed pass and its two retries
// fail with TransientCopyError. The copier knows the last attempt from
// $$.State.RetryCount, which AWS documents and the moto engine provides
// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
// The Node engine has no $$.State (engine.cjs supplies a constant 0), so
// there the upload is kept for the archive bucket's lifecycle rule, as
// before: this pins that deviation. Both end with the row in error and
// nothing archived.
func TestScenarioLastAttemptAbortsResumedUpload(t *testing.T) {
	t.Parallel()
	gate := &faultproxy.Rule{Match: func(r *http.Request) bool {
		n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		return faultproxy.IsUploadPartCopy(r) && err == nil && n >= 3
	}, Times: 1, Delay: time.Hour}
	slowDown := &faultproxy.Rule{Match: func(r *http.Request) bool {
		return faultproxy.IsUploadPartCopy(r) && gate.Hits() == 1
	}, Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	h := newHarness(t, harnessOptions{
		copyTimeout: 8500 * time.Millisecond,
		lambdaEnv: func(h *harness) map[string]string {
			proxy := h.s3Proxy(gate, slowDown)
			return map[string]string{
				"AWS_ENDPOINT_URL_S3":       proxy.URL,
				"AWS_MAX_ATTEMPTS":          "1", // one S3 request per part per attempt
				"MULTIPART_THRESHOLD_MB":    "5",
				"MULTIPART_CHUNKSIZE_MB":    "5",
				"MULTIPART_CONCURRENCY":     "1",
				"MULTIPART_CHECKSUM":        "off", // versitygw's part-checksum bug (docs/limits.md)
				"COPY_DEADLINE_MARGIN_SECS": "5",
			}
		},
	})
	const key = "granules/never finishes+1.h5"
	body := make([]byte, 30<<20)
	rand.Read(body)
	h.putObject(key, body)
	job := h.insertJob(key)
	event := classicEvent(t, restoredFile{key: key, size: len(body)})

	res := h.run(event)

	results := failedResults(t, res)
	if len(results) != 1 || results[0].Success {
		t.Fatalf("results = %+v, want one failed result", results)
	}
	retries := h.runner.Settings.CopyRetries - 1
	if got := countEvents(res, "StateRetried", "Copy file"); got != retries {
		t.Errorf("Copy file retried %d times, want %d", got, retries)
	}
	open := h.openUploads()
	row := h.job(job.RequestID)
	// The attempts fail with SlowDown, or, when the copier spends its
	// short budget retrying the part, with DeadlineExceeded: both transient.
	if row.JobStatus != "error" || !strings.Contains(row.ErrMsg, "SlowDown") && !strings.Contains(row.ErrMsg, "DeadlineExceeded") {
		t.Errorf("row %q %q, want error naming SlowDown or DeadlineExceeded", row.JobStatus, row.ErrMsg)
	}
	switch h.engine {
	case stepengine.EngineMoto: // as AWS: the last attempt knows it is the last
		if open != 0 {
			t.Errorf("%d multipart uploads left open, want the last attempt to abort it", open)
		}
		if !strings.Contains(row.ErrMsg, "aborted") || strings.Contains(row.ErrMsg, "kept for a retry") {
			t.Errorf("err_msg %q does not say the upload was aborted", row.ErrMsg)
		}
	default: // Node: RetryCount is always 0, the upload is kept
		if open != 1 {
			t.Errorf("%d multipart uploads left open, want the one kept (the Node engine has no $$.State.RetryCount)", open)
		}
		if !strings.Contains(row.ErrMsg, "kept for a retry") {
			t.Errorf("err_msg %q does not say the upload was kept", row.ErrMsg)
		}
	}
	if keys := h.archiveKeys(); len(keys) != 0 {
		t.Errorf("archive holds %q, want nothing", keys)
	}
}
