package parseevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The sample events parse to exactly the keys testdata/README.md names.
func TestParseEventSamples(t *testing.T) {
	const bucket = "my-dr-fake-glacier-bucket"
	tests := []struct {
		file string
		want []contract.File
	}{
		{
			file: "s3-records-restore-completed.json",
			want: []contract.File{
				{SourceBucket: bucket, SourceKey: "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.txt", Size: 645,
					RestoreExpiryTime: "2019-06-22T00:00:00Z"},
			},
		},
		{
			file: "s3-records-two-files-encoded-keys.json",
			want: []contract.File{
				{SourceBucket: bucket, SourceKey: "granules/L0A RAD RAW product (1 of 20).h5", Size: 2048},
				{SourceBucket: bucket, SourceKey: "granules/a+b=c café.iso.xml", Size: 512},
			},
		},
		{
			file: "eventbridge-object-restore-completed.json",
			want: []contract.File{
				{SourceBucket: bucket, SourceKey: "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.hdf", Size: 5242880,
					ETag: "b1946ac92492d2347c6235b4d2611184", RestoreExpiryTime: "2026-11-25T00:00:00Z"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseEvent(readTestdata(t, tc.file))
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEventMissingKeySample(t *testing.T) {
	_, err := ParseEvent(readTestdata(t, "s3-records-missing-key.json"))
	want := &InvalidEventError{Field: "Records[0].s3.object.key", Problem: "is missing"}
	var got *InvalidEventError
	if !errors.As(err, &got) {
		t.Fatalf("error %v (%T), want *InvalidEventError", err, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if got, want := err.Error(), "Records[0].s3.object.key is missing"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

// record builds a classic notification record for the object key as it
// would appear in the event (already JSON-quoted or raw JSON).
func record(bucket, keyJSON string) string {
	return fmt.Sprintf(`{"eventSource":"aws:s3","s3":{"bucket":{"name":%q},"object":{"key":%s,"size":1}}}`, bucket, keyJSON)
}

// withEventName adds an eventName to a record built by record.
func withEventName(name, rec string) string {
	return fmt.Sprintf(`{"eventName":%q,`, name) + strings.TrimPrefix(rec, "{")
}

func records(rs ...string) string {
	return `{"Records":[` + strings.Join(rs, ",") + `]}`
}

func eventBridge(detailType, detail string) string {
	return fmt.Sprintf(`{"version":"0","detail-type":%q,"source":"aws.s3","time":"2026-11-20T18:00:00Z","detail":%s}`, detailType, detail)
}

func TestParseEventValid(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  []contract.File
	}{
		{
			name:  "special characters",
			event: records(record("b", `"deep/a/b/c/%25+%26+%3F+%3D+%2B+%E2%9C%93~.txt"`)),
			want:  []contract.File{{SourceBucket: "b", SourceKey: "deep/a/b/c/% & ? = + ✓~.txt", Size: 1}},
		},
		{
			name:  "unencoded non-ASCII passes through",
			event: records(record("b", `"données/été.h5"`)),
			want:  []contract.File{{SourceBucket: "b", SourceKey: "données/été.h5", Size: 1}},
		},
		{
			name:  "size absent is zero",
			event: `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`,
			want:  []contract.File{{SourceBucket: "b", SourceKey: "k"}},
		},
		{
			name:  "leading whitespace",
			event: " \n\t" + records(record("b", `"k"`)),
			want:  []contract.File{{SourceBucket: "b", SourceKey: "k", Size: 1}},
		},
		{
			name:  "order kept",
			event: records(record("b1", `"z"`), record("b2", `"a"`), record("b1", `"m"`)),
			want: []contract.File{
				{SourceBucket: "b1", SourceKey: "z", Size: 1},
				{SourceBucket: "b2", SourceKey: "a", Size: 1},
				{SourceBucket: "b1", SourceKey: "m", Size: 1},
			},
		},
		{
			name:  "eventName ObjectRestore:Completed",
			event: `{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":2}}}]}`,
			want:  []contract.File{{SourceBucket: "b", SourceKey: "k", Size: 2}},
		},
		{
			name:  "eventName null is absent",
			event: `{"Records":[{"eventName":null,"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":2}}}]}`,
			want:  []contract.File{{SourceBucket: "b", SourceKey: "k", Size: 2}},
		},
		{
			name: "records with and without eventName",
			event: records(`{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"b"},"object":{"key":"k1","size":1}}}`,
				record("b", `"k2"`)),
			want: []contract.File{{SourceBucket: "b", SourceKey: "k1", Size: 1}, {SourceBucket: "b", SourceKey: "k2", Size: 1}},
		},
		{
			name:  "eventbridge key decoded the same way",
			event: eventBridge("Object Restore Completed", `{"bucket":{"name":"b"},"object":{"key":"a+b%2Bc","size":7}}`),
			want:  []contract.File{{SourceBucket: "b", SourceKey: "a b+c", Size: 7}},
		},
		{
			name: "classic record: version id and ETag carried",
			event: `{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":3,` +
				`"eTag":"0123456789abcdef0123456789abcdef","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0055AED6DCD90281E5"}}}]}`,
			want: []contract.File{{SourceBucket: "b", SourceKey: "k", Size: 3,
				VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko", ETag: "0123456789abcdef0123456789abcdef"}},
		},
		{
			name: "eventbridge: version-id and etag carried",
			event: eventBridge("Object Restore Completed", `{"bucket":{"name":"b"},"object":{"key":"k","size":3,`+
				`"etag":"d41d8cd98f00b204e9800998ecf8427e-2","version-id":"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"}}`),
			want: []contract.File{{SourceBucket: "b", SourceKey: "k", Size: 3,
				VersionID: "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", ETag: "d41d8cd98f00b204e9800998ecf8427e-2"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tc.event))
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseEventInvalid(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  string
	}{
		{"empty input", ``, `event is not a JSON object`},
		{"null", `null`, `event is not a JSON object`},
		{"list", `[{"Records":[]}]`, `event is not a JSON object`},
		{"string", `"Records"`, `event is not a JSON object`},
		{"truncated", `{"Records":[`, `event is not valid JSON: unexpected end of JSON input`},
		{"empty object", `{}`, `neither an S3 notification (Records) nor an EventBridge Object Restore Completed event`},
		{"s3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`, `neither an S3 notification (Records) nor an EventBridge Object Restore Completed event`},
		{"no records", `{"Records":[]}`, `event has no Records`},
		{"null records", `{"Records":null}`, `event has no Records`},
		{"records not a list", `{"Records":{"s3":{}}}`, `Records is not a list`},
		{"record not an object", `{"Records":[5]}`, `Records[0] is a JSON number, not an object`},
		{"null record", `{"Records":[null]}`, `Records[0].s3.bucket.name is missing`},
		{"missing bucket", records(`{"s3":{"object":{"key":"k"}}}`), `Records[0].s3.bucket.name is missing`},
		{"empty bucket", records(record("", `"k"`)), `Records[0].s3.bucket.name is missing`},
		{"missing key", records(`{"s3":{"bucket":{"name":"b"},"object":{"size":3}}}`), `Records[0].s3.object.key is missing`},
		{"empty key", records(record("b", `""`)), `Records[0].s3.object.key is missing`},
		{"key not a string", records(record("b", `5`)), `Records[0].s3.object.key is a JSON number, not a string`},
		{"size not a number", records(`{"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"5"}}}`), `Records[0].s3.object.size is a JSON string, not an integer`},
		{"negative size", records(`{"s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}`), `Records[0].s3.object.size -1 is negative`},
		{"bad escape in second record", records(record("b", `"ok"`), record("b", `"a%zz"`)), `Records[1].s3.object.key "a%zz": invalid URL escape "%zz"`},
		{"truncated escape", records(record("b", `"a%2"`)), `Records[0].s3.object.key "a%2": invalid URL escape "%2"`},
		{"invalid UTF-8 after decoding", records(record("b", `"a%FF"`)), `Records[0].s3.object.key "a%FF": decoded key is not valid UTF-8`},
		{"bad eventTime", records(`{"eventTime":"yesterday","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}`),
			`Records[0] is not an S3 event record: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{"one bad record rejects all", records(record("b", `"ok"`), record("b", `"ok2"`), `{"s3":{"bucket":{"name":"b"}}}`), `Records[2].s3.object.key is missing`},
		{"restore only started", records(withEventName("ObjectRestore:Post", record("b", `"k"`))),
			`Records[0].eventName "ObjectRestore:Post" is not "ObjectRestore:Completed"`},
		{"restored copy expired", records(withEventName("ObjectRestore:Delete", record("b", `"k"`))),
			`Records[0].eventName "ObjectRestore:Delete" is not "ObjectRestore:Completed"`},
		{"object created, in second record", records(withEventName("ObjectRestore:Completed", record("b", `"ok"`)), withEventName("ObjectCreated:Put", record("b", `"k"`))),
			`Records[1].eventName "ObjectCreated:Put" is not "ObjectRestore:Completed"`},
		{"empty eventName", records(withEventName("", record("b", `"k"`))),
			`Records[0].eventName "" is not "ObjectRestore:Completed"`},
		{"eventName of another case", records(withEventName("objectrestore:completed", record("b", `"k"`))),
			`Records[0].eventName "objectrestore:completed" is not "ObjectRestore:Completed"`},
		{"eventName not a string", records(`{"eventName":5,"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}`),
			`Records[0].eventName is a JSON number, not a string`},
		{"eventName checked before the key", records(withEventName("ObjectRestore:Post", `{"s3":{"bucket":{"name":"b"},"object":{}}}`)),
			`Records[0].eventName "ObjectRestore:Post" is not "ObjectRestore:Completed"`},

		{"wrong detail-type", eventBridge("Object Created", `{"bucket":{"name":"b"},"object":{"key":"k"}}`), `detail-type "Object Created" is not "Object Restore Completed"`},
		{"detail-type not a string", `{"detail-type":5,"detail":{}}`, `detail-type is a JSON number, not a string`},
		{"bad time", `{"detail-type":"Object Restore Completed","time":"noon","detail":{}}`,
			`event is not a valid EventBridge event: parsing time "noon" as "2006-01-02T15:04:05Z07:00": cannot parse "noon" as "2006"`},
		{"missing detail", eventBridge("Object Restore Completed", `null`), `detail is missing`},
		{"detail not an object", eventBridge("Object Restore Completed", `"x"`), `detail is a JSON string, not an object`},
		{"eventbridge missing key", eventBridge("Object Restore Completed", `{"bucket":{"name":"b"},"object":{"size":1}}`), `detail.object.key is missing`},
		{"eventbridge missing bucket", eventBridge("Object Restore Completed", `{"object":{"key":"k"}}`), `detail.bucket.name is missing`},
		{"eventbridge bad escape", eventBridge("Object Restore Completed", `{"bucket":{"name":"b"},"object":{"key":"%"}}`), `detail.object.key "%": invalid URL escape "%"`},
		{"eventbridge size not a number", eventBridge("Object Restore Completed", `{"bucket":{"name":"b"},"object":{"key":"k","size":true}}`), `detail.object.size is a JSON bool, not an integer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files, err := ParseEvent([]byte(tc.event))
			if err == nil {
				t.Fatalf("ParseEvent succeeded with %v, want error %q", files, tc.want)
			}
			if _, ok := err.(*InvalidEventError); !ok {
				t.Errorf("error type %T, want *InvalidEventError", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error\n got %s\nwant %s", got, tc.want)
			}
			if files != nil {
				t.Errorf("files %v returned with the error, want none", files)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	tests := []struct {
		encoded string
		want    string
		wantErr string
	}{
		{encoded: "plain/key.txt", want: "plain/key.txt"},
		{encoded: "a+b", want: "a b"},
		{encoded: "a%2Bb", want: "a+b"},
		{encoded: "caf%C3%A9", want: "café"},
		{encoded: "100%25", want: "100%"},
		{encoded: "%3F%26%3D%23", want: "?&=#"},
		{encoded: "already decoded é", want: "already decoded é"},
		{encoded: "%zz", wantErr: `invalid URL escape "%zz"`},
		{encoded: "%C3", wantErr: "decoded key is not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.encoded, func(t *testing.T) {
			got, err := DecodeKey(tc.encoded)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tc.want || gotErr != tc.wantErr {
				t.Errorf("DecodeKey(%q) = %q, %q; want %q, %q", tc.encoded, got, gotErr, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(readTestdata(f, e.Name()))
		}
	}
	f.Add([]byte(records(record("b", `"a%zz"`))))
	f.Add([]byte(`{"Records":[5]}`))
	f.Add([]byte(records(withEventName("ObjectRestore:Post", record("b", `"k"`)))))
	f.Add([]byte(`{"Records":[{"eventName":null,"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ParseEvent(data)
		if err != nil {
			if _, ok := err.(*InvalidEventError); !ok {
				t.Fatalf("error %v is a %T, want *InvalidEventError", err, err)
			}
			if err.Error() == "" {
				t.Fatal("error with an empty message")
			}
			if files != nil {
				t.Fatalf("files %v returned with error %v", files, err)
			}
			return
		}
		if len(files) == 0 {
			t.Fatal("success with no files")
		}
		// No record of an event that is not a completed restore gets through.
		var classic struct {
			Records []struct {
				EventName *string `json:"eventName"`
			}
		}
		if json.Unmarshal(data, &classic) == nil {
			for i, r := range classic.Records {
				if r.EventName != nil && *r.EventName != EventNameObjectRestoreCompleted {
					t.Fatalf("record %d with eventName %q accepted", i, *r.EventName)
				}
			}
		}
		for i, f := range files {
			if f.SourceBucket == "" || f.SourceKey == "" {
				t.Fatalf("file %d has an empty bucket or key: %+v", i, f)
			}
			if f.Size < 0 {
				t.Fatalf("file %d has a negative size: %+v", i, f)
			}
		}
	})
}

func BenchmarkParseEvent(b *testing.B) {
	var hundred []string
	for i := range 100 {
		hundred = append(hundred, record("my-dr-fake-glacier-bucket", fmt.Sprintf(`"granules/L0A+RAD+RAW+product+%%28%d+of+100%%29.h5"`, i+1)))
	}
	benches := []struct {
		name  string
		event []byte
		files int
	}{
		{"classic-one-record", readTestdata(b, "s3-records-restore-completed.json"), 1},
		{"two-encoded-keys", readTestdata(b, "s3-records-two-files-encoded-keys.json"), 2},
		{"eventbridge", readTestdata(b, "eventbridge-object-restore-completed.json"), 1},
		{"100-records", []byte(records(hundred...)), 100},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.event)))
			for b.Loop() {
				files, err := ParseEvent(bc.event)
				if err != nil || len(files) != bc.files {
					b.Fatalf("ParseEvent: %d files, %v", len(files), err)
				}
			}
		})
	}
}

// notificationWith returns an S3 notification naming n restored files with
// keys of keyLen characters.
func notificationWith(n, keyLen int) []byte {
	var records []string
	for i := range n {
		key := fmt.Sprintf("granules/%06d/", i)
		key += strings.Repeat("k", keyLen-len(key))
		records = append(records, fmt.Sprintf(`{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"restore"},"object":{"key":%q,"size":1}}}`, key))
	}
	return []byte(`{"Records":[` + strings.Join(records, ",") + `]}`)
}

// TestParseEventRejectsEventsBeyondTheReport: an event naming more files
// than the report of a failed request can hold in Step Functions' cause
// (contract.FilesWithinReport) is rejected as a whole, naming the bound;
// one at the bound is accepted.
func TestParseEventRejectsEventsBeyondTheReport(t *testing.T) {
	var all []contract.File
	for i := range 200 {
		key := fmt.Sprintf("granules/%06d/", i)
		all = append(all, contract.File{SourceBucket: "restore", SourceKey: key + strings.Repeat("k", 100-len(key)), Size: 1})
	}
	bound := contract.FilesWithinReport(all)
	if bound < 10 || bound >= 200 {
		t.Fatalf("bound %d", bound)
	}
	t.Run("800 files rejected, naming the bound", func(t *testing.T) {
		files, err := ParseEvent(notificationWith(800, 100))
		var invalid *InvalidEventError
		if !errors.As(err, &invalid) || files != nil {
			t.Fatalf("files %d, error %v; want an InvalidEventError", len(files), err)
		}
		for _, want := range []string{"names 800 files", fmt.Sprintf("at most %d fit", bound), "32768-character error cause"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	})
	t.Run("files at the bound accepted", func(t *testing.T) {
		files, err := ParseEvent(notificationWith(bound, 100))
		if err != nil || len(files) != bound {
			t.Fatalf("files %d, error %v; want %d files", len(files), err, bound)
		}
	})
	t.Run("one more rejected", func(t *testing.T) {
		if _, err := ParseEvent(notificationWith(bound+1, 100)); err == nil {
			t.Fatalf("%d files accepted", bound+1)
		}
	})
}
