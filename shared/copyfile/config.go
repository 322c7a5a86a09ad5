package copyfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MiB is 2^20 bytes. The *_MB settings count in MiB.
const MiB = 1 << 20

// S3 limits on copies.
const (
	// MaxCopyObjectSize is the largest object one CopyObject can copy (5 GiB).
	MaxCopyObjectSize = 5 << 30
	// MinPartSize and MaxPartSize bound a multipart part (the last part may
	// be smaller than MinPartSize).
	MinPartSize = 5 * MiB
	MaxPartSize = 5 << 30
	// MaxParts is the most parts one multipart upload may have.
	MaxParts = 10000
)

// The environment variables ConfigFromEnv reads and Config.Env renders.
const (
	EnvSourceBuckets        = "SOURCE_BUCKETS"
	EnvArchiveBuckets       = "ARCHIVE_BUCKETS"
	EnvMultipartThresholdMB = "MULTIPART_THRESHOLD_MB"
	EnvMultipartChunksizeMB = "MULTIPART_CHUNKSIZE_MB"
	EnvMultipartMinPartMB   = "MULTIPART_MIN_PART_MB"
	EnvMultipartConcurrency = "MULTIPART_CONCURRENCY"
	EnvMultipartChecksum    = "MULTIPART_CHECKSUM"
	EnvStorageClass         = "STORAGE_CLASS"
	EnvArchiveKMSKeyID      = "ARCHIVE_KMS_KEY_ID"
	EnvObjectACL            = "ARCHIVE_OBJECT_ACL"
	EnvDeadlineMarginSecs   = "COPY_DEADLINE_MARGIN_SECS"
	EnvProgressSecs         = "COPY_PROGRESS_SECS"
)

// ObjectACLNone is the ARCHIVE_OBJECT_ACL value that sends no ACL header.
const ObjectACLNone = "none"

// The bounds of the multipart settings, in MiB (MB in the variable names)
// or parts at once. The copy Lambda checks its environment against them and
// the CDK app its context (multipartThresholdMb, multipartChunksizeMb,
// multipartMinPartMb, multipartConcurrency), so both accept the same values.
const (
	MinMultipartThresholdMB = 0
	MaxMultipartThresholdMB = MaxCopyObjectSize / MiB // 5120: CopyObject's limit
	MinMultipartChunksizeMB = MinPartSize / MiB       // 5
	MaxMultipartChunksizeMB = MaxPartSize / MiB       // 5120
	MinMultipartMinPartMB   = MinPartSize / MiB       // 5
	MaxMultipartMinPartMB   = MaxPartSize / MiB       // 5120
	MinMultipartConcurrency = 1
	// MaxMultipartConcurrency: AWS's own restore-and-copy guidance runs
	// about 200 part copies per object, and a Lambda's 1,024 file
	// descriptors must hold a connection per part.
	MaxMultipartConcurrency = 256
)

// The values of MULTIPART_CHECKSUM.
const (
	ChecksumSource = "source"
	ChecksumOff    = "off"
)

// Defaults of the settings; see Config.
const (
	DefaultMultipartChunksizeMB = 1024
	DefaultMultipartMinPartMB   = 12
	// DefaultMultipartThresholdMB is two minimum parts: the smallest
	// object the plan splits in two. There, on the model, a multipart copy
	// overtakes one CopyObject (TestDefaultThresholdFromModel;
	// BENCHMARKS.md).
	DefaultMultipartThresholdMB = 2 * DefaultMultipartMinPartMB
	DefaultMultipartConcurrency = 256
	DefaultDeadlineMarginSecs   = 30
	DefaultProgressSecs         = 30
)

// The bounds of COPY_PROGRESS_SECS.
const (
	MinProgressSecs = 1
	MaxProgressSecs = 900
)

// MinDeadlineMargin is the smallest COPY_DEADLINE_MARGIN_SECS accepted. The
// copy stops DeadlineMargin before the Lambda's deadline. The cleanup
// (aborting a multipart upload) may run until one second before it, so it
// always has at least four seconds. A Config.DeadlineMargin set below it in
// code is raised to it.
const MinDeadlineMargin = 5 * time.Second

// MaxDeadlineMarginSecs is the largest COPY_DEADLINE_MARGIN_SECS accepted.
const MaxDeadlineMarginSecs = 600

