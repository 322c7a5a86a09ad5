// Package s3region sends each S3 call to a client of its bucket's region.
// aws-sdk-go-v2 does not follow S3's 301 PermanentRedirect, so a bucket in
// another region (normal for disaster recovery) fails without it.
package s3region

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// API is the part of the S3 client that Client routes.
type API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ API = (*s3.Client)(nil)

// Client sends each call to a client for the region of the bucket the call
// names. The first call on a bucket asks HeadBucket, from the home region,
// where the bucket is. S3 names the region in x-amz-bucket-region, on a 200
// and on a 301 alike
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLocation.html;
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
// The region is kept for the container's life, with one client per region.
// A call still redirected is sent once more to the region the redirect
// names. Otherwise it fails with an error that Misdirected recognises.
// docs/functions.md says why.
type Client struct {
	home       API
	homeRegion string
	forRegion  func(region string) API

	mu      sync.Mutex
	regions map[string]string // bucket -> region
	clients map[string]API    // region -> client
}

var _ API = (*Client)(nil)

// New returns a Client whose home client is s3.NewFromConfig(cfg, opts...)
// for cfg.Region. The client of another region is made the same way, with
// Options.Region set after opts. An endpoint set by opts (such as
// AWS_ENDPOINT_URL_S3's) still applies to every region.
func New(cfg aws.Config, opts ...func(*s3.Options)) *Client {
	return NewWith(s3.NewFromConfig(cfg, opts...), cfg.Region, func(region string) API {
		return s3.NewFromConfig(cfg, append(append([]func(*s3.Options){}, opts...), func(o *s3.Options) { o.Region = region })...)
	})
}

// NewWith returns a Client from its parts. home is the client of
// homeRegion; it also asks HeadBucket for the buckets' regions. forRegion
// makes the client of another region, once per region.
func NewWith(home API, homeRegion string, forRegion func(region string) API) *Client {
	return &Client{home: home, homeRegion: homeRegion, forRegion: forRegion,
		regions: map[string]string{}, clients: map[string]API{}}
}

// regionError is a call that S3 refused with 301 PermanentRedirect: the
// bucket is in another region than the client the call went to. Region is
// the bucket's region when S3 named it.
type regionError struct {
	Bucket       string
	Region       string
	ClientRegion string
	Err          error
}

func (e *regionError) Error() string {
	if e.Region == "" {
		return fmt.Sprintf("bucket %s is not in region %s, and S3 did not say which region it is in (301 PermanentRedirect without x-amz-bucket-region)",
			e.Bucket, e.ClientRegion)
	}
	return fmt.Sprintf("bucket %s is in region %s, but the request went to region %s and S3 answered 301 PermanentRedirect",
		e.Bucket, e.Region, e.ClientRegion)
}

func (e *regionError) Unwrap() error { return e.Err }

// Misdirected reports whether err is a call S3 refused because the bucket
// is in another region than the one the call reached, and says so.
func Misdirected(err error) (string, bool) {
	var re *regionError
	if errors.As(err, &re) {
		return re.Error(), true
	}
	return "", false
}

// httpStatus is the HTTP status of S3's answer, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// BucketRegion returns the region of bucket: the one remembered, else the
// one HeadBucket (sent to the home region) names, remembered from then on.
// When HeadBucket names none, it returns the home region without
// remembering it; the call itself then says what is wrong. A 301 without a
// region is a *regionError.
func (r *Client) BucketRegion(ctx context.Context, bucket string) (string, error) {
	r.mu.Lock()
	region, ok := r.regions[bucket]
	r.mu.Unlock()
	if ok {
		return region, nil
	}
	out, err := r.home.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		region = aws.ToString(out.BucketRegion)
	} else {
		region = redirectRegion(err)
	}
	switch {
	case region != "":
		r.remember(bucket, region)
		return region, nil
	case err == nil:
		// An S3-compatible server that names no region: the one endpoint.
		r.remember(bucket, r.homeRegion)
		return r.homeRegion, nil
	case httpStatus(err) == http.StatusMovedPermanently:
		return "", &regionError{Bucket: bucket, ClientRegion: r.homeRegion, Err: err}
	}
	return r.homeRegion, nil
}

func (r *Client) remember(bucket, region string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.regions[bucket] = region
}

// client returns the client of region, made once.
func (r *Client) client(region string) API {
	if region == "" || region == r.homeRegion {
		return r.home
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clients[region]
	if !ok {
		c = r.forRegion(region)
		r.clients[region] = c
	}
	return c
}

// redirectRegion returns the x-amz-bucket-region header of an S3 error
// answer, or "".
func redirectRegion(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// route runs call with the client of bucket's region; see Client.
func route[T any](ctx context.Context, r *Client, bucket *string, call func(API) (T, error)) (T, error) {
	b := aws.ToString(bucket)
	region, err := r.BucketRegion(ctx, b)
	if err != nil {
		var zero T
		return zero, err
	}
	out, err := call(r.client(region))
	if err == nil || httpStatus(err) != http.StatusMovedPermanently {
		return out, err
	}
	if actual := redirectRegion(err); actual != "" && actual != region {
		// The remembered region is stale: follow S3's answer once.
		r.remember(b, actual)
		region = actual
		out, err = call(r.client(region))
		if err == nil || httpStatus(err) != http.StatusMovedPermanently {
			return out, err
		}
	}
	return out, &regionError{Bucket: b, Region: redirectRegion(err), ClientRegion: region, Err: err}
}

func (r *Client) HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.HeadObjectOutput, error) { return c.HeadObject(ctx, in, opts...) })
}

func (r *Client) HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.HeadBucketOutput, error) { return c.HeadBucket(ctx, in, opts...) })
}

// CopyObject goes to the region of the archive bucket (in.Bucket); S3
// reads the source from any region.
func (r *Client) CopyObject(ctx context.Context, in *s3.CopyObjectInput, opts ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.CopyObjectOutput, error) { return c.CopyObject(ctx, in, opts...) })
}

func (r *Client) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, opts ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.GetObjectTaggingOutput, error) { return c.GetObjectTagging(ctx, in, opts...) })
}

func (r *Client) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.CreateMultipartUploadOutput, error) {
		return c.CreateMultipartUpload(ctx, in, opts...)
	})
}

// UploadPartCopy goes to the region of the archive bucket (in.Bucket).
func (r *Client) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, opts ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.UploadPartCopyOutput, error) { return c.UploadPartCopy(ctx, in, opts...) })
}

func (r *Client) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, in, opts...)
	})
}

func (r *Client) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.AbortMultipartUploadOutput, error) {
		return c.AbortMultipartUpload(ctx, in, opts...)
	})
}

func (r *Client) ListParts(ctx context.Context, in *s3.ListPartsInput, opts ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.ListPartsOutput, error) { return c.ListParts(ctx, in, opts...) })
}

func (r *Client) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	return route(ctx, r, in.Bucket, func(c API) (*s3.DeleteObjectOutput, error) { return c.DeleteObject(ctx, in, opts...) })
}
