package parseevent

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

// pipeMessage is one SQS message as the intake's Pipe hands it to the
// execution (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html):
// body is a string holding the event.
func pipeMessage(id, body string) string {
	quoted, _ := json.Marshal(body)
	return fmt.Sprintf(`{"messageId":%q,"receiptHandle":"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a","body":%s,`+
		`"attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1545082649183"},"messageAttributes":{},`+
		`"md5OfBody":"e4e68fb7bd0e697a0ae8f1bb342846b3","eventSource":"aws:sqs",`+
		`"eventSourceARN":"arn:aws:sqs:us-east-2:123456789012:restored","awsRegion":"us-east-2"}`, id, quoted)
}

// restoreEvent is the minimal EventBridge event the intake's input
// transformer writes, for a key as S3 encodes it.
func restoreEvent(bucket, encodedKey string) string {
	return fmt.Sprintf(`{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":%q},`+
		`"object":{"key":%q,"size":5,"etag":"e1","version-id":"v1"},"restore-expiry-time":"2026-12-24T00:00:00Z"}}`, bucket, encodedKey)
}

func batch(elements ...string) []byte { return []byte("[" + strings.Join(elements, ",") + "]") }

// Each message of a batch is judged alone: the bad ones are rejected with
// their index, message id and the field at fault; the good ones keep the
// batch's order, events sent without an SQS envelope among them.
func TestParseInputJudgesEachMessageAlone(t *testing.T) {
	file := func(key string) contract.File {
		return contract.File{SourceBucket: "restore", SourceKey: key, Size: 5, ETag: "e1", VersionID: "v1", RestoreExpiryTime: "2026-12-24T00:00:00Z"}
	}
	got, err := ParseInput(batch(
		pipeMessage("m0", restoreEvent("restore", "a+b.txt")),
		pipeMessage("m1", `{"detail-type":"Object Restore Completed","detail":`),
		pipeMessage("m2", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},"object":{"size":5}}}`),
		pipeMessage("m3", strings.Replace(restoreEvent("restore", "c"), "Object Restore Completed", "Object Created", 1)),
		pipeMessage("m4", restoreEvent("restore", "bad%zz")),
		restoreEvent("restore", "direct+event"),
		`{"messageId":"m6","body":{"detail-type":"Object Restore Completed"}}`,
		`17`,
		pipeMessage("m8", string(notificationWith(2, 20))),
	), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := contract.ParsedEvent{
		Files: []contract.File{file("a b.txt"), file("direct event"),
			{SourceBucket: "restore", SourceKey: "granules/000000/kkkk", Size: 1},
			{SourceBucket: "restore", SourceKey: "granules/000001/kkkk", Size: 1}},
		Rejected: []contract.RejectedMessage{
			{Index: 1, MessageID: "m1", Error: "event is not valid JSON: unexpected end of JSON input"},
			{Index: 2, MessageID: "m2", Error: "detail.object.key is missing"},
			{Index: 3, MessageID: "m3", Error: `detail-type "Object Created" is not "Object Restore Completed"`},
			{Index: 4, MessageID: "m4", Error: `detail.object.key "bad%zz": invalid URL escape "%zz"`},
			{Index: 6, MessageID: "m6", Error: "body is not a string holding an event"},
			{Index: 7, Error: "event is not a JSON object"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseInput (-want +got):\n%s", diff)
	}
}

// The intake's input transformer writes "" or null for a field the
// original event lacked: both read as absent, and a required field so
// written is missing.
func TestParseInputReadsEmptyAndNullFieldsAsAbsent(t *testing.T) {
	got, err := ParseInput(batch(
		pipeMessage("empty", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},`+
			`"object":{"key":"k1","size":"","etag":"","version-id":""},"restore-expiry-time":""}}`),
		pipeMessage("null", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},`+
			`"object":{"key":"k2","size":null,"etag":null,"version-id":null},"restore-expiry-time":null}}`),
		pipeMessage("no-key", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},`+
			`"object":{"key":"","size":3}}}`),
		pipeMessage("null-bucket", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":null},`+
			`"object":{"key":"k","size":3}}}`),
		pipeMessage("size-word", `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},`+
			`"object":{"key":"k","size":"big"}}}`),
	), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := contract.ParsedEvent{
		Files: []contract.File{{SourceBucket: "restore", SourceKey: "k1"}, {SourceBucket: "restore", SourceKey: "k2"}},
		Rejected: []contract.RejectedMessage{
			{Index: 2, MessageID: "no-key", Error: "detail.object.key is missing"},
			{Index: 3, MessageID: "null-bucket", Error: "detail.bucket.name is missing"},
			{Index: 4, MessageID: "size-word", Error: "detail.object.size is a JSON string, not an integer"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseInput (-want +got):\n%s", diff)
	}
}

// A message that would take the execution past contract.MaxFilesPerExecution
// files, or contract.MaxFilesBytesPerExecution bytes of files, is rejected
// alone and asked for again; the messages after it that fit still go on.
func TestParseInputBoundsTheExecution(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		var messages []string
		for i := range contract.MaxFilesPerExecution + 2 {
			messages = append(messages, pipeMessage(fmt.Sprint("m", i), restoreEvent("restore", fmt.Sprint("k", i))))
		}
		got, err := ParseInput(batch(messages...), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Files) != contract.MaxFilesPerExecution || len(got.Rejected) != 2 {
			t.Fatalf("%d files, rejected %+v; want %d files and the last 2 messages rejected", len(got.Files), got.Rejected, contract.MaxFilesPerExecution)
		}
		r := got.Rejected[0]
		if r.Index != contract.MaxFilesPerExecution || r.MessageID != fmt.Sprint("m", contract.MaxFilesPerExecution) ||
			!strings.Contains(r.Error, "past the 100 one execution may carry: send it again") {
			t.Errorf("rejected %+v, want message %d past the bound, sent again", r, contract.MaxFilesPerExecution)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		long := strings.Repeat("k", 2000) // 30 such files fit, with room left for a small one
		var messages []string
		for i := range 40 {
			messages = append(messages, pipeMessage(fmt.Sprint("m", i), restoreEvent("restore", fmt.Sprintf("%02d", i)+long)))
		}
		messages = append(messages, pipeMessage("small", restoreEvent("restore", "small")))
		got, err := ParseInput(batch(messages...), 0)
		if err != nil {
			t.Fatal(err)
		}
		if b := filesBytes(got.Files); b > contract.MaxFilesBytesPerExecution {
			t.Fatalf("the execution carries %d bytes of files, past %d", b, contract.MaxFilesBytesPerExecution)
		}
		if len(got.Rejected) == 0 || got.Files[len(got.Files)-1].SourceKey != "small" {
			t.Fatalf("%d files (last %q), %d rejected: want the long ones past the bound rejected and the small one kept",
				len(got.Files), got.Files[len(got.Files)-1].SourceKey, len(got.Rejected))
		}
		if r := got.Rejected[0]; r.Index != len(got.Files)-1 || !strings.Contains(r.Error, "bytes of files, past the 65536") ||
			!strings.Contains(r.Error, "send it again") {
			t.Errorf("first rejected %+v, want message %d past the 65536 bytes, sent again", r, len(got.Files)-1)
		}
	})
	t.Run("a single event is rejected whole", func(t *testing.T) {
		_, err := ParseInput(notificationWith(3, 30), 2)
		if _, ok := err.(*InvalidEventError); !ok || !strings.Contains(err.Error(), "event names 3 files; one execution may carry at most 2") {
			t.Errorf("3 files with a bound of 2: error %v (%T), want it rejected whole, naming the bound", err, err)
		}
	})
}

