// Package parseevent is the parse-event function. It reads the event S3
// emits when an object restored from Glacier is ready. It returns the list
// of restored files to copy, with their keys decoded.
//
// It accepts two shapes: the classic S3 event notification
// ({"Records":[{"s3":{...}}]}) and the EventBridge "Object Restore
// Completed" event (detail.bucket.name, detail.object.key). A classic
// record's eventName, when present, must be "ObjectRestore:Completed". An
// event malformed in any record is rejected as a whole with an
// *InvalidEventError. docs/workflow.md says why.
//
// An execution's input may also be a batch (ParseInput): the list of SQS
// messages the intake's EventBridge Pipe reads, each holding one event.
// Each message is judged alone: a bad one is rejected, the rest copied.
package parseevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// DetailTypeObjectRestoreCompleted is the EventBridge detail-type of the
// event S3 sends when a restore has completed.
const DetailTypeObjectRestoreCompleted = "Object Restore Completed"

// EventNameObjectRestoreCompleted is the eventName of a classic S3 event
// notification record sent when a restore has completed.
const EventNameObjectRestoreCompleted = "ObjectRestore:Completed"

// InvalidEventError says why an event was rejected: which field, of which
// record, is missing or bad. The workflow routes on its type name: the event
// is not retried and nothing is copied.
type InvalidEventError struct {
	// Field is the path of the missing or bad field in the event, such as
	// "Records[1].s3.object.key" or "detail.object.key"; empty when the event
	// as a whole is wrong.
	Field string
	// Problem says what is wrong with Field, or with the event.
	Problem string
}

func (e *InvalidEventError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + " " + e.Problem
}

// DecodeKey turns an object key as S3 event notifications carry it into the
// object's real key. It is the one rule for both event shapes. Keys are
// form-URL-encoded ("+" is a space, "%2B" a plus) and decoded with
// url.QueryUnescape. A bad escape is an error. So is a key that is not
// valid UTF-8 once decoded: S3 keys are UTF-8, and the workflow's JSON
// documents would alter anything else.
func DecodeKey(encoded string) (string, error) {
	key, err := url.QueryUnescape(encoded)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(key) {
		return "", errors.New("decoded key is not valid UTF-8")
	}
	return key, nil
}

