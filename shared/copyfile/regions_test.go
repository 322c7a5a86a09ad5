package copyfile_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/s3region"
)

// regionEndpoints resolves S3 endpoints as the SDK does, but with each
// region's endpoint replaced by a local one: the clients of different
// regions then reach different local servers, as they reach different
// endpoints on AWS.
// (A pointer: the SDK compares resolvers, and maps are not comparable.)
type regionEndpoints struct{ byRegion map[string]string }

func (m *regionEndpoints) ResolveEndpoint(ctx context.Context, p s3.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u, ok := m.byRegion[aws.ToString(p.Region)]
	if !ok {
		return smithyendpoints.Endpoint{}, fmt.Errorf("test: no local endpoint for region %q", aws.ToString(p.Region))
	}
	p.Endpoint = aws.String(u)
	return s3.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
}

// TestCopyToArchiveBucketInAnotherRegion: the Lambda runs in us-east-1,
// the archive bucket "archive-dr" is in eu-west-1. us-east-1's endpoint
// answers every request for that bucket as S3 does, 301 PermanentRedirect
// with x-amz-bucket-region: eu-west-1; eu-west-1's endpoint accepts only
// requests signed for eu-west-1 (as S3 does) and serves the bucket. Both
// stand in front of one versitygw, so S3's cross-region CopyObject (source
// in us-east-1) works as on AWS.
//
// A plain client fails every copy there (the defect); s3region.Client asks
// HeadBucket once, switches to a eu-west-1 client for the bucket's calls
// (CopyObject and the multipart calls) and copies.
func TestCopyToArchiveBucketInAnotherRegion(t *testing.T) {
	e := newS3Env(t)
	ctx := context.Background()
	if _, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("archive-dr")}); err != nil {
		t.Fatal(err)
	}
	redirect := &faultproxy.Rule{Match: faultproxy.IsBucket("archive-dr"), Status: http.StatusMovedPermanently,
		Code: "PermanentRedirect", Message: "The bucket you are attempting to access must be addressed using the specified endpoint.",
		Header: http.Header{"X-Amz-Bucket-Region": {"eu-west-1"}}}
	lost := &faultproxy.Rule{Match: faultproxy.IsBucket("archive-lost"), Status: http.StatusMovedPermanently,
		Code: "PermanentRedirect", Message: "The bucket you are attempting to access must be addressed using the specified endpoint."}
	home, err := faultproxy.New(e.srv.Endpoint, redirect, lost)
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	seen := &faultproxy.Rule{}
	eu, err := faultproxy.NewRegional(e.srv.Endpoint, faultproxy.Region{
		Name: "eu-west-1", UpstreamRegion: e.srv.Region,
		Credentials: aws.Credentials{AccessKeyID: e.srv.AccessKey, SecretAccessKey: e.srv.SecretKey},
	}, seen)
	if err != nil {
		t.Fatal(err)
	}
	defer eu.Close()

	small := source{key: "dr/small file.nc", data: randomBytes(t, 64<<10), contentType: "application/x-netcdf"}
	large := source{key: "dr/large file.nc", data: randomBytes(t, 11<<20), contentType: "application/x-netcdf"}
	e.put(t, small)
	e.put(t, large)
	cfg := configFromEnv(t, map[string]string{"MULTIPART_THRESHOLD_MB": "8", "MULTIPART_CHUNKSIZE_MB": "5", "MULTIPART_CHECKSUM": "off"})
	req := func(src source, bucket string) contract.CopyRequest {
		return contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: bucket}
	}

	t.Run("a plain client fails", func(t *testing.T) {
		_, err := copyfile.NewArchiveCopier(e.srv.ClientFor(home.URL), cfg).Copy(ctx, req(small, "archive-dr"))
		var pe *copyfile.PermanentCopyError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v, want the PermanentCopyError of S3's 301", err)
		}
	})

	awsCfg := e.srv.AWSConfig() // region us-east-1, the Lambda's
	regional := s3region.New(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.EndpointResolverV2 = &regionEndpoints{map[string]string{"us-east-1": home.URL, "eu-west-1": eu.URL}}
	})
	copier := copyfile.NewArchiveCopier(regional, cfg)
	redirectsBefore := redirect.Hits()

	t.Run("s3region.Client copies there", func(t *testing.T) {
		for _, src := range []source{small, large} {
			out, err := copier.Copy(ctx, req(src, "archive-dr"))
			if err != nil {
				t.Fatalf("copy %q: %v", src.key, err)
			}
			if !out.Complete {
				t.Errorf("copy %q: outcome %+v", src.key, out)
			}
			got, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive-dr"), Key: aws.String(src.key)})
			if err != nil {
				t.Fatalf("%q not in archive-dr: %v", src.key, err)
			}
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(got.Body)
			got.Body.Close()
			if !bytes.Equal(buf.Bytes(), src.data) {
				t.Errorf("%q archived with different bytes", src.key)
			}
		}
		if n := redirect.Hits() - redirectsBefore; n != 1 {
			t.Errorf("us-east-1 answered %d requests for archive-dr with 301, want 1 (one HeadBucket, then the region is known)", n)
		}
		ops := map[string]int{}
		for _, r := range seen.Requests() {
			if !strings.HasPrefix(r.Path, "/archive-dr/") {
				t.Errorf("eu-west-1 got a request for %s", r.Path)
			}
			switch {
			case r.Method == http.MethodPut && r.Query.Has("partNumber"):
				ops["UploadPartCopy"]++
			case r.Method == http.MethodPut:
				ops["CopyObject"]++
			case r.Method == http.MethodPost && r.Query.Has("uploads"):
				ops["CreateMultipartUpload"]++
			case r.Method == http.MethodPost:
				ops["CompleteMultipartUpload"]++
			case r.Method == http.MethodHead:
				ops["HeadObject"]++
			}
		}
		// No HeadObject: the CopyObject answers the source's ETag, the MD5
		// of its bytes (S3 and versitygw alike), which proves the copy; a
		// multipart copy has none (CompleteMultipartUpload checks it).
		want := map[string]int{"CopyObject": 1, "CreateMultipartUpload": 1, "UploadPartCopy": 3, "CompleteMultipartUpload": 1, "HeadObject": 0}
		for op, n := range want {
			if ops[op] != n {
				t.Errorf("eu-west-1 got %d %s, want %d (all: %v)", ops[op], op, n, ops)
			}
		}
	})

	t.Run("a redirect that names no region is an error saying so", func(t *testing.T) {
		_, err := copier.Copy(ctx, req(small, "archive-lost"))
		var pe *copyfile.PermanentCopyError
		if !errors.As(err, &pe) || pe.Code != "PermanentRedirect" ||
			!strings.Contains(pe.Message, "bucket archive-lost is not in region us-east-1, and S3 did not say which region it is in") {
			t.Fatalf("err = %v, want PermanentCopyError PermanentRedirect naming the region problem", err)
		}
	})
}
