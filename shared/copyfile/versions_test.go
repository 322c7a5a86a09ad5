package copyfile_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// TestCopyNamedVersion runs against versitygw with versioning enabled on
// the restore bucket: the event names version 1 of a key whose current
// version is 2. The archive must receive version 1's bytes, by CopyObject
// and by the multipart copy; an event whose ETag no longer matches (it
// names no version, and the key was overwritten) copies nothing and fails
// SourceChanged; a version that no longer exists fails NoSuchVersion.
func TestCopyNamedVersion(t *testing.T) {
	srv := s3server.StartVersionedForTest(t, "restore", "archive")
	ctx := context.Background()
	client, err := srv.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, data []byte) (version, etag string) {
		t.Helper()
		out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String(key), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) == "" {
			t.Fatalf("put %q: no version id (is versioning on?)", key)
		}
		return aws.ToString(out.VersionId), strings.Trim(aws.ToString(out.ETag), `"`)
	}
	archived := func(key string) ([]byte, bool) {
		t.Helper()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)})
		if err != nil {
			return nil, false
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b, true
	}
	cfg := configFromEnv(t, map[string]string{"MULTIPART_THRESHOLD_MB": "8", "MULTIPART_CHUNKSIZE_MB": "5", "MULTIPART_CHECKSUM": "off"})
	copier := copyfile.NewArchiveCopier(client, cfg)

	for _, tc := range []struct {
		name      string
		size      int
		multipart bool
	}{
		{"CopyObject", 64 << 10, false},
		{"multipart", 11 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "versions/" + tc.name + "/granule 1.h5"
			v1 := randomBytes(t, tc.size)
			version1, etag1 := put(key, v1)
			put(key, randomBytes(t, tc.size))
			out, err := copier.Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive",
				VersionID: version1, ETag: etag1})
			if err != nil {
				t.Fatalf("Copy of version 1: %v", err)
			}
			if out.Multipart != tc.multipart || !out.Complete {
				t.Errorf("outcome = %+v, want complete, multipart %v", out, tc.multipart)
			}
			got, ok := archived(key)
			if !ok || !bytes.Equal(got, v1) {
				t.Errorf("the archive does not hold version 1's bytes (present %v, %d bytes)", ok, len(got))
			}
		})
	}

	t.Run("overwritten since the event", func(t *testing.T) {
		key := "versions/changed.h5"
		_, etag1 := put(key, []byte("version 1"))
		put(key, []byte("version 2"))
		_, err := copier.Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", ETag: etag1})
		var pe *copyfile.PermanentCopyError
		if !errors.As(err, &pe) || pe.Code != "SourceChanged" || !strings.Contains(pe.Message, "the restored object changed since the restore event") {
			t.Fatalf("err = %v, want PermanentCopyError SourceChanged", err)
		}
		if _, ok := archived(key); ok {
			t.Error("a changed object was archived")
		}
	})

	t.Run("version deleted since the event", func(t *testing.T) {
		key := "versions/deleted.h5"
		version1, etag1 := put(key, []byte("version 1"))
		put(key, []byte("version 2"))
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("restore"), Key: aws.String(key), VersionId: aws.String(version1)}); err != nil {
			t.Fatal(err)
		}
		_, err := copier.Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", VersionID: version1, ETag: etag1})
		var pe *copyfile.PermanentCopyError
		if !errors.As(err, &pe) || pe.Code != "NoSuchVersion" || !strings.Contains(pe.Message, version1) {
			t.Fatalf("err = %v, want PermanentCopyError NoSuchVersion naming %s", err, version1)
		}
		if _, ok := archived(key); ok {
			t.Error("another version was archived")
		}
	})
}
