package s3server_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
)

// TestServerSupportsTheCopyPath proves the features the copy path relies on
// work on the server: objects with metadata, CopyObject (COPY and REPLACE
// metadata directives), UploadPartCopy with ranges, tagging, and full-object
// checksums.
func TestServerSupportsTheCopyPath(t *testing.T) {
	srv := s3server.StartForTest(t, "restore", "archive")
	ctx := context.Background()
	c, err := srv.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := "dir one/a+b=c&d?e ünï.txt"
	body := bytes.Repeat([]byte("0123456789abcdef"), 6<<16) // 6 MiB: parts of 5 MiB and 1 MiB
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String("restore"),
		Key:               aws.String(key),
		Body:              bytes.NewReader(body),
		ContentType:       aws.String("text/plain"),
		Metadata:          map[string]string{"granule": "G1"},
		Tagging:           aws.String("project=x"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}

	t.Run("CopyObject keeps metadata", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:     aws.String("archive"),
			Key:        aws.String(key),
			CopySource: aws.String("restore/dir%20one/a%2Bb%3Dc%26d%3Fe%20%C3%BCn%C3%AF.txt"),
		})
		if err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"granule": "G1"}, head.Metadata); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		if got := aws.ToString(head.ContentType); got != "text/plain" {
			t.Errorf("content type = %q", got)
		}
	})

	t.Run("CopyObject REPLACE directive", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket:            aws.String("archive"),
			Key:               aws.String("replaced"),
			CopySource:        aws.String("restore/dir%20one/a%2Bb%3Dc%26d%3Fe%20%C3%BCn%C3%AF.txt"),
			MetadataDirective: types.MetadataDirectiveReplace,
			Metadata:          map[string]string{"new": "v"},
			ContentType:       aws.String("application/json"),
		})
		if err != nil {
			t.Fatalf("CopyObject: %v", err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String("replaced")})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"new": "v"}, head.Metadata); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
		if got := aws.ToString(head.ContentType); got != "application/json" {
			t.Errorf("content type = %q", got)
		}
	})

	t.Run("UploadPartCopy with ranges", func(t *testing.T) {
		dst := "mp/" + key
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String("archive"), Key: aws.String(dst),
		})
		if err != nil {
			t.Fatal(err)
		}
		var parts []types.CompletedPart
		half := 5 << 20 // S3 (and versitygw) refuse parts under 5 MiB except the last
		for i, rng := range []string{"bytes=0-" + itoa(half-1), "bytes=" + itoa(half) + "-" + itoa(len(body)-1)} {
			out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: aws.String("archive"), Key: aws.String(dst), UploadId: up.UploadId,
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      aws.String("restore/dir%20one/a%2Bb%3Dc%26d%3Fe%20%C3%BCn%C3%AF.txt"),
				CopySourceRange: aws.String(rng),
			})
			if err != nil {
				t.Fatalf("UploadPartCopy %d: %v", i+1, err)
			}
			parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(int32(i + 1))})
		}
		if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String("archive"), Key: aws.String(dst), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String(dst)})
		if err != nil {
			t.Fatal(err)
		}
		defer got.Body.Close()
		data, _ := io.ReadAll(got.Body)
		if !bytes.Equal(data, body) {
			t.Errorf("multipart copy differs: %d bytes, want %d", len(data), len(body))
		}
	})

	t.Run("tagging", func(t *testing.T) {
		tags, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("restore"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "project" {
			t.Errorf("tags = %+v", tags.TagSet)
		}
	})

	t.Run("full-object checksum", func(t *testing.T) {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String("restore"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
		})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(head.ChecksumCRC32C) == "" {
			t.Errorf("no CRC32C checksum on HeadObject; type %q", head.ChecksumType)
		}
	})

	t.Run("missing key", func(t *testing.T) {
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: aws.String("archive"), Key: aws.String("nope"), CopySource: aws.String("restore/nope"),
		})
		if err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
			t.Errorf("CopyObject of a missing key: err = %v, want NoSuchKey", err)
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
