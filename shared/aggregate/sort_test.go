package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

// chunkFile is file i of a batch, versioned.
func chunkFile(i int) contract.File {
	return contract.File{SourceBucket: "restore", SourceKey: fmt.Sprintf("granules/%03d.h5", i), Size: 1 << 20, VersionID: fmt.Sprint("v", i)}
}

// copiedExpress is what the Express lane's "Copied" keeps of a file it
// copied and recorded.
func copiedExpress(f contract.File) contract.Iteration {
	return contract.Iteration{File: f, Job: &contract.Job{RequestID: "req-" + f.SourceKey, TargetBucket: "archive"}, Recorded: aggComplete}
}

// handedOver is an iteration the Express lane handed to the Standard lane
// after its copy, with copy (the initial token or an outcome).
func handedOver(f contract.File, copy *contract.CopyOutcome, caught *contract.StateError) contract.Iteration {
	return contract.Iteration{File: f, Job: &contract.Job{RequestID: "req-" + f.SourceKey, TargetBucket: "archive"},
		Copy: copy, HandoverError: caught, Handover: &contract.Handover{Lane: "standard"}}
}

// notRecorded is an iteration the Express lane handed over after a complete
// copy whose status the database refused within the short budget.
func notRecorded(f contract.File) contract.Iteration {
	it := handedOver(f, &contract.CopyOutcome{TargetBucket: "archive", Complete: true}, nil)
	it.RecordError = &contract.StateError{Error: "DatabaseUnavailableError", Cause: "connection refused"}
	return it
}

// copiedMark is f as Sort defers it after an Express round copied it but
// could not record it: the next round only records it.
func copiedMark(f contract.File) contract.File {
	f.Copied = true
	return f
}

// sortRequest is "Sort results"' input for chunks and the Express Map's
// output, as JSON.
func sortRequest(t *testing.T, chunks [][]contract.File, chunkResults any) contract.SortRequest {
	t.Helper()
	raw, err := json.Marshal(chunkResults)
	if err != nil {
		t.Fatal(err)
	}
	return contract.SortRequest{Operation: contract.OperationSort, Chunks: chunks, ChunkResults: raw,
		Rejected: []contract.RejectedMessage{{Index: 4, MessageID: "m4", Error: "detail.object.key is missing"}}}
}

// sortCase is one case of TestSort: chunks, the Express Map's output, and
// what Sort should make of them.
type sortCase struct {
	name         string
	chunks       [][]contract.File
	chunkResults any
	wantDone     []contract.Iteration
	wantStandard []contract.StandardItem
	wantDeferred []contract.File
	wantCounts   SortCounts
}

