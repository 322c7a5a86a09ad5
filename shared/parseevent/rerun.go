package parseevent

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// EncodeKey is the inverse of DecodeKey. It form-encodes an object key the
// way S3 event notifications carry it: "red flower.jpg" becomes
// "red+flower.jpg", a real "+" becomes "%2B". It leaves "/" as it is, as S3
// does. DecodeKey(EncodeKey(k)) == k for every valid UTF-8 key.
//
// AWS documents the encoding only by example: "The s3 key provides
// information about the bucket and object involved in the event. The object
// key name value is URL encoded. For example, "red flower.jpg" becomes
// "red+flower.jpg"" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html).
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// notification is the classic S3 event notification, with only the fields
// ParseEvent reads: the smallest event the workflow accepts for a file.
type notification struct {
	Records []notificationRecord `json:"Records"`
}

type notificationRecord struct {
	EventName        string            `json:"eventName"`
	S3               notificationS3    `json:"s3"`
	GlacierEventData *glacierEventData `json:"glacierEventData,omitempty"`
}

type notificationS3 struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object notificationObject `json:"object"`
}

type notificationObject struct {
	Key       string `json:"key"`
	Size      int64  `json:"size,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	ETag      string `json:"eTag,omitempty"`
}

type glacierEventData struct {
	RestoreEventData struct {
		LifecycleRestorationExpiryTime string `json:"lifecycleRestorationExpiryTime"`
	} `json:"restoreEventData"`
}

// NotificationEvent returns the classic S3 event notification that names
// exactly files: ParseEvent gives files back. It has one
// "ObjectRestore:Completed" record per file, keys encoded with EncodeKey,
// and the version id, ETag and restore expiry when known. It is the input
// that re-runs those files through the workflow.
func NotificationEvent(files []contract.File) []byte {
	event := notification{Records: make([]notificationRecord, 0, len(files))}
	for _, f := range files {
		r := notificationRecord{EventName: EventNameObjectRestoreCompleted}
		r.S3.Bucket.Name = f.SourceBucket
		r.S3.Object = notificationObject{Key: EncodeKey(f.SourceKey), Size: f.Size, VersionID: f.VersionID, ETag: f.ETag}
		if f.RestoreExpiryTime != "" {
			r.GlacierEventData = &glacierEventData{}
			r.GlacierEventData.RestoreEventData.LifecycleRestorationExpiryTime = f.RestoreExpiryTime
		}
		event.Records = append(event.Records, r)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(event); err != nil {
		// Only strings and integers: Encode cannot fail.
		panic("parseevent: encode notification: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