// ParseEvent returns the restored files an event names, in the order it
// names them. Any error is an *InvalidEventError.
func ParseEvent(data []byte) ([]contract.File, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &InvalidEventError{Problem: "event is not a JSON object"}
	}
	// Only what tells the two shapes apart; each shape is then decoded into
	// the aws-lambda-go type made for it.
	var shape struct {
		Records    json.RawMessage `json:"Records"`
		DetailType json.RawMessage `json:"detail-type"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		return nil, &InvalidEventError{Problem: "event is not valid JSON: " + err.Error()}
	}
	var files []contract.File
	var err error
	switch {
	case shape.Records != nil:
		files, err = parseNotification(shape.Records)
	case shape.DetailType != nil:
		files, err = parseEventBridge(data)
	default:
		return nil, &InvalidEventError{Problem: "neither an S3 notification (Records) nor an EventBridge " +
			DetailTypeObjectRestoreCompleted + " event"}
	}
	if err != nil {
		return nil, err
	}
	if n := contract.FilesWithinReport(files); n < len(files) {
		return nil, &InvalidEventError{Problem: fmt.Sprintf("event "+
			"names %d files; with these keys at most %d fit in one event: the report of a failed request (CopyRequestError, "+
			"%d characters of error message per file) must fit in Step Functions' %d-character error cause. "+
			"Send the files in smaller events", len(files), n, contract.ReportErrMsgChars, contract.MaxCauseChars)}
	}
	return files, nil
}

// parseNotification reads the Records of a classic S3 event notification.
// Each record is decoded on its own so that an error names its index.
func parseNotification(rawRecords json.RawMessage) ([]contract.File, error) {
	var records []json.RawMessage
	if err := json.Unmarshal(rawRecords, &records); err != nil {
		return nil, &InvalidEventError{Field: "Records", Problem: "is not a list"}
	}
	if len(records) == 0 {
		return nil, &InvalidEventError{Problem: "event has no Records"}
	}
	files := make([]contract.File, 0, len(records))
	for i, raw := range records {
		path := "Records[" + strconv.Itoa(i) + "]"
		var record events.S3EventRecord
		if err := json.Unmarshal(raw, &record); err != nil {
			return nil, recordError(path, raw, err)
		}
		if err := checkEventName(path, raw, record.EventName); err != nil {
			return nil, err
		}
		// record.S3.Object.URLDecodedKey is ignored: the key is decoded by
		// DecodeKey, the same way for both shapes.
		o := record.S3.Object
		file, err := restoredFile(path+".s3", record.S3.Bucket.Name, o.Key, o.Size, o.VersionID, o.ETag)
		if err != nil {
			return nil, err
		}
		if g := record.GlacierEventData; g != nil && g.RestoreEventData != nil {
			file.RestoreExpiryTime = contract.FormatRestoreExpiry(g.RestoreEventData.LifecycleRestorationExpiryTime)
		}
		files = append(files, file)
	}
	return files, nil
}

// checkEventName rejects a record whose eventName is present and is not
// EventNameObjectRestoreCompleted. name is the record's decoded eventName;
// when it is empty, raw tells an absent (or null) eventName, accepted, from
// an empty one, rejected.
func checkEventName(path string, raw json.RawMessage, name string) *InvalidEventError {
	if name == EventNameObjectRestoreCompleted {
		return nil
	}
	if name == "" {
		var present struct {
			EventName *string `json:"eventName"`
		}
		if json.Unmarshal(raw, &present) != nil || present.EventName == nil {
			return nil
		}
	}
	return &InvalidEventError{Field: path + ".eventName",
		Problem: strconv.Quote(name) + " is not " + strconv.Quote(EventNameObjectRestoreCompleted)}
}

// recordError explains why a record could not be decoded.
func recordError(path string, raw json.RawMessage, err error) *InvalidEventError {
	// events.S3Object decodes the key itself, and its error on a bad escape
	// names no field. Read the raw key again so the error names it, in
	// DecodeKey's words.
	var escapeErr url.EscapeError
	if errors.As(err, &escapeErr) {
		var rawKey struct {
			S3 struct {
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		}
		if json.Unmarshal(raw, &rawKey) == nil {
			if _, decodeErr := DecodeKey(rawKey.S3.Object.Key); decodeErr != nil {
				return keyError(path+".s3.object.key", rawKey.S3.Object.Key, decodeErr)
			}
		}
	}
	return decodeError(path, "an S3 event record", err)
}

// decodeError explains a JSON decoding error of the value at path (empty
// for the event itself); what names what the value should have been.
func decodeError(path, what string, err error) *InvalidEventError {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := path
		if typeErr.Field != "" && field != "" {
			field += "."
		}
		field += typeErr.Field
		return &InvalidEventError{Field: field, Problem: "is a JSON " + typeErr.Value + ", not " + jsonKind(typeErr.Type)}
	}
	if path == "" {
		return &InvalidEventError{Problem: "event is not " + what + ": " + err.Error()}
	}
	return &InvalidEventError{Field: path, Problem: "is not " + what + ": " + err.Error()}
}

// jsonKind names the kind of JSON value a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return t.String()
	}
}

func keyError(field, encoded string, err error) *InvalidEventError {
	return &InvalidEventError{Field: field, Problem: strconv.Quote(encoded) + ": " + err.Error()}
}

// objectRestoreCompleted is the detail of an EventBridge "Object Restore
// Completed" event; aws-lambda-go has no type for it.
type objectRestoreCompleted struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string    `json:"key"`
		Size      eventSize `json:"size"`
		ETag      string    `json:"etag"`
		VersionID string    `json:"version-id"`
	} `json:"object"`
	RestoreExpiryTime  string `json:"restore-expiry-time"`
	SourceStorageClass string `json:"source-storage-class"`
}

// eventSize is detail.object.size: a number, or absent. The intake's input
// transformer writes "" or null where the original event had no size: a
// variable whose JSON path does not exist in the event "isn't created and
// won't appear in the output"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html#eb-transform-input-issues),
// so a quoted placeholder becomes "" and a missing value null. Both read as
// 0, unknown.
type eventSize int64

func (s *eventSize) UnmarshalJSON(data []byte) error {
	if string(data) == `""` || string(data) == "null" {
		*s = 0
		return nil
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return err
	}
	*s = eventSize(n)
	return nil
}

// parseEventBridge reads an EventBridge Object Restore Completed event: one
// file.
func parseEventBridge(data []byte) ([]contract.File, error) {
	var event events.EventBridgeEvent
	if err := json.Unmarshal(data, &event); err != nil {
		return nil, decodeError("", "a valid EventBridge event", err)
	}
	if event.DetailType != DetailTypeObjectRestoreCompleted {
		return nil, &InvalidEventError{Field: "detail-type", Problem: strconv.Quote(event.DetailType) +
			" is not " + strconv.Quote(DetailTypeObjectRestoreCompleted)}
	}
	if len(event.Detail) == 0 || string(event.Detail) == "null" {
		return nil, &InvalidEventError{Field: "detail", Problem: "is missing"}
	}
	var detail objectRestoreCompleted
	if err := json.Unmarshal(event.Detail, &detail); err != nil {
		return nil, decodeError("detail", "an object", err)
	}
	o := detail.Object
	file, err := restoredFile("detail", detail.Bucket.Name, o.Key, int64(o.Size), o.VersionID, o.ETag)
	if err != nil {
		return nil, err
	}
	if detail.RestoreExpiryTime != "" {
		expiry, err := time.Parse(time.RFC3339, detail.RestoreExpiryTime)
		if err != nil {
			return nil, &InvalidEventError{Field: "detail.restore-expiry-time",
				Problem: strconv.Quote(detail.RestoreExpiryTime) + " is not an RFC 3339 time"}
		}
		file.RestoreExpiryTime = contract.FormatRestoreExpiry(expiry)
	}
	return []contract.File{file}, nil
}

// restoredFile checks one object's fields, found under path, and decodes
// its key. It carries the version id and ETag as the event gives them,
// empty when absent. The copier copies that version and refuses a source
// whose ETag changed.
func restoredFile(path, bucket, encodedKey string, size int64, versionID, etag string) (contract.File, error) {
	if bucket == "" {
		return contract.File{}, &InvalidEventError{Field: path + ".bucket.name", Problem: "is missing"}
	}
	if encodedKey == "" {
		return contract.File{}, &InvalidEventError{Field: path + ".object.key", Problem: "is missing"}
	}
	key, err := DecodeKey(encodedKey)
	if err != nil {
		return contract.File{}, keyError(path+".object.key", encodedKey, err)
	}
	if size < 0 {
		return contract.File{}, &InvalidEventError{Field: path + ".object.size", Problem: strconv.FormatInt(size, 10) + " is negative"}
	}
	return contract.File{SourceBucket: bucket, SourceKey: key, Size: size, VersionID: versionID, ETag: etag}, nil
}