// Files and Rejected are JSON lists, never null, whatever the input: the
// state machine reads both by path.
func TestParsedEventListsAreNeverNull(t *testing.T) {
	for name, input := range map[string][]byte{
		"event":        notificationWith(1, 20),
		"empty batch":  []byte(`[]`),
		"all rejected": batch(`1`, `"x"`),
		"all good":     batch(restoreEvent("restore", "k")),
	} {
		parsed, err := ParseInput(input, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := json.Marshal(parsed)
		if bytes.Contains(out, []byte("null")) {
			t.Errorf("%s: %s has a null", name, out)
		}
	}
}

// The handler logs each rejected message at WARN and the batch's line at
// INFO, and returns the rest.
func TestParseHandlerLogsRejectedMessages(t *testing.T) {
	var logs bytes.Buffer
	h := &ParseHandler{Logger: lambdafn.NewLogger(&logs, nil)}
	got, err := h.Handle(context.Background(), batch(pipeMessage("m0", "{"), pipeMessage("m1", restoreEvent("restore", "k"))))
	if err != nil || len(got.Files) != 1 || len(got.Rejected) != 1 {
		t.Fatalf("Handle: %+v, %v; want one file and one rejected message", got, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"level":"WARN","message":"message rejected","index":0,"message_id":"m0"`) ||
		!strings.Contains(lines[1], `"message":"event parsed","files":1,"rejected":1`) {
		t.Errorf("log lines:\n%s", logs.String())
	}
}

func FuzzParseInput(f *testing.F) {
	f.Add(readTestdata(f, "pipe-batch-one-bad-message.json"))
	f.Add(batch(pipeMessage("m0", restoreEvent("restore", "a+b")), `17`, restoreEvent("r", "%zz")))
	f.Add(batch(pipeMessage("m0", string(notificationWith(2, 20)))))
	f.Add([]byte(`[{"messageId":"x","body":null}]`))
	f.Add(notificationWith(1, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := ParseInput(data, 0)
		if err != nil {
			if _, ok := err.(*InvalidEventError); !ok || err.Error() == "" {
				t.Fatalf("error %v (%T), want a non-empty *InvalidEventError", err, err)
			}
			return
		}
		if parsed.Files == nil || parsed.Rejected == nil {
			t.Fatalf("nil list in %+v", parsed)
		}
		if len(parsed.Files) > contract.MaxFilesPerExecution || filesBytes(parsed.Files) > contract.MaxFilesBytesPerExecution {
			t.Fatalf("%d files of %d bytes: past the bounds", len(parsed.Files), filesBytes(parsed.Files))
		}
		for i, r := range parsed.Rejected {
			if r.Error == "" || (i > 0 && r.Index <= parsed.Rejected[i-1].Index) {
				t.Fatalf("rejected %d: %+v (after %+v)", i, r, parsed.Rejected)
			}
		}
		for i, f := range parsed.Files {
			if f.SourceBucket == "" || f.SourceKey == "" || f.Size < 0 {
				t.Fatalf("file %d: %+v", i, f)
			}
		}
	})
}

// The sample batch: the first message's file, the second message rejected
// alone.
func TestParseInputSampleBatch(t *testing.T) {
	got, err := ParseInput(readTestdata(t, "pipe-batch-one-bad-message.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := contract.ParsedEvent{
		Files: []contract.File{{SourceBucket: "my-dr-fake-glacier-bucket", SourceKey: "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.hdf",
			Size: 5242880, ETag: "b1946ac92492d2347c6235b4d2611184", RestoreExpiryTime: "2026-11-25T00:00:00Z"}},
		Rejected: []contract.RejectedMessage{{Index: 1, MessageID: "059f36b4-87a3-44ab-83d2-661975015231", Error: "detail.object.key is missing"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseInput (-want +got):\n%s", diff)
	}
}
