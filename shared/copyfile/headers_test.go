package copyfile_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// The request headers that decide the archive copy's encryption and owner.
var ownershipHeaders = []string{
	"X-Amz-Server-Side-Encryption",
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id",
	"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled",
	"X-Amz-Server-Side-Encryption-Context",
	"X-Amz-Acl",
}

// TestCopyRequestHeaders asserts the exact encryption and ACL headers the
// copier sends on CopyObject and CreateMultipartUpload, captured at a proxy
// in front of a real S3-compatible server.
//
// Real S3 reports every source's encryption on HeadObject (SSE-S3 since
// January 2023); versitygw reports none, so the proxy adds the header S3
// would send to the source's HeadObject answer. Without
// ARCHIVE_KMS_KEY_ID no SSE header may go out, whatever the source says:
// an explicit header overrides the archive bucket's default encryption
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html:
// without encryption information in the copy request, "the encryption
// setting of the target object is set to the default encryption
// configuration of the destination bucket"). The canned ACL
// bucket-owner-full-control goes out on both, so a copy into another
// account's bucket is owned by that bucket's owner; buckets with ACLs
// disabled (Bucket owner enforced) accept exactly this ACL
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html).
func TestCopyRequestHeaders(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		name string
		// sourceSSE is what the source's HeadObject answer says.
		sourceSSE http.Header
		env       map[string]string
		want      http.Header
	}{
		{
			name:      "SSE-S3 source, no archive key: no SSE header, bucket owner full control",
			sourceSSE: http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}},
			want:      http.Header{"X-Amz-Acl": {"bucket-owner-full-control"}},
		},
		{
			name: "SSE-KMS source, no archive key: the source's key is not repeated",
			sourceSSE: http.Header{
				"X-Amz-Server-Side-Encryption":                    {"aws:kms"},
				"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id":     {"arn:aws:kms:us-east-1:111122223333:key/source"},
				"X-Amz-Server-Side-Encryption-Bucket-Key-Enabled": {"true"},
			},
			want: http.Header{"X-Amz-Acl": {"bucket-owner-full-control"}},
		},
		{
			name:      "archive key set: SSE-KMS with that key",
			sourceSSE: http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}},
			env:       map[string]string{"ARCHIVE_KMS_KEY_ID": kmsKey},
			want: http.Header{
				"X-Amz-Server-Side-Encryption":                {"aws:kms"},
				"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": {kmsKey},
				"X-Amz-Acl": {"bucket-owner-full-control"},
			},
		},
		{
			name:      "ARCHIVE_OBJECT_ACL=none: no ACL header",
			sourceSSE: http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}},
			env:       map[string]string{"ARCHIVE_OBJECT_ACL": "none"},
			want:      http.Header{},
		},
	}
	e := newS3Env(t)
	small := source{key: "headers/small file.nc", data: randomBytes(t, 1<<10), contentType: "application/x-netcdf"}
	large := source{key: "headers/large file.nc", data: randomBytes(t, 9<<20), contentType: "application/x-netcdf"}
	e.put(t, small)
	e.put(t, large)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := &faultproxy.Rule{Match: func(r *http.Request) bool {
				return faultproxy.IsHeadObject(r) && faultproxy.IsBucket("restore")(r)
			}, Header: tc.sourceSSE}
			writes := &faultproxy.Rule{Match: faultproxy.AnyOf(faultproxy.IsCopyObject, faultproxy.IsCreateMultipartUpload)}
			p, err := faultproxy.New(e.srv.Endpoint, head, writes)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			env := map[string]string{"MULTIPART_THRESHOLD_MB": "8", "MULTIPART_CHUNKSIZE_MB": "5", "MULTIPART_CHECKSUM": "off"}
			for k, v := range tc.env {
				env[k] = v
			}
			copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, env))
			for _, src := range []source{small, large} {
				if _, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: "archive"}); err != nil {
					t.Fatalf("copy %q: %v", src.key, err)
				}
			}
			if head.Hits() == 0 {
				t.Fatal("the source's HeadObject did not pass the proxy")
			}
			reqs := writes.Requests()
			var ops []string
			for _, r := range reqs {
				op := "CopyObject"
				if r.Method == http.MethodPost {
					op = "CreateMultipartUpload"
				}
				ops = append(ops, op)
				got := http.Header{}
				for _, h := range ownershipHeaders {
					if v, ok := r.Header[h]; ok {
						got[h] = v
					}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s headers (-want +got):\n%s", op, diff)
				}
			}
			if diff := cmp.Diff([]string{"CopyObject", "CreateMultipartUpload"}, ops); diff != "" {
				t.Errorf("requests seen (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServerRefusingACLs: an S3-compatible server without ACLs may refuse
// the x-amz-acl header (simulated at the proxy with the answer such servers
// give). The copy fails permanently, saying to set ARCHIVE_OBJECT_ACL=none;
// with that setting it succeeds.
func TestServerRefusingACLs(t *testing.T) {
	e := newS3Env(t)
	small := source{key: "acl/small.nc", data: randomBytes(t, 1<<10), contentType: "application/x-netcdf"}
	large := source{key: "acl/large.nc", data: randomBytes(t, 9<<20), contentType: "application/x-netcdf"}
	e.put(t, small)
	e.put(t, large)
	refuse := &faultproxy.Rule{Match: func(r *http.Request) bool {
		return r.Header.Get("X-Amz-Acl") != "" && (faultproxy.IsCopyObject(r) || faultproxy.IsCreateMultipartUpload(r))
	}, Status: http.StatusNotImplemented, Code: "NotImplemented", Message: "A header you provided implies functionality that is not implemented."}
	p, err := faultproxy.New(e.srv.Endpoint, refuse)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	env := map[string]string{"MULTIPART_THRESHOLD_MB": "8", "MULTIPART_CHUNKSIZE_MB": "5", "MULTIPART_CHECKSUM": "off", "AWS_MAX_ATTEMPTS": "1"}
	for _, src := range []source{small, large} {
		copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, env))
		_, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: "archive"})
		var pe *copyfile.PermanentCopyError
		if !errors.As(err, &pe) || pe.Code != "NotImplemented" ||
			!strings.Contains(pe.Message, "the request carried x-amz-acl: bucket-owner-full-control; for an S3-compatible server that refuses ACL headers set ARCHIVE_OBJECT_ACL=none") {
			t.Errorf("copy %q: err = %v, want PermanentCopyError NotImplemented saying to set ARCHIVE_OBJECT_ACL=none", src.key, err)
		}
	}
	env["ARCHIVE_OBJECT_ACL"] = "none"
	copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, env))
	for _, src := range []source{small, large} {
		if _, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: "archive"}); err != nil {
			t.Errorf("copy %q with ARCHIVE_OBJECT_ACL=none: %v", src.key, err)
		}
	}
	if refuse.Hits() != 2 {
		t.Errorf("the server refused %d requests, want 2 (CopyObject and CreateMultipartUpload with the header)", refuse.Hits())
	}
}
