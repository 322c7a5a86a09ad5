package s3region

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/go-cmp/cmp"
)

// regionFake is one region's S3 endpoint: it serves the buckets it holds
// and answers others as S3 does, 301 with x-amz-bucket-region (the
// bucket's region in where, if known).
type regionFake struct {
	API   // only the methods below are called
	name  string
	holds map[string]bool
	where map[string]string
	calls *[]string
}

func (f *regionFake) redirect(op, bucket string) error {
	*f.calls = append(*f.calls, f.name+" "+op+" "+bucket)
	if f.holds[bucket] {
		return nil
	}
	h := http.Header{}
	if r := f.where[bucket]; r != "" {
		h.Set("X-Amz-Bucket-Region", r)
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusMovedPermanently, Header: h}},
		Err:      &smithy.GenericAPIError{Code: "PermanentRedirect", Message: "The bucket you are attempting to access must be addressed using the specified endpoint."},
	}}
}

func (f *regionFake) HeadBucket(_ context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	if err := f.redirect("HeadBucket", *in.Bucket); err != nil {
		return nil, err
	}
	return &s3.HeadBucketOutput{BucketRegion: aws.String(f.name)}, nil
}

func (f *regionFake) CopyObject(_ context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if err := f.redirect("CopyObject", *in.Bucket); err != nil {
		return nil, err
	}
	return &s3.CopyObjectOutput{}, nil
}

// TestClientRoutes covers Client's routing with one fake per
// region: the region is asked once per bucket, a client is made once per
// region, a region that turns out stale is corrected by following S3's
// redirect once, and a redirect without a region is a *regionError.
func TestClientRoutes(t *testing.T) {
	var calls []string
	where := map[string]string{"dr": "eu-west-1", "moved": "eu-west-1", "lost": ""}
	fakes := map[string]*regionFake{
		"us-east-1":  {name: "us-east-1", holds: map[string]bool{"home": true}, where: where, calls: &calls},
		"eu-west-1":  {name: "eu-west-1", holds: map[string]bool{"dr": true}, where: map[string]string{"moved": "ap-south-1"}, calls: &calls},
		"ap-south-1": {name: "ap-south-1", holds: map[string]bool{"moved": true}, calls: &calls},
	}
	made := map[string]int{}
	r := NewWith(fakes["us-east-1"], "us-east-1", func(region string) API {
		made[region]++
		return fakes[region]
	})
	ctx := context.Background()
	copyTo := func(bucket string) error {
		_, err := r.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), CopySource: aws.String("home/k")})
		return err
	}
	for _, b := range []string{"home", "dr", "dr", "home", "moved", "moved"} {
		if err := copyTo(b); err != nil {
			t.Fatalf("copy to %s: %v", b, err)
		}
	}
	want := []string{
		"us-east-1 HeadBucket home", "us-east-1 CopyObject home",
		"us-east-1 HeadBucket dr", "eu-west-1 CopyObject dr",
		"eu-west-1 CopyObject dr",
		"us-east-1 CopyObject home",
		// "moved" is said to be in eu-west-1, which redirects to ap-south-1.
		"us-east-1 HeadBucket moved", "eu-west-1 CopyObject moved", "ap-south-1 CopyObject moved",
		"ap-south-1 CopyObject moved",
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"eu-west-1": 1, "ap-south-1": 1}, made); diff != "" {
		t.Errorf("clients made per region (-want +got):\n%s", diff)
	}

	err := copyTo("lost")
	if _, ok := err.(*regionError); !ok || !strings.Contains(err.Error(), "bucket lost is not in region us-east-1, and S3 did not say which region it is in") {
		t.Fatalf("copy to lost: err = %T %v, want *regionError naming the problem", err, err)
	}
	if msg, ok := Misdirected(fmt.Errorf("wrapped: %w", err)); !ok || msg != err.Error() {
		t.Errorf("Misdirected = %q, %v; want the region error's message, true", msg, ok)
	}
}
