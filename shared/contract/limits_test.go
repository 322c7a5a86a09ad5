package contract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func filesWithKeys(n, keyLen int) []File {
	files := make([]File, n)
	for i := range files {
		key := fmt.Sprintf("granules/%06d/", i)
		// A versioned bucket's version id and a multipart object's ETag,
		// at their usual lengths, travel with each file too.
		files[i] = File{SourceBucket: "my-dr-fake-glacier-bucket", SourceKey: key + strings.Repeat("k", keyLen-len(key)), Size: 1 << 30,
			VersionID: strings.Repeat("v", 32), ETag: strings.Repeat("e", 32) + "-10000"}
	}
	return files
}

// worstReport is the report of files all failed, with the room
// FilesWithinReport keeps per file.
func worstReport(files []File) string {
	var rs []FileResult
	for _, f := range files {
		rs = append(rs, FileResult{
			RequestID: strings.Repeat("0", 36), SourceBucket: f.SourceBucket, SourceKey: f.SourceKey,
			TargetBucket: strings.Repeat("a", 63), ErrMsg: strings.Repeat("e", ReportErrMsgChars),
		})
	}
	return FailureMessage(rs)
}

func TestFilesWithinReport(t *testing.T) {
	for _, tc := range []struct {
		keyLen   int
		min, max int // the documented "about" figure's range
	}{
		{keyLen: 100, min: 45, max: 65},
		{keyLen: 1024, min: 15, max: 25},
	} {
		t.Run(fmt.Sprintf("keys of %d characters", tc.keyLen), func(t *testing.T) {
			files := filesWithKeys(800, tc.keyLen)
			n := FilesWithinReport(files)
			t.Logf("%d files fit", n)
			if n < tc.min || n > tc.max {
				t.Errorf("%d files fit, the documentation says %d to %d", n, tc.min, tc.max)
			}
			// THEN n files fit and n+1 do not
			if got := CauseChars(ErrorTypeCopyRequest, worstReport(files[:n])); got > MaxCauseChars {
				t.Errorf("the report of %d files takes %d characters, more than %d", n, got, MaxCauseChars)
			}
			if got := CauseChars(ErrorTypeCopyRequest, worstReport(files[:n+1])); got <= MaxCauseChars {
				t.Errorf("the report of %d files takes %d characters: it would fit", n+1, got)
			}
			// AND the Map's output for n files, each with a failed copy
			// whose cause is the longest Step Functions keeps, stays below
			// the state payload limit
			its := make([]Iteration, n)
			for i, f := range files[:n] {
				cause, _ := json.Marshal(map[string]string{"errorType": "PermanentCopyError", "errorMessage": "copy " + f.SourceKey + ": " + strings.Repeat("x", 1000)})
				its[i] = Iteration{
					File: f, Job: &Job{RequestID: strings.Repeat("0", 36), TargetBucket: strings.Repeat("a", 63)},
					CopyError: &StateError{Error: "PermanentCopyError", Cause: string(cause)},
					Recorded:  &Recorded{JobStatus: "error"},
				}
			}
			out, _ := json.Marshal(map[string]any{"iterations": its})
			if len(out) > MaxStatePayloadBytes/2 {
				t.Errorf("the Map output of %d failed files is %d bytes, more than half of %d", n, len(out), MaxStatePayloadBytes)
			}
		})
	}
}

func TestFitErrMsgs(t *testing.T) {
	files := filesWithKeys(800, 100)
	n := FilesWithinReport(files)
	long := strings.Repeat("AccessDenied: the archive bucket's policy refuses the copy role. ", 40) // ~2,600 characters
	var results []FileResult
	for i, f := range files[:n] {
		msg := long
		if i%2 == 1 {
			msg = "short message"
		}
		results = append(results, FileResult{RequestID: strings.Repeat("0", 36), SourceBucket: f.SourceBucket, SourceKey: f.SourceKey, TargetBucket: "archive", ErrMsg: msg})
	}
	// GIVEN results whose report is far beyond the cause limit
	if CauseChars(ErrorTypeCopyRequest, FailureMessage(results)) <= MaxCauseChars {
		t.Fatal("the test's results fit already")
	}
	// WHEN they are fitted
	fitted, ok := FitErrMsgs(results)
	// THEN the report fits, is JSON, the short messages are whole and the
	// long ones keep at least ReportErrMsgChars characters, ending in "…"
	if !ok {
		t.Fatal("FitErrMsgs: not ok")
	}
	msg := FailureMessage(fitted)
	if got := CauseChars(ErrorTypeCopyRequest, msg); got > MaxCauseChars {
		t.Errorf("fitted report takes %d characters", got)
	}
	var back []FileResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(msg, "File copy failed. ")), &back); err != nil || len(back) != n {
		t.Fatalf("fitted report is not the JSON list of %d results: %v", n, err)
	}
	for i, r := range back {
		switch {
		case i%2 == 1 && r.ErrMsg != "short message":
			t.Errorf("result %d: short message changed to %q", i, r.ErrMsg)
		case i%2 == 0 && (utf8.RuneCountInString(r.ErrMsg) < ReportErrMsgChars || !strings.HasSuffix(r.ErrMsg, "…") || !strings.HasPrefix(long, strings.TrimSuffix(r.ErrMsg, "…"))):
			t.Errorf("result %d: long message fitted to %d characters %q", i, utf8.RuneCountInString(r.ErrMsg), r.ErrMsg)
		}
	}
	// AND results that fit are returned as they are
	if same, ok := FitErrMsgs(results[:2]); !ok || same[0].ErrMsg != long {
		t.Errorf("results that fit were changed")
	}
}

// TestCauseChars pins the count every limit test relies on against the
// cause written out by hand: the error payload as JSON, a quote or
// backslash escaped once more, <, > and & as \u003c ... (Go's encoding, which
// aws-lambda-go uses for the payload), a non-ASCII letter one character.
func TestCauseChars(t *testing.T) {
	for _, tc := range []struct {
		errorType, message, cause string
	}{
		{"CopyRequestError", "plain", `{"errorMessage":"plain","errorType":"CopyRequestError"}`},
		{"CopyRequestError", `a "quoted" \ path`, `{"errorMessage":"a \"quoted\" \\ path","errorType":"CopyRequestError"}`},
		{"X", "<a&b>", `{"errorMessage":"\u003ca\u0026b\u003e","errorType":"X"}`},
		{"X", "café 文件", `{"errorMessage":"café 文件","errorType":"X"}`},
		{"X", "line\nbreak\ttab", `{"errorMessage":"line\nbreak\ttab","errorType":"X"}`},
	} {
		if got, want := CauseChars(tc.errorType, tc.message), utf8.RuneCountInString(tc.cause); got != want {
			t.Errorf("CauseChars(%q, %q) = %d, want %d (%s)", tc.errorType, tc.message, got, want, tc.cause)
		}
	}
}
