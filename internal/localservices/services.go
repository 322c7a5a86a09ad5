package localservices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// The environment variables that select given services instead of embedded
// ones, and the AWS variables the runner sets for embedded S3.
const (
	EnvS3Endpoint  = copyfile.EnvS3Endpoint
	EnvDatabaseURL = requeststatus.EnvDatabaseURL
	envAccessKey   = "AWS_ACCESS_KEY_ID"
	envSecretKey   = "AWS_SECRET_ACCESS_KEY"
	envSession     = "AWS_SESSION_TOKEN"
	envRegion      = "AWS_REGION"
	envMaxConns    = requeststatus.EnvMaxConns
)

// ServicesConfig says where the protocol peers come from.
type ServicesConfig struct {
	// RepoRoot holds node_modules (PGlite).
	RepoRoot string
	// Getenv reads the runner's environment (os.Getenv when nil).
	Getenv func(string) string
	// S3Dir holds the embedded S3 server's buckets (used without
	// AWS_ENDPOINT_URL_S3).
	S3Dir string
	// DBDir holds the embedded PGlite database (used without DATABASE_URL).
	DBDir string
	// Buckets are created on the embedded S3 server.
	Buckets []string
	// Log receives the embedded servers' output and progress notes.
	Log io.Writer
}

// Services are the S3 endpoint and database a run uses, given or embedded.
type Services struct {
	// S3 is the S3 client the runner itself uses (demo seeding, listing).
	S3 *s3.Client
	// DB is a pool for the runner itself (schema, seeding, reading rows).
	DB *pgxpool.Pool
	// S3Endpoint is the endpoint in use ("" for AWS's own).
	S3Endpoint string
	// EmbeddedS3 and EmbeddedDB say which services were started here.
	EmbeddedS3, EmbeddedDB bool
	// Notes are the settings the runner chose for the Lambdas because of
	// the embedded services, one sentence each (also written to the log).
	Notes []string

	base    func(string) string
	overlay map[string]string
	closers []func()
}

// Getenv is the environment the in-process Lambdas see: the runner's, with
// the variables pointing them at embedded services.
func (s *Services) Getenv(name string) string {
	if v, ok := s.overlay[name]; ok {
		return v
	}
	return s.base(name)
}

// Setenv overrides a variable the Lambdas see (tests use it to point one
// function elsewhere, e.g. through a fault proxy).
func (s *Services) Setenv(name, value string) {
	s.overlay[name] = value
}