// Config is the copy Lambda's configuration, read from the environment by
// ConfigFromEnv.
type Config struct {
	// SourceBuckets and ArchiveBuckets, when not empty, are the only buckets
	// a copy may read from / write to (SOURCE_BUCKETS, ARCHIVE_BUCKETS,
	// comma-separated).
	SourceBuckets  []string
	ArchiveBuckets []string
	// MultipartThreshold: objects larger than this many bytes are copied
	// with a multipart upload, others with one CopyObject
	// (MULTIPART_THRESHOLD_MB, at most 5120).
	MultipartThreshold int64
	// Chunksize is the largest part in bytes (MULTIPART_CHUNKSIZE_MB,
	// cdk.json multipartChunksizeMb; 5 to 5120). It is raised for a copy
	// that would otherwise need more than 10,000 parts. partPlan chooses
	// each copy's part size between MinPart and Chunksize.
	Chunksize int64
	// MinPart is the smallest part in bytes (MULTIPART_MIN_PART_MB,
	// cdk.json multipartMinPartMb; 5 to 5120; lowered to Chunksize when
	// above it). It bounds the request rate of small objects' copies.
	MinPart int64
	// Concurrency is how many parts are copied at once at most
	// (MULTIPART_CONCURRENCY, MinMultipartConcurrency to
	// MaxMultipartConcurrency). Under S3 SlowDown the
	// copy runs fewer for a while (see window).
	Concurrency int
	// StorageClass of the archive copy (STORAGE_CLASS); empty keeps the
	// destination bucket's default (S3 does not carry the source's class).
	StorageClass types.StorageClass
	// KMSKeyID, when set, encrypts the archive copy with SSE-KMS under this
	// key (ARCHIVE_KMS_KEY_ID). When empty the copy sends no encryption
	// header, so the archive bucket's default encryption applies (see
	// ArchiveCopier.encryption).
	KMSKeyID string
	// ObjectACL is the canned ACL sent with the copy (ARCHIVE_OBJECT_ACL).
	// The default, bucket-owner-full-control, gives a copy into another
	// account's bucket to that bucket's owner. "none" (empty here) sends no
	// ACL header, for S3-compatible servers that refuse ACL headers.
	ObjectACL types.ObjectCannedACL
	// MultipartChecksum is MULTIPART_CHECKSUM. With "source" (the default)
	// a multipart copy asks S3 for a full-object checksum in the source's
	// algorithm, which S3 checks at completion. With "off" the
	// destination's checksum is S3's default; use it for servers that
	// compute copied parts' checksums wrongly (versitygw v1.8.0). Either way
	// the size is checked, and a comparable checksum is compared.
	MultipartChecksum string
	// DeadlineMargin is the time kept free before the Lambda's deadline
	// (COPY_DEADLINE_MARGIN_SECS, at least MinDeadlineMargin). A multipart
	// copy that would end later pauses and returns its resume token; with no
	// part copied it fails as transient. The cleanup runs in this time.
	DeadlineMargin time.Duration
	// ProgressInterval is how often a multipart copy logs its progress
	// (parts and bytes done; COPY_PROGRESS_SECS, 1 to 900), so a long copy
	// is visibly alive in its log.
	ProgressInterval time.Duration
}

// DefaultConfig returns the configuration with every setting at its default.
func DefaultConfig() Config {
	return Config{
		MultipartThreshold: DefaultMultipartThresholdMB * MiB,
		Chunksize:          DefaultMultipartChunksizeMB * MiB,
		MinPart:            DefaultMultipartMinPartMB * MiB,
		Concurrency:        DefaultMultipartConcurrency,
		DeadlineMargin:     DefaultDeadlineMarginSecs * time.Second,
		MultipartChecksum:  ChecksumSource,
		ObjectACL:          types.ObjectCannedACLBucketOwnerFullControl,
		ProgressInterval:   DefaultProgressSecs * time.Second,
	}
}