// sortCases covers every shape of the Express Map's output.
func sortCases() []sortCase {
	f := make([]contract.File, 8)
	for i := range f {
		f[i] = chunkFile(i)
	}
	unfinished := &contract.CopyOutcome{TargetBucket: "archive", Multipart: true, Complete: false, UploadID: "up-1",
		SourceETag: `"etag-1"`, SourceVersionID: "v2", PartSize: 64 << 20, PartsDone: 3, PartsTotal: 9, Passes: 1, ElapsedMS: 240000}
	throttled := &contract.StateError{Error: "Lambda.TooManyRequestsException", Cause: "Rate exceeded"}
	initial := &contract.CopyOutcome{} // the ItemSelector's empty token
	noJob := contract.Iteration{File: f[3], LookupError: &contract.StateError{Error: contract.NoOpenJobError, Cause: "no open job"}, Copy: initial}
	return []sortCase{
		{
			name:         "every file done",
			chunks:       [][]contract.File{{f[0], f[1]}, {f[2]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(f[0]), copiedExpress(f[1])}, {copiedExpress(f[2])}},
			wantDone:     []contract.Iteration{copiedExpress(f[0]), copiedExpress(f[1]), copiedExpress(f[2])},
			wantCounts:   SortCounts{Done: 3, Chunks: 2},
		},
		{
			name:   "handed over: a throttled copy is deferred, an unfinished one resumes from its token in the Standard lane",
			chunks: [][]contract.File{{f[0], f[1], f[2], f[3], f[4]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(f[0]), handedOver(f[1], initial, throttled),
				handedOver(f[2], unfinished, nil), noJob, notRecorded(f[4])}},
			wantDone: []contract.Iteration{copiedExpress(f[0]), noJob},
			wantStandard: []contract.StandardItem{{File: f[2], Copy: contract.CopyToken{UploadID: "up-1",
				SourceETag: `"etag-1"`, SourceVersionID: "v2", PartSize: 64 << 20, Passes: 1, ElapsedMS: 240000}}},
			// f[4] was copied; only its status is left: marked copied.
			wantDeferred: []contract.File{f[1], copiedMark(f[4])},
			wantCounts:   SortCounts{Done: 2, Standard: 1, Deferred: 2, Chunks: 1},
		},
		{
			name:   "a copy that timed out in the Express lane goes to the Standard lane, not round again",
			chunks: [][]contract.File{{f[0], f[1], f[2]}},
			chunkResults: [][]contract.Iteration{{handedOver(f[0], initial, &contract.StateError{Error: "States.Timeout"}),
				handedOver(f[1], initial, &contract.StateError{Error: "Sandbox.Timedout"}),
				handedOver(f[2], initial, &contract.StateError{Error: "TransientCopyError", Cause: "SlowDown"})}},
			wantStandard: []contract.StandardItem{{File: f[0]}, {File: f[1]}},
			wantDeferred: []contract.File{f[2]},
			wantCounts:   SortCounts{Standard: 2, Deferred: 1, Chunks: 1},
		},
		{
			name:   "a chunk whose lookup failed, and a failed child: all their files deferred",
			chunks: [][]contract.File{{f[0], f[1]}, {f[2]}, {f[3]}, {f[4]}},
			chunkResults: []any{
				map[string]any{"files": []contract.File{f[0], f[1]}, "lookup_error": map[string]string{"Error": "DatabaseUnavailableError", "Cause": "down"}},
				[]contract.Iteration{copiedExpress(f[2])},
				map[string]string{"Error": "States.Timeout", "Cause": "the child took more than 5 minutes"},
				"something else",
			},
			wantDone:     []contract.Iteration{copiedExpress(f[2])},
			wantDeferred: []contract.File{f[0], f[1], f[3], f[4]},
			wantCounts:   SortCounts{Done: 1, Deferred: 4, Chunks: 4, ChunksFailed: 3},
		},
		{
			name:   "a chunk's list that misses files, names another, repeats one, and is short of entries",
			chunks: [][]contract.File{{f[0], f[1], f[2], f[3]}, {f[4]}},
			chunkResults: []any{
				[]any{copiedExpress(f[2]), copiedExpress(f[2]), nil, copiedExpress(f[7]), copiedExpress(f[0])},
			},
			wantDone:     []contract.Iteration{copiedExpress(f[0]), copiedExpress(f[2])},
			wantDeferred: []contract.File{f[1], f[3], f[4]},
			wantCounts:   SortCounts{Done: 2, Deferred: 3, Chunks: 2, ChunksFailed: 1, Unreported: 2},
		},
		{
			name:   "the version counts: another version of the key is another file",
			chunks: [][]contract.File{{f[5]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(contract.File{SourceBucket: f[5].SourceBucket, SourceKey: f[5].SourceKey,
				VersionID: "older"})}},
			wantDeferred: []contract.File{f[5]},
			wantCounts:   SortCounts{Deferred: 1, Chunks: 1, Unreported: 1},
		},
		{
			name:         "the Map's catch: every file deferred",
			chunks:       [][]contract.File{{f[0], f[1]}, {f[2]}},
			chunkResults: map[string]string{"Error": "States.ExceedToleratedFailureThreshold", "Cause": "Map Run failed"},
			wantDeferred: []contract.File{f[0], f[1], f[2]},
			wantCounts:   SortCounts{Deferred: 3, Chunks: 2, ChunksFailed: 2},
		},
		{
			name:   "a duplicate the Express child left alone (\"Already copied\") is done",
			chunks: [][]contract.File{{f[0], f[1]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(f[0]),
				{File: f[1], Job: &contract.Job{RequestID: "req-1", TargetBucket: "archive", AlreadyComplete: true}}}},
			wantDone: []contract.Iteration{copiedExpress(f[0]),
				{File: f[1], Job: &contract.Job{RequestID: "req-1", TargetBucket: "archive", AlreadyComplete: true}}},
			wantCounts: SortCounts{Done: 2, Chunks: 1},
		},
		{
			name:         "no file: every message rejected",
			chunks:       [][]contract.File{},
			chunkResults: []any{},
			wantCounts:   SortCounts{},
		},
	}
}