// Close stops what StartServices started, in reverse order.
func (s *Services) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// StartServices uses the S3 endpoint and database the environment names
// (AWS_ENDPOINT_URL_S3, DATABASE_URL) or starts embedded ones (versitygw,
// PGlite), then applies the request_status schema (idempotent).
func StartServices(ctx context.Context, cfg ServicesConfig) (_ *Services, err error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	s := &Services{base: getenv, overlay: map[string]string{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if endpoint := strings.TrimSpace(getenv(EnvS3Endpoint)); endpoint != "" {
		s.S3Endpoint = endpoint
	} else {
		srv, err := s3server.Start(ctx, cfg.S3Dir, log)
		if err != nil {
			return nil, fmt.Errorf("start the embedded S3 server: %w", err)
		}
		s.closers = append(s.closers, func() { srv.Close() })
		s.EmbeddedS3 = true
		s.S3Endpoint = srv.Endpoint
		s.overlay[EnvS3Endpoint] = srv.Endpoint
		s.overlay[envAccessKey] = srv.AccessKey
		s.overlay[envSecretKey] = srv.SecretKey
		s.overlay[envSession] = ""
		s.overlay[envRegion] = srv.Region
		for name, v := range embeddedS3Defaults(getenv) {
			s.overlay[name] = v.value
			s.Notes = append(s.Notes, v.why)
			fmt.Fprintf(log, "local: %s\n", v.why)
		}
	}
	s.S3, err = NewS3Client(ctx, s.Getenv)
	if err != nil {
		return nil, err
	}
	if s.EmbeddedS3 {
		for _, b := range cfg.Buckets {
			if err := EnsureBucket(ctx, s.S3, b); err != nil {
				return nil, err
			}
		}
	}

	if strings.TrimSpace(getenv(EnvDatabaseURL)) == "" {
		pg, err := StartPGlite(ctx, cfg.RepoRoot, cfg.DBDir, log)
		if err != nil {
			return nil, fmt.Errorf("start the embedded Postgres (PGlite): %w", err)
		}
		s.closers = append(s.closers, func() { pg.Close() })
		s.EmbeddedDB = true
		s.overlay[EnvDatabaseURL] = pg.URL
		// PGlite has one session: one pooled connection (request-status's
		// own setting, which overrides the URL's pool_max_conns).
		s.overlay[envMaxConns] = fmt.Sprint(PGlitePoolMaxConns)
	}
	s.DB, err = NewPool(ctx, s.Getenv)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.DB.Close)
	if err := requeststatus.ApplySchema(ctx, s.DB); err != nil {
		return nil, fmt.Errorf("apply the request_status schema: %w", err)
	}
	return s, nil
}

type envDefault struct{ value, why string }

// embeddedS3Defaults returns the variables the Lambdas get when the runner
// starts its own S3 server and getenv leaves them unset, each with the
// reason. versitygw v1.8.0 records the whole source's checksum for each part
// UploadPartCopy copies, so a multipart copy asking for the source's
// full-object checksum fails with BadDigest there (copyfile.Config's
// MultipartChecksum, TestMultipartChecksumRefusedByServer):
// MULTIPART_CHECKSUM=off unless set.
func embeddedS3Defaults(getenv func(string) string) map[string]envDefault {
	out := map[string]envDefault{}
	if strings.TrimSpace(getenv(copyfile.EnvMultipartChecksum)) == "" {
		out[copyfile.EnvMultipartChecksum] = envDefault{
			value: copyfile.ChecksumOff,
			why: fmt.Sprintf("%s=%s for copy-file: the embedded S3 server (versitygw) computes copied parts' checksums wrongly; set %s to override",
				copyfile.EnvMultipartChecksum, copyfile.ChecksumOff, copyfile.EnvMultipartChecksum),
		}
	}
	return out
}

// NewPool builds a pgx pool with request-status's own code
// (requeststatus.NewPoolFromEnv: DATABASE_URL, DATABASE_MAX_CONNS, ...).
func NewPool(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	if strings.TrimSpace(getenv(EnvDatabaseURL)) == "" {
		return nil, &ConfigError{fmt.Errorf("%s is empty: the local runner needs a connection string", EnvDatabaseURL)}
	}
	pool, err := requeststatus.NewPoolFromEnv(ctx, getenv)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return pool, nil
}

// AWSConfig loads the AWS configuration from getenv's environment: region
// and credentials as the SDK reads them from the process environment
// (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_MAX_ATTEMPTS; else the SDK's default chain).
func AWSConfig(ctx context.Context, getenv func(string) string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if r := getenv(envRegion); r != "" {
		opts = append(opts, awsconfig.WithRegion(r))
	} else if r := getenv("AWS_DEFAULT_REGION"); r != "" {
		opts = append(opts, awsconfig.WithRegion(r))
	} else {
		opts = append(opts, awsconfig.WithRegion("us-east-1"))
	}
	if id, secret := getenv(envAccessKey), getenv(envSecretKey); id != "" && secret != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(id, secret, getenv(envSession))))
	}
	if v := strings.TrimSpace(getenv("AWS_MAX_ATTEMPTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return aws.Config{}, &ConfigError{fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a whole number >= 1", v)}
		}
		opts = append(opts, awsconfig.WithRetryMaxAttempts(n))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, &ConfigError{fmt.Errorf("AWS configuration: %w", err)}
	}
	return cfg, nil
}

// NewS3Client returns an S3 client for getenv's environment, pointed at its
// endpoint as copy-file's is (copyfile.S3ClientOptions:
// AWS_ENDPOINT_URL_S3, path-style unless S3_FORCE_PATH_STYLE says
// otherwise).
func NewS3Client(ctx context.Context, getenv func(string) string) (*s3.Client, error) {
	opt, err := copyfile.S3ClientOptions(getenv)
	if err != nil {
		return nil, &ConfigError{err}
	}
	cfg, err := AWSConfig(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, opt), nil
}

// EnsureBucket creates the bucket unless it exists.
func EnsureBucket(ctx context.Context, c *s3.Client, name string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	return fmt.Errorf("create bucket %s on the embedded S3 server: %w", name, err)
}
