package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
			name:   "handed over: a throttled copy starts anew, an unfinished one resumes from its token",
			chunks: [][]contract.File{{f[0], f[1], f[2], f[3]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(f[0]), handedOver(f[1], initial, throttled),
				handedOver(f[2], unfinished, nil), noJob}},
			wantDone: []contract.Iteration{copiedExpress(f[0]), noJob},
			wantStandard: []contract.StandardItem{{File: f[1]}, {File: f[2], Copy: contract.CopyToken{UploadID: "up-1",
				SourceETag: `"etag-1"`, SourceVersionID: "v2", PartSize: 64 << 20, Passes: 1, ElapsedMS: 240000}}},
			wantCounts: SortCounts{Done: 2, Standard: 2, Chunks: 1},
		},
		{
			name:   "a chunk whose lookup failed, and a failed child: all their files to the Standard lane",
			chunks: [][]contract.File{{f[0], f[1]}, {f[2]}, {f[3]}, {f[4]}},
			chunkResults: []any{
				map[string]any{"files": []contract.File{f[0], f[1]}, "lookup_error": map[string]string{"Error": "DatabaseUnavailableError", "Cause": "down"}},
				[]contract.Iteration{copiedExpress(f[2])},
				map[string]string{"Error": "States.Timeout", "Cause": "the child took more than 5 minutes"},
				"something else",
			},
			wantDone:     []contract.Iteration{copiedExpress(f[2])},
			wantStandard: []contract.StandardItem{{File: f[0]}, {File: f[1]}, {File: f[3]}, {File: f[4]}},
			wantCounts:   SortCounts{Done: 1, Standard: 4, Chunks: 4, ChunksFailed: 3},
		},
		{
			name:   "a chunk's list that misses files, names another, repeats one, and is short of entries",
			chunks: [][]contract.File{{f[0], f[1], f[2], f[3]}, {f[4]}},
			chunkResults: []any{
				[]any{copiedExpress(f[2]), copiedExpress(f[2]), nil, copiedExpress(f[7]), copiedExpress(f[0])},
			},
			wantDone:     []contract.Iteration{copiedExpress(f[0]), copiedExpress(f[2])},
			wantStandard: []contract.StandardItem{{File: f[1]}, {File: f[3]}, {File: f[4]}},
			wantCounts:   SortCounts{Done: 2, Standard: 3, Chunks: 2, ChunksFailed: 1, Unreported: 2},
		},
		{
			name:   "the version counts: another version of the key is another file",
			chunks: [][]contract.File{{f[5]}},
			chunkResults: [][]contract.Iteration{{copiedExpress(contract.File{SourceBucket: f[5].SourceBucket, SourceKey: f[5].SourceKey,
				VersionID: "older"})}},
			wantStandard: []contract.StandardItem{{File: f[5]}},
			wantCounts:   SortCounts{Standard: 1, Chunks: 1, Unreported: 1},
		},
		{
			name:         "the Map's catch: every file to the Standard lane",
			chunks:       [][]contract.File{{f[0], f[1]}, {f[2]}},
			chunkResults: map[string]string{"Error": "States.ExceedToleratedFailureThreshold", "Cause": "Map Run failed"},
			wantStandard: []contract.StandardItem{{File: f[0]}, {File: f[1]}, {File: f[2]}},
			wantCounts:   SortCounts{Standard: 3, Chunks: 2, ChunksFailed: 2},
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
			got, counts, err := Sort(req)
			if err != nil {
				t.Fatal(err)
			}
			want := contract.Sorted{Rejected: req.Rejected, Done: tc.wantDone, Standard: tc.wantStandard}
			if want.Done == nil {
				want.Done = []contract.Iteration{}
			}
			if want.Standard == nil {
				want.Standard = []contract.StandardItem{}
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
			if len(got.Done)+len(got.Standard) != files {
				t.Errorf("%d done + %d standard, want the %d files of the chunks, each once", len(got.Done), len(got.Standard), files)
			}
		})
	}
}

// Sorted's lists are JSON lists, never null, and every CopyToken field is
// present: the Standard lane's ItemSelector and "Copy file" read them by
// path.
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
		`"passes":0,"elapsed_ms":0}}]}`
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
	if line := logs.String(); !strings.Contains(line, `"level":"INFO","message":"results sorted","done":0,"standard":1,"chunks":1,"chunks_failed":1`) {
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