func TestSort(t *testing.T) {
	for _, tc := range sortCases() {
		t.Run(tc.name, func(t *testing.T) {
			req := sortRequest(t, tc.chunks, tc.chunkResults)
			req.MaxRounds, req.WaitBaseSecs, req.WaitCapSecs = 20, 2, 60
			got, counts, err := sortWith(req, func(n int) int { return n - 1 })
			if err != nil {
				t.Fatal(err)
			}
			want := contract.Sorted{Rejected: req.Rejected, Done: tc.wantDone, Standard: tc.wantStandard,
				Deferred: tc.wantDeferred, Round: 1}
			if want.Done == nil {
				want.Done = []contract.Iteration{}
			}
			if want.Standard == nil {
				want.Standard = []contract.StandardItem{}
			}
			if want.Deferred == nil {
				want.Deferred = []contract.File{}
			} else {
				want.WaitSecs = 2 // the first wait's ceiling, base * 2^0
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Sort (-want +got):\n%s", diff)
			}
			if counts != tc.wantCounts {
				t.Errorf("counts %+v, want %+v", counts, tc.wantCounts)
			}
			files := 0
			for _, c := range tc.chunks {
				files += len(c)
			}
			if len(got.Done)+len(got.Standard)+len(got.Deferred) != files {
				t.Errorf("%d done + %d standard + %d deferred, want the %d files of the chunks, each once", len(got.Done),
					len(got.Standard), len(got.Deferred), files)
			}
		})
	}
}

