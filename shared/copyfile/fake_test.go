package copyfile

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeS3 is an in-memory S3 with just enough behaviour for the copier:
// objects with metadata and tags, CopyObject, multipart uploads built from
// UploadPartCopy ranges. Hooks inject failures and delays.
type fakeS3 struct {
	mu       sync.Mutex
	buckets  map[string]bool
	objects  map[string]*fakeObject // "bucket/key"
	uploads  map[string]*fakeUpload // upload id
	nextID   int
	calls    []string
	inFlight int
	maxInFl  int

	// fail, if set, is asked before each call; a non-nil error is returned
	// instead of doing the call.
	fail func(op string, in any) error
	// delay, if set, is waited in UploadPartCopy (honouring ctx).
	delay time.Duration
	// partDelay, if set, is the wait of part n instead of delay.
	partDelay func(n int32) time.Duration
	// copyDelay, if set, is waited in CopyObject (honouring ctx: a
	// cancelled wait copies nothing).
	copyDelay time.Duration
	// abortDelay, if set, is waited in AbortMultipartUpload (honouring ctx).
	abortDelay time.Duration
	// completeDelay, if set, is waited in CompleteMultipartUpload
	// (honouring ctx: a cancelled wait completes nothing).
	completeDelay time.Duration
	// corruptSize, if set, is the size HeadObject reports for the
	// destination and CompleteMultipartUpload finds its parts hold.
	corruptSize int64
	// uncheckedComplete: CompleteMultipartUpload does not check the
	// expected checksum (as a server might not), only answers its own.
	uncheckedComplete bool
	// dstChecksum, if set, is the CRC32 HeadObject reports for the
	// destination.
	dstChecksum *string
	// copyETag, if set, is the ETag CopyObject answers. Unset, it answers
	// the source's, as S3 does for a copy of a single-part object, unless
	// corruptSize or dstChecksum says the copy's bytes differ: then an
	// ETag of other bytes, as S3 would compute it for them.
	copyETag *string
	// heads records HeadObject's "bucket/key", in call order.
	heads []string
	// listPageSize is the number of parts a ListParts page holds (0: 1000).
	listPageSize int
	// partCalls records UploadPartCopy's part numbers, in call order.
	partCalls []int32
	// listCalls counts ListParts answers about an existing upload.
	listCalls int
	// created records CreateMultipartUpload inputs.
	created []*s3.CreateMultipartUploadInput
	copied  []*s3.CopyObjectInput
}

var _ S3API = (*fakeS3)(nil)

type fakeObject struct {
	data     []byte
	head     s3.HeadObjectOutput
	tags     []types.Tag
	checksum *string // CRC32 full-object checksum, if any
}

type fakeUpload struct {
	bucket, key string
	create      *s3.CreateMultipartUploadInput
	parts       map[int32][]byte
}

func newFakeS3(buckets ...string) *fakeS3 {
	f := &fakeS3{buckets: map[string]bool{}, objects: map[string]*fakeObject{}, uploads: map[string]*fakeUpload{}}
	for _, b := range buckets {
		f.buckets[b] = true
	}
	return f
}

func (f *fakeS3) put(bucket, key string, data []byte, head s3.HeadObjectOutput, tags ...types.Tag) {
	f.mu.Lock()
	defer f.mu.Unlock()
	head.ContentLength = aws.Int64(int64(len(data)))
	head.ETag = aws.String(fmt.Sprintf(`"etag-%d"`, len(data)))
	f.objects[bucket+"/"+key] = &fakeObject{data: data, head: head, tags: tags}
}

func (f *fakeS3) object(bucket, key string) *fakeObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.objects[bucket+"/"+key]
}

func (f *fakeS3) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeS3) begin(op string, in any) error {
	f.mu.Lock()
	f.calls = append(f.calls, op)
	hook := f.fail
	f.mu.Unlock()
	if hook != nil {
		return hook(op, in)
	}
	return nil
}

// apiError builds an error shaped as the SDK returns it: an API error with a
// code inside a response error with an HTTP status.
// md5ETagOf is the ETag S3 gives a single-part plaintext object of b: the
// MD5 of its bytes in hex, quoted.
func md5ETagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func apiError(status int, code, msg string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "Fake", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: msg},
	}}
}

func notFound() error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "HeadObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 404}},
		Err:      &types.NotFound{},
	}}
}

// parseSource decodes a CopySource value the way S3 does.
func parseSource(cs string) (bucket, key string, err error) {
	b, k, ok := strings.Cut(cs, "/")
	if !ok {
		return "", "", fmt.Errorf("bad copy source %q", cs)
	}
	k, err = url.PathUnescape(k)
	return b, k, err
}

