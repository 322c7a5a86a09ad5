package localrun

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// The demonstration's buckets: the restore bucket the sample events name,
// and the archive bucket its jobs point to.
const (
	demoRestoreBucket = "my-dr-fake-glacier-bucket"
	demoArchiveBucket = "my-dr-archive-bucket"
)

//go:embed testdata/demo-event.json
var demoEventJSON []byte

func demoEvent() ([]byte, error) { return demoEventJSON, nil }

// demoEnv hides AWS_ENDPOINT_URL_S3 and DATABASE_URL: the demo seeds data,
// so it only ever runs on the embedded services.
func demoEnv(getenv func(string) string, stderr io.Writer) func(string) string {
	for _, name := range []string{localservices.EnvS3Endpoint, localservices.EnvDatabaseURL} {
		if getenv(name) != "" {
			fmt.Fprintf(stderr, "local: demo ignores %s and runs on the embedded services\n", name)
		}
	}
	return func(name string) string {
		if name == localservices.EnvS3Endpoint || name == localservices.EnvDatabaseURL {
			return ""
		}
		return getenv(name)
	}
}

type demoSeed struct {
	keys       []string
	requestIDs []string
}

// seedDemo puts the demo event's files in the restore bucket and an open
// job for each in request_status, after removing what an earlier demo left
// (its archive copies and its rows), so every demo starts the same way.
func seedDemo(ctx context.Context, s *localservices.Services) (*demoSeed, error) {
	files, err := parseevent.ParseEvent(demoEventJSON)
	if err != nil {
		return nil, fmt.Errorf("demo event: %w", err)
	}
	seed := &demoSeed{}
	for _, f := range files {
		seed.keys = append(seed.keys, f.SourceKey)
	}
	if _, err := requeststatus.NewTable(s.DB).DeleteKeys(ctx, seed.keys); err != nil {
		return nil, fmt.Errorf("demo: clear earlier rows: %w", err)
	}
	for i, f := range files {
		if _, err := s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(demoArchiveBucket), Key: aws.String(f.SourceKey)}); err != nil {
			return nil, fmt.Errorf("demo: clear earlier archive copy of %s: %w", f.SourceKey, err)
		}
		body := demoBody(i, f.SourceKey)
		if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:      aws.String(f.SourceBucket),
			Key:         aws.String(f.SourceKey),
			Body:        bytes.NewReader(body),
			ContentType: aws.String("application/octet-stream"),
			Metadata:    map[string]string{"granule": fmt.Sprintf("demo-granule-%d", i+1)},
		}); err != nil {
			return nil, fmt.Errorf("demo: put s3://%s/%s: %w", f.SourceBucket, f.SourceKey, err)
		}
		job, err := requeststatus.NewTable(s.DB).Insert(ctx, requeststatus.Row{
			GranuleID:         fmt.Sprintf("demo-granule-%d", i+1),
			ObjectKey:         f.SourceKey,
			RestoreBucketDest: f.SourceBucket,
			ArchiveBucketDest: demoArchiveBucket,
		})
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		seed.requestIDs = append(seed.requestIDs, job.RequestID)
	}
	return seed, nil
}

// demoBody is a file of a few KiB, different for each key.
func demoBody(i int, key string) []byte {
	var b bytes.Buffer
	for b.Len() < (i+1)*4096 {
		fmt.Fprintf(&b, "restored file %q, line %d\n", key, b.Len()/64)
	}
	return b.Bytes()
}

// show prints the archive bucket's contents and the demo's rows.
func (d *demoSeed) show(ctx context.Context, w io.Writer, s *localservices.Services) error {
	out, err := s.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(demoArchiveBucket)})
	if err != nil {
		return fmt.Errorf("list s3://%s: %w", demoArchiveBucket, err)
	}
	fmt.Fprintf(w, "\narchive bucket s3://%s:\n", demoArchiveBucket)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SIZE\tLAST MODIFIED\tKEY")
	for _, o := range out.Contents {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", aws.ToInt64(o.Size), aws.ToTime(o.LastModified).Local().Format(time.DateTime), aws.ToString(o.Key))
	}
	if len(out.Contents) == 0 {
		fmt.Fprintln(tw, "  (empty)\t\t")
	}
	tw.Flush()

	fmt.Fprintln(w, "\nrequest_status rows:")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  REQUEST ID\tOBJECT KEY\tARCHIVE BUCKET\tSTATUS\tLAST UPDATE\tERR MSG")
	for _, id := range d.requestIDs {
		row, err := requeststatus.NewTable(s.DB).Read(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", row.RequestID, row.ObjectKey, row.ArchiveBucketDest,
			row.JobStatus, row.LastUpdateTime.Local().Format("15:04:05.000"), execution.OneLine(row.ErrMsg, 80))
	}
	tw.Flush()
	return nil
}

// jsonTail splits a message ending in a JSON document ("File copy failed.
// [...]") into the text and the indented document; ok is false otherwise.
func jsonTail(msg string) (text, doc string, ok bool) {
	i := strings.IndexAny(msg, "[{")
	for i >= 0 {
		var b bytes.Buffer
		if json.Indent(&b, []byte(msg[i:]), "", "  ") == nil {
			return strings.TrimSpace(msg[:i]), b.String(), true
		}
		j := strings.IndexAny(msg[i+1:], "[{")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return msg, "", false
}
