package parseevent

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// EncodeKey writes the keys of the sample event exactly as S3 did.
func TestEncodeKeyMatchesS3Samples(t *testing.T) {
	var event struct {
		Records []struct {
			S3 struct {
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(readTestdata(t, "s3-records-two-files-encoded-keys.json"), &event); err != nil {
		t.Fatal(err)
	}
	for _, r := range event.Records {
		key, err := DecodeKey(r.S3.Object.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got := EncodeKey(key); got != r.S3.Object.Key {
			t.Errorf("EncodeKey(%q) = %q, S3 wrote %q", key, got, r.S3.Object.Key)
		}
	}
}

func TestEncodeKey(t *testing.T) {
	for key, want := range map[string]string{
		"red flower.jpg":      "red+flower.jpg",
		"a+b":                 "a%2Bb",
		"dir/sub/file":        "dir/sub/file",
		"100%":                "100%25",
		"é":                   "%C3%A9",
		" ":                   "+",
		"k?x=1&y=#z":          "k%3Fx%3D1%26y%3D%23z",
		"%2F already escaped": "%252F+already+escaped",
	} {
		if got := EncodeKey(key); got != want {
			t.Errorf("EncodeKey(%q) = %q, want %q", key, got, want)
		}
		if back, err := DecodeKey(want); err != nil || back != key {
			t.Errorf("DecodeKey(%q) = %q, %v; want %q", want, back, err, key)
		}
	}
}

// FuzzEncodeKey: DecodeKey undoes EncodeKey for every valid UTF-8 key, and
// the encoded key has no character that needs escaping in a URL query
// except "/", which S3 leaves as it is.
func FuzzEncodeKey(f *testing.F) {
	for _, k := range []string{"red flower.jpg", "a+b=c café", "dir/%2F/x", "100%", " ", "\x7f", "😀/+/ /"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) {
			t.Skip("S3 keys are UTF-8")
		}
		enc := EncodeKey(key)
		if strings.ContainsAny(enc, " ?&=#") {
			t.Fatalf("EncodeKey(%q) = %q keeps a character that needs escaping", key, enc)
		}
		back, err := DecodeKey(enc)
		if err != nil {
			t.Fatalf("DecodeKey(EncodeKey(%q) = %q): %v", key, enc, err)
		}
		if back != key {
			t.Fatalf("DecodeKey(EncodeKey(%q)) = %q", key, back)
		}
	})
}

// ParseEvent(NotificationEvent(files)) gives the files back: the re-run
// input names exactly the files it was built from.
func TestNotificationEventRoundTrip(t *testing.T) {
	files := []contract.File{
		{SourceBucket: "restore", SourceKey: "granules/a+b=c café.iso.xml", Size: 512},
		{SourceBucket: "restore", SourceKey: "L0A RAD (1 of 20).h5", Size: 2048, VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
			ETag: "b1946ac92492d2347c6235b4d2611184", RestoreExpiryTime: "2026-11-25T00:00:00Z"},
		{SourceBucket: "other", SourceKey: " ", Size: 0},
		{SourceBucket: "restore", SourceKey: "<&>/100%/😀"},
	}
	event := NotificationEvent(files)
	got, err := ParseEvent(event)
	if err != nil {
		t.Fatalf("ParseEvent(%s): %v", event, err)
	}
	if diff := cmp.Diff(files, got); diff != "" {
		t.Errorf("files (-want +got):\n%s\nevent %s", diff, event)
	}
	if strings.Contains(string(event), `\u0026`) {
		t.Errorf("event escapes & as \\u0026, which is hard to read: %s", event)
	}
}

func FuzzNotificationEventRoundTrip(f *testing.F) {
	f.Add("restore", "granules/a+b=c café.iso.xml", int64(512), "", "", int64(0))
	f.Add("b", "k", int64(0), "v1", "etag", int64(1795564800))
	f.Fuzz(func(t *testing.T, bucket, key string, size int64, versionID, etag string, expiry int64) {
		if bucket == "" || key == "" || size < 0 || !utf8.ValidString(key) || !utf8.ValidString(bucket) ||
			!utf8.ValidString(versionID) || !utf8.ValidString(etag) || expiry < 0 || expiry > 1<<35 {
			t.Skip()
		}
		file := contract.File{SourceBucket: bucket, SourceKey: key, Size: size, VersionID: versionID, ETag: etag}
		if expiry > 0 {
			file.RestoreExpiryTime = contract.FormatRestoreExpiry(time.Unix(expiry, 0))
		}
		event := NotificationEvent([]contract.File{file})
		got, err := ParseEvent(event)
		if err != nil {
			t.Fatalf("ParseEvent(%s): %v", event, err)
		}
		if diff := cmp.Diff([]contract.File{file}, got); diff != "" {
			t.Fatalf("files (-want +got):\n%s", diff)
		}
	})
}

// A malformed restore-expiry-time is named, not silently dropped.
func TestEventBridgeBadRestoreExpiry(t *testing.T) {
	event := strings.Replace(string(readTestdata(t, "eventbridge-object-restore-completed.json")),
		`"2026-11-25T00:00:00Z"`, `"next tuesday"`, 1)
	_, err := ParseEvent([]byte(event))
	if err == nil || err.Error() != `detail.restore-expiry-time "next tuesday" is not an RFC 3339 time` {
		t.Errorf("error %v", err)
	}
}