func (f *fakeS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	f.heads = append(f.heads, *in.Bucket+"/"+*in.Key)
	f.mu.Unlock()
	if err := f.begin("HeadObject", in); err != nil {
		return nil, err
	}
	o := f.object(*in.Bucket, *in.Key)
	if o == nil {
		return nil, notFound()
	}
	h := o.head
	if f.corruptSize != 0 && !strings.HasPrefix(*in.Bucket, "restore") {
		h.ContentLength = aws.Int64(f.corruptSize)
	}
	if in.ChecksumMode == types.ChecksumModeEnabled {
		h.ChecksumCRC32 = o.checksum
		if f.dstChecksum != nil && !strings.HasPrefix(*in.Bucket, "restore") {
			h.ChecksumCRC32 = f.dstChecksum
		}
		if o.checksum != nil {
			h.ChecksumType = types.ChecksumTypeFullObject
		}
	}
	return &h, nil
}

func (f *fakeS3) HeadBucket(ctx context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	if err := f.begin("HeadBucket", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.buckets[*in.Bucket] {
		return nil, notFound()
	}
	return &s3.HeadBucketOutput{}, nil
}

func (f *fakeS3) CopyObject(ctx context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	if err := f.begin("CopyObject", in); err != nil {
		return nil, err
	}
	if err := wait(ctx, "CopyObject", f.copyDelay); err != nil {
		return nil, err
	}
	b, k, err := parseSource(*in.CopySource)
	if err != nil {
		return nil, apiError(400, "InvalidArgument", err.Error())
	}
	src := f.object(b, k)
	if src == nil {
		return nil, apiError(404, "NoSuchKey", "The specified key does not exist.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copied = append(f.copied, in)
	if !f.buckets[*in.Bucket] {
		return nil, apiError(404, "NoSuchBucket", "The specified bucket does not exist.")
	}
	dst := *src
	dst.head.StorageClass = in.StorageClass
	dst.head.ServerSideEncryption = in.ServerSideEncryption
	dst.head.SSEKMSKeyId = in.SSEKMSKeyId
	f.objects[*in.Bucket+"/"+*in.Key] = &dst
	etag := src.head.ETag
	switch {
	case f.copyETag != nil:
		etag = f.copyETag
	case f.corruptSize != 0 || aws.ToString(f.dstChecksum) != "" && *f.dstChecksum != aws.ToString(src.checksum):
		etag = aws.String(md5ETagOf([]byte("other bytes than " + aws.ToString(src.head.ETag))))
	}
	// The answer's checksum is the copy's (dstChecksum, else the source's).
	sum := src.checksum
	if f.dstChecksum != nil {
		sum = f.dstChecksum
	}
	return &s3.CopyObjectOutput{
		CopyObjectResult:     &types.CopyObjectResult{ETag: etag, ChecksumCRC32: sum},
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId,
	}, nil
}

// headsOf counts the HeadObject calls on bucket/key.
func (f *fakeS3) headsOf(bucket, key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.heads {
		if h == bucket+"/"+key {
			n++
		}
	}
	return n
}

func (f *fakeS3) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, _ ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	if err := f.begin("GetObjectTagging", in); err != nil {
		return nil, err
	}
	o := f.object(*in.Bucket, *in.Key)
	if o == nil {
		return nil, apiError(404, "NoSuchKey", "The specified key does not exist.")
	}
	return &s3.GetObjectTaggingOutput{TagSet: o.tags}, nil
}

func (f *fakeS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	if err := f.begin("CreateMultipartUpload", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := "upload-" + strconv.Itoa(f.nextID)
	f.uploads[id] = &fakeUpload{bucket: *in.Bucket, key: *in.Key, create: in, parts: map[int32][]byte{}}
	f.created = append(f.created, in)
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String(id)}, nil
}

func (f *fakeS3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, _ ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFl = max(f.maxInFl, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	f.mu.Lock()
	f.partCalls = append(f.partCalls, *in.PartNumber)
	f.mu.Unlock()
	if err := f.begin("UploadPartCopy", in); err != nil {
		return nil, err
	}
	delay := f.delay
	if f.partDelay != nil {
		delay = f.partDelay(*in.PartNumber)
	}
	if err := wait(ctx, "UploadPartCopy", delay); err != nil {
		return nil, err
	}
	b, k, err := parseSource(*in.CopySource)
	if err != nil {
		return nil, apiError(400, "InvalidArgument", err.Error())
	}
	src := f.object(b, k)
	if src == nil {
		return nil, apiError(404, "NoSuchKey", "The specified key does not exist.")
	}
	if in.CopySourceIfMatch != nil && *in.CopySourceIfMatch != aws.ToString(src.head.ETag) {
		return nil, apiError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	}
	var first, last int64
	if _, err := fmt.Sscanf(*in.CopySourceRange, "bytes=%d-%d", &first, &last); err != nil {
		return nil, apiError(400, "InvalidArgument", "bad range "+*in.CopySourceRange)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	up := f.uploads[*in.UploadId]
	if up == nil {
		return nil, apiError(404, "NoSuchUpload", "The specified upload does not exist.")
	}
	up.parts[*in.PartNumber] = src.data[first : last+1]
	etag := fmt.Sprintf(`"part-%d"`, *in.PartNumber)
	return &s3.UploadPartCopyOutput{CopyPartResult: &types.CopyPartResult{ETag: aws.String(etag)}}, nil
}

func (f *fakeS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	if err := f.begin("CompleteMultipartUpload", in); err != nil {
		return nil, err
	}
	if f.completeDelay > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(f.completeDelay):
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	up := f.uploads[*in.UploadId]
	if up == nil {
		return nil, apiError(404, "NoSuchUpload", "The specified upload does not exist.")
	}
	var data []byte
	var checksum *string
	for i, p := range in.MultipartUpload.Parts {
		if *p.PartNumber != int32(i+1) {
			return nil, apiError(400, "InvalidPartOrder", "parts out of order")
		}
		if want := fmt.Sprintf(`"part-%d"`, *p.PartNumber); aws.ToString(p.ETag) != want {
			return nil, apiError(400, "InvalidPart", "bad etag")
		}
		data = append(data, up.parts[*p.PartNumber]...)
	}
	// As S3 does: the size must be x-amz-mp-object-size, a full-object
	// checksum the one expected. The fake computes no checksum: the
	// destination's is dstChecksum, else the source's.
	size := int64(len(data))
	if f.corruptSize != 0 {
		size = f.corruptSize
	}
	if in.MpuObjectSize != nil && *in.MpuObjectSize != size {
		return nil, apiError(400, "InvalidRequest", fmt.Sprintf("x-amz-mp-object-size %d, the parts hold %d bytes", *in.MpuObjectSize, size))
	}
	if in.ChecksumType == types.ChecksumTypeFullObject && in.ChecksumCRC32 != nil {
		checksum = f.dstChecksum
		if checksum == nil {
			checksum = in.ChecksumCRC32 // the parts are the source's bytes
		}
		if !f.uncheckedComplete && *checksum != *in.ChecksumCRC32 {
			return nil, apiError(400, "BadDigest", "The CRC32 you specified did not match the calculated checksum.")
		}
	}
	c := up.create
	f.objects[up.bucket+"/"+up.key] = &fakeObject{data: data, head: s3.HeadObjectOutput{
		ContentLength: aws.Int64(int64(len(data))), Metadata: c.Metadata, ContentType: c.ContentType,
		CacheControl: c.CacheControl, ContentDisposition: c.ContentDisposition, ContentEncoding: c.ContentEncoding,
		ContentLanguage: c.ContentLanguage, StorageClass: c.StorageClass,
		ServerSideEncryption: c.ServerSideEncryption, SSEKMSKeyId: c.SSEKMSKeyId,
	}}
	f.objects[up.bucket+"/"+up.key].checksum = checksum
	delete(f.uploads, *in.UploadId)
	return &s3.CompleteMultipartUploadOutput{ChecksumCRC32: checksum}, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	if err := f.begin("AbortMultipartUpload", in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // as the SDK does: no request once ctx has ended
		return nil, &smithy.OperationError{ServiceID: "S3", OperationName: "AbortMultipartUpload", Err: err}
	}
	if f.abortDelay > 0 {
		select {
		case <-time.After(f.abortDelay):
		case <-ctx.Done():
			return nil, &smithy.OperationError{ServiceID: "S3", OperationName: "AbortMultipartUpload", Err: ctx.Err()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploads[*in.UploadId] == nil {
		return nil, apiError(404, "NoSuchUpload", "The specified upload does not exist.")
	}
	delete(f.uploads, *in.UploadId)
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeS3) ListParts(ctx context.Context, in *s3.ListPartsInput, _ ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	if err := f.begin("ListParts", in); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // as the SDK does: no request once ctx has ended
		return nil, &smithy.OperationError{ServiceID: "S3", OperationName: "ListParts", Err: err}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	up := f.uploads[*in.UploadId]
	if up == nil {
		return nil, apiError(404, "NoSuchUpload", "The specified upload does not exist.")
	}
	// Parts in order after PartNumberMarker, listPageSize (default 1000)
	// a page, as S3 pages them.
	marker := int32(0)
	if in.PartNumberMarker != nil {
		n, err := strconv.Atoi(*in.PartNumberMarker)
		if err != nil {
			return nil, apiError(400, "InvalidArgument", "bad part-number-marker")
		}
		marker = int32(n)
	}
	page := f.listPageSize
	if page == 0 {
		page = 1000
	}
	var numbers []int32
	for n := range up.parts {
		if n > marker {
			numbers = append(numbers, n)
		}
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] < numbers[j] })
	out := &s3.ListPartsOutput{IsTruncated: aws.Bool(len(numbers) > page)}
	if len(numbers) > page {
		numbers = numbers[:page]
		out.NextPartNumberMarker = aws.String(strconv.Itoa(int(numbers[page-1])))
	}
	for _, n := range numbers {
		out.Parts = append(out.Parts, types.Part{PartNumber: aws.Int32(n), Size: aws.Int64(int64(len(up.parts[n]))),
			ETag: aws.String(fmt.Sprintf(`"part-%d"`, n))})
	}
	f.listCalls++
	return out, nil
}

func (f *fakeS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if err := f.begin("DeleteObject", in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, *in.Bucket+"/"+*in.Key)
	return &s3.DeleteObjectOutput{}, nil
}

// wait waits d (none when 0) unless ctx ends first, which fails op as the
// SDK would.
func wait(ctx context.Context, op string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: ctx.Err()}
	}
}