// Sorted's lists are JSON lists, never null, and every CopyToken field is
// present: the Standard lane's ItemSelector and "Copy file" read them by
// path.
// (MaxRounds 0: no round left, the deferred file goes to the Standard lane.)
func TestSortedJSONHasEveryPath(t *testing.T) {
	req := sortRequest(t, [][]contract.File{{chunkFile(0)}}, map[string]string{"Error": "States.Runtime"})
	req.Rejected = nil
	got, _, err := Sort(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(got)
	want := `{"rejected":[],"done":[],"standard":[{"file":{"source_bucket":"restore","source_key":"granules/000.h5","size":1048576,` +
		`"version_id":"v0","etag":""},"copy":{"complete":false,"upload_id":"","source_etag":"","source_version_id":"","part_size":0,` +
		`"passes":0,"elapsed_ms":0}}],"deferred":[],"round":1,"wait_secs":0}`
	if string(out) != want {
		t.Errorf("Sorted as JSON\n got %s\nwant %s", out, want)
	}
}

// The handler routes "sort" to Sort, logs its counts at INFO, and refuses
// an input it cannot read with an error saying what is wrong.
func TestHandlerSorts(t *testing.T) {
	var logs bytes.Buffer
	h := &AggregateHandler{Logger: lambdafn.NewLogger(&logs, nil)}
	payload := `{"operation":"sort","chunks":[[{"source_bucket":"restore","source_key":"k","size":1,"version_id":"","etag":""}]],` +
		`"rejected":[],"chunk_results":[{"Error":"States.Timeout","Cause":"killed"}]}`
	out, err := h.Invoke(context.Background(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	var sorted contract.Sorted
	if err := json.Unmarshal(out, &sorted); err != nil || len(sorted.Standard) != 1 || sorted.Standard[0].File.SourceKey != "k" {
		t.Fatalf("answer %s (%v), want the file for the Standard lane", out, err)
	}
	if line := logs.String(); !strings.Contains(line, `"level":"INFO","message":"results sorted","round":1,"done":0,"standard":1,"deferred":0,"chunks":1,"chunks_failed":1`) {
		t.Errorf("log: %s", line)
	}
	for payload, want := range map[string]string{
		`{"operation":"sort","chunks":[[]]}`:                       "chunk_results is missing",
		`{"operation":"sort","chunks":[],"chunk_results":"x"}`:     `chunk_results is "x"`,
		`{"operation":"sort","chunks":{},"chunk_results":[]}`:      "invalid aggregate request: sort: json: cannot unmarshal object",
		`{"operation":"shuffle"}`:                                  "unknown operation shuffle",
		`[1]`:                                                      "invalid aggregate request: not a JSON object",
		`{"operation":"sort","chunks":[],"chunk_results":[1,2,3]}`: "",
	} {
		_, err := h.Invoke(context.Background(), []byte(payload))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", payload, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: error %v, want %q in it", payload, err, want)
		}
	}
}

// A later round appends its files to what the earlier rounds gave, and the
// last round (MaxRounds) sends its deferred files to the Standard lane with
// an empty token instead of round again.
func TestSortCarriesRounds(t *testing.T) {
	f := []contract.File{chunkFile(0), chunkFile(1), chunkFile(2)}
	throttled := &contract.StateError{Error: "Lambda.TooManyRequestsException", Cause: "Rate exceeded"}
	earlierDone := copiedExpress(chunkFile(7))
	earlierStandard := contract.StandardItem{File: chunkFile(8), Copy: contract.CopyToken{UploadID: "up-8"}}
	for _, tc := range []struct {
		name         string
		round        int
		wantStandard []contract.StandardItem
		wantDeferred []contract.File
		wantWait     int
	}{
		{name: "rounds left: deferred again", round: 3, wantStandard: []contract.StandardItem{earlierStandard},
			wantDeferred: []contract.File{f[1], f[2]}, wantWait: 16},
		{name: "the last round: to the Standard lane", round: 4,
			wantStandard: []contract.StandardItem{earlierStandard, {File: f[1]}, {File: f[2]}}, wantDeferred: []contract.File{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := sortRequest(t, [][]contract.File{{f[0], f[1]}, {f[2]}},
				[]any{[]contract.Iteration{copiedExpress(f[0]), handedOver(f[1], &contract.CopyOutcome{}, throttled)},
					map[string]string{"Error": "States.Timeout"}})
			req.Done, req.Standard = []contract.Iteration{earlierDone}, []contract.StandardItem{earlierStandard}
			req.Round, req.MaxRounds, req.WaitBaseSecs, req.WaitCapSecs = tc.round, 5, 2, 60
			got, counts, err := sortWith(req, func(n int) int { return n - 1 })
			if err != nil {
				t.Fatal(err)
			}
			want := contract.Sorted{Rejected: req.Rejected, Done: []contract.Iteration{earlierDone, copiedExpress(f[0])},
				Standard: tc.wantStandard, Deferred: tc.wantDeferred, Round: tc.round + 1, WaitSecs: tc.wantWait}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Sort (-want +got):\n%s", diff)
			}
			if counts.Done+counts.Standard+counts.Deferred != 5 {
				t.Errorf("counts %+v: want the 2 earlier files and the 3 of this round, each once", counts)
			}
		})
	}
}

// The wait is full jitter of min(cap, base * 2^round), at least 1 second:
// Sort draws it from [0, ceiling] and lifts a 0 to 1.
func TestDeferralWait(t *testing.T) {
	for _, tc := range []struct{ round, base, cap, ceiling int }{
		{0, 2, 60, 2}, {1, 2, 60, 4}, {4, 2, 60, 32}, {5, 2, 60, 60}, {19, 2, 60, 60}, {1000, 2, 60, 60}, {0, 0, 60, 1},
	} {
		req := contract.SortRequest{Round: tc.round, WaitBaseSecs: tc.base, WaitCapSecs: tc.cap}
		var drawn int
		highest := deferralWait(req, func(n int) int { drawn = n; return n - 1 })
		lowest := deferralWait(req, func(int) int { return 0 })
		if drawn != tc.ceiling+1 || highest != tc.ceiling || lowest != 1 {
			t.Errorf("round %d, base %d, cap %d: drew from [0, %d), waits %d..%d; want [0, %d], waits 1..%d",
				tc.round, tc.base, tc.cap, drawn, lowest, highest, tc.ceiling+1, tc.ceiling)
		}
	}
	for range 200 {
		if w := deferralWait(contract.SortRequest{Round: 2, WaitBaseSecs: 2, WaitCapSecs: 60}, rand.IntN); w < 1 || w > 8 {
			t.Fatalf("wait %d, want 1..8", w)
		}
	}
}