// ConfigFromEnv reads the configuration with getenv (os.Getenv in the
// Lambda). An invalid value is an error naming the variable and the value.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	c.SourceBuckets = ParseList(getenv(EnvSourceBuckets))
	c.ArchiveBuckets = ParseList(getenv(EnvArchiveBuckets))

	var err error
	if c.MultipartThreshold, err = mib(getenv, EnvMultipartThresholdMB, DefaultMultipartThresholdMB, MinMultipartThresholdMB, MaxMultipartThresholdMB); err != nil {
		return Config{}, err
	}
	if c.Chunksize, err = mib(getenv, EnvMultipartChunksizeMB, DefaultMultipartChunksizeMB, MinMultipartChunksizeMB, MaxMultipartChunksizeMB); err != nil {
		return Config{}, err
	}
	if c.MinPart, err = mib(getenv, EnvMultipartMinPartMB, DefaultMultipartMinPartMB, MinMultipartMinPartMB, MaxMultipartMinPartMB); err != nil {
		return Config{}, err
	}
	n, err := intVar(getenv, EnvMultipartConcurrency, DefaultMultipartConcurrency, MinMultipartConcurrency, MaxMultipartConcurrency)
	if err != nil {
		return Config{}, err
	}
	c.Concurrency = int(n)
	secs, err := intVar(getenv, EnvDeadlineMarginSecs, DefaultDeadlineMarginSecs, int64(MinDeadlineMargin/time.Second), MaxDeadlineMarginSecs)
	if err != nil {
		return Config{}, fmt.Errorf("%w (the copy stops this long before the Lambda deadline; aborting a multipart upload runs in that time)", err)
	}
	c.DeadlineMargin = time.Duration(secs) * time.Second
	if secs, err = intVar(getenv, EnvProgressSecs, DefaultProgressSecs, MinProgressSecs, MaxProgressSecs); err != nil {
		return Config{}, fmt.Errorf("%w (how often a multipart copy logs its progress)", err)
	}
	c.ProgressInterval = time.Duration(secs) * time.Second

	if v := strings.TrimSpace(getenv(EnvStorageClass)); v != "" {
		sc := types.StorageClass(strings.ToUpper(v))
		if !slices.Contains(types.StorageClass("").Values(), sc) {
			return Config{}, fmt.Errorf("%s=%q: not an S3 storage class (one of %v)", EnvStorageClass, v, types.StorageClass("").Values())
		}
		c.StorageClass = sc
	}
	c.KMSKeyID = strings.TrimSpace(getenv(EnvArchiveKMSKeyID))
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvObjectACL))); v {
	case "", string(types.ObjectCannedACLBucketOwnerFullControl):
	case ObjectACLNone:
		c.ObjectACL = ""
	default:
		return Config{}, fmt.Errorf("%s=%q: must be %q or %q", EnvObjectACL, v, types.ObjectCannedACLBucketOwnerFullControl, ObjectACLNone)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvMultipartChecksum))); v {
	case "":
	case ChecksumSource, ChecksumOff:
		c.MultipartChecksum = v
	default:
		return Config{}, fmt.Errorf("%s=%q: must be %q or %q", EnvMultipartChecksum, v, ChecksumSource, ChecksumOff)
	}
	return c, nil
}

// Env renders c as the environment ConfigFromEnv reads, so that
// ConfigFromEnv(c.Env()) gives c back (the CDK app deploys the copy Lambda
// with it). Sizes render in whole MiB and durations in whole seconds,
// rounded down; an empty StorageClass or KMSKeyID is left out.
func (c Config) Env() map[string]string {
	acl := string(c.ObjectACL)
	if acl == "" {
		acl = ObjectACLNone
	}
	env := map[string]string{
		EnvSourceBuckets:        strings.Join(c.SourceBuckets, ","),
		EnvArchiveBuckets:       strings.Join(c.ArchiveBuckets, ","),
		EnvMultipartThresholdMB: strconv.FormatInt(c.MultipartThreshold/MiB, 10),
		EnvMultipartChunksizeMB: strconv.FormatInt(c.Chunksize/MiB, 10),
		EnvMultipartMinPartMB:   strconv.FormatInt(c.MinPart/MiB, 10),
		EnvMultipartConcurrency: strconv.Itoa(c.Concurrency),
		EnvMultipartChecksum:    c.MultipartChecksum,
		EnvObjectACL:            acl,
		EnvDeadlineMarginSecs:   strconv.FormatInt(int64(c.DeadlineMargin/time.Second), 10),
		EnvProgressSecs:         strconv.FormatInt(int64(c.ProgressInterval/time.Second), 10),
	}
	if c.StorageClass != "" {
		env[EnvStorageClass] = string(c.StorageClass)
	}
	if c.KMSKeyID != "" {
		env[EnvArchiveKMSKeyID] = c.KMSKeyID
	}
	return env
}

// ParseList reads a comma-separated list (SOURCE_BUCKETS, ARCHIVE_BUCKETS),
// trimming spaces and dropping blanks.
func ParseList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func intVar(getenv func(string) string, name string, def, lo, hi int64) (int64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a whole number", name, v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s=%q: must be between %d and %d", name, v, lo, hi)
	}
	return n, nil
}

func mib(getenv func(string) string, name string, def, lo, hi int64) (int64, error) {
	n, err := intVar(getenv, name, def, lo, hi)
	return n * MiB, err
}
