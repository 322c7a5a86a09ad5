package parseevent_test

import (
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

func ExampleDecodeKey() {
	key, _ := parseevent.DecodeKey("granules/a%2Bb%3Dc+caf%C3%A9.iso.xml")
	fmt.Println(key)
	_, err := parseevent.DecodeKey("a%zz")
	fmt.Println(err)
	// Output:
	// granules/a+b=c café.iso.xml
	// invalid URL escape "%zz"
}

func ExampleParseEvent() {
	files, err := parseevent.ParseEvent([]byte(`{"Records":[{"s3":{"bucket":{"name":"restore"},"object":{"key":"L0A+RAD+%281+of+20%29.h5","size":2048}}}]}`))
	fmt.Printf("%+v %v\n", files, err)
	_, err = parseevent.ParseEvent([]byte(`{"Records":[{"s3":{"bucket":{"name":"restore"},"object":{"size":2048}}}]}`))
	fmt.Println(err)
	// Output:
	// [{SourceBucket:restore SourceKey:L0A RAD (1 of 20).h5 Size:2048 VersionID: ETag: RestoreExpiryTime: Copied:false}] <nil>
	// Records[0].s3.object.key is missing
}

func ExampleEncodeKey() {
	fmt.Println(parseevent.EncodeKey("granules/a+b=c café.iso.xml"))
	// Output:
	// granules/a%2Bb%3Dc+caf%C3%A9.iso.xml
}

func ExampleNotificationEvent() {
	fmt.Println(string(parseevent.NotificationEvent([]contract.File{{
		SourceBucket: "restore", SourceKey: "L0A RAD (1 of 20).h5", Size: 2048,
		VersionID: "3HL4kqtJlcpXroDTDmJ", RestoreExpiryTime: "2026-11-25T00:00:00Z",
	}})))
	// Output:
	// {"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"restore"},"object":{"key":"L0A+RAD+%281+of+20%29.h5","size":2048,"versionId":"3HL4kqtJlcpXroDTDmJ"}},"glacierEventData":{"restoreEventData":{"lifecycleRestorationExpiryTime":"2026-11-25T00:00:00Z"}}}]}
}

func ExampleParseInput() {
	batch := `[{"messageId":"m0","body":"{\"detail-type\":\"Object Restore Completed\",\"source\":\"aws.s3\",` +
		`\"detail\":{\"bucket\":{\"name\":\"restore\"},\"object\":{\"key\":\"L0A+RAD.h5\",\"size\":2048,\"etag\":\"\",\"version-id\":null}}}"},` +
		`{"messageId":"m1","body":"{\"detail-type\":\"Object Restore Completed\",\"detail\":{\"bucket\":{\"name\":\"restore\"},\"object\":{\"key\":\"\"}}}"}]`
	parsed, err := parseevent.ParseInput([]byte(batch), 0)
	fmt.Printf("%+v\n%+v %v\n", parsed.Files, parsed.Rejected, err)
	// Output:
	// [{SourceBucket:restore SourceKey:L0A RAD.h5 Size:2048 VersionID: ETag: RestoreExpiryTime: Copied:false}]
	// [{Index:1 MessageID:m1 Error:detail.object.key is missing}] <nil>
}
