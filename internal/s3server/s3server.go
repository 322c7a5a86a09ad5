// Package s3server starts a real S3-compatible server (versitygw on a POSIX
// directory, listening on loopback only) for tests and the local runner, so
// the copy path talks to a real protocol peer instead of a mock.
package s3server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// Version is the versitygw release this package builds and runs.
const Version = "v1.8.0"

// Module is the Go package installed to get the server binary.
const Module = "github.com/versity/versitygw/cmd/versitygw"

// BinEnv names the environment variable that, when set, points to a
// versitygw binary to use instead of building one.
const BinEnv = "VERSITYGW_BIN"

// region is the region the server signs for.
const region = "us-east-1"

// newRootKeys returns fresh credentials for a server's root account. They
// guard nothing (the server listens on 127.0.0.1 only) and are not secrets;
// they are random so that each server accepts only its own clients, and a
// different server answering on a port one of ours failed to bind refuses
// them (see waitReady).
func newRootKeys() (access, secret string) {
	return "cfa" + strings.ToLower(rand.Text())[:17], rand.Text() + rand.Text()
}

// Server is a running S3-compatible server.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint string
	// AccessKey and SecretKey are the root account's credentials, random
	// for each server.
	AccessKey, SecretKey string
	// Region is the region the server signs for.
	Region string
	// Dir is the directory holding the buckets (one subdirectory each);
	// empty for moto, which keeps them in memory.
	Dir string
	// Backend is BackendVersityGW or BackendMoto.
	Backend string

	proc *childproc.Process
	stop func() // stops a server not started as proc (moto)
}

// The S3 servers this package starts.
const (
	// BackendVersityGW is versitygw on a POSIX directory: CopyObject,
	// UploadPartCopy, metadata, odd keys; no storage classes.
	BackendVersityGW = "versitygw"
	// BackendMoto is moto's server: storage classes (GLACIER,
	// DEEP_ARCHIVE), RestoreObject, versioning; no per-part checksums
	// from UploadPartCopy.
	BackendMoto = "moto"
)

// Options change how the server runs.
type Options struct {
	// Versioning gives the server a versioning directory (versitygw's
	// posix --versioning-dir, next to dataDir), so buckets can have
	// versioning enabled with PutBucketVersioning.
	Versioning bool
}

// Start builds the server binary if needed (see Binary), starts it on a free
// loopback port serving buckets from dataDir, and waits until it answers.
// The server's output goes to log (nil discards it). Close stops it.
func Start(ctx context.Context, dataDir string, log io.Writer) (*Server, error) {
	return StartWithOptions(ctx, dataDir, log, Options{})
}

// StartWithOptions is Start with opts.
func StartWithOptions(ctx context.Context, dataDir string, log io.Writer, opts Options) (*Server, error) {
	bin, err := Binary(ctx, log)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("s3server: data dir: %w", err)
	}
	dataDir, err = filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("s3server: data dir: %w", err)
	}
	var posixArgs []string
	if opts.Versioning {
		// Outside dataDir: each of its subdirectories is a bucket.
		versions := filepath.Clean(dataDir) + ".versions"
		if err := os.MkdirAll(versions, 0o755); err != nil {
			return nil, fmt.Errorf("s3server: versioning dir: %w", err)
		}
		posixArgs = append(posixArgs, "--versioning-dir", versions)
	}
	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few times.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(ctx, bin, dataDir, posixArgs, log)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, dataDir string, posixArgs []string, log io.Writer) (*Server, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("s3server: find a free port: %w", err)
	}
	tail := &childproc.Output{Max: 8 << 10}
	accessKey, secretKey := newRootKeys()
	args := append([]string{"--port", addr, "--region", region, "--keep-alive", "posix"}, posixArgs...)
	cmd := exec.Command(bin, append(args, dataDir)...)
	cmd.Env = append(filteredEnv(),
		"ROOT_ACCESS_KEY="+accessKey,
		"ROOT_SECRET_KEY="+secretKey,
	)
	// One writer for both streams: exec then copies them in one goroutine,
	// so log is never written to at once.
	out := io.MultiWriter(log, tail)
	cmd.Stdout = out
	cmd.Stderr = out
	proc, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("s3server: start %s: %w", bin, err)
	}
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: accessKey,
		SecretKey: secretKey,
		Region:    region,
		Dir:       dataDir,
		Backend:   BackendVersityGW,
		proc:      proc,
	}
	if err := s.waitReady(ctx, 30*time.Second); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("%w; server output:\n%s", err, tail.String())
	}
	return s, nil
}

// waitReady polls the endpoint until this server answers: a ListBuckets
// signed with its own random root keys must succeed and name its access key
// as the owner (versitygw answers with the caller's account), and its process
// must still be running afterwards. Any other answer does not count: if
// another process took the port, ours fails to bind and exits while the
// other one refuses our keys (or is no S3 server at all), and Start tries
// another port.
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
		o.Retryer = aws.NopRetryer{}
		o.HTTPClient = &http.Client{Timeout: time.Second}
	})
	var last error
	for {
		out, err := client.ListBuckets(ctx, &s3.ListBucketsInput{})
		switch {
		case err != nil && last != nil && !answered(err):
			// No answer this time (a timeout, on a loaded machine): an
			// earlier answer says more about who is listening.
		case err != nil:
			last = err
		case out.Owner == nil || aws.ToString(out.Owner.ID) != s.AccessKey:
			owner := "none"
			if out.Owner != nil {
				owner = fmt.Sprintf("%q", aws.ToString(out.Owner.ID))
			}
			last = fmt.Errorf("ListBuckets answered with owner %s, not this server's account", owner)
		default:
			select {
			case <-s.proc.Exited():
				return fmt.Errorf("s3server: versitygw exited (%v) although %s answered: another process holds the port", s.proc.Err(), s.Endpoint)
			default:
				return nil
			}
		}
		select {
		case <-s.proc.Exited():
			return fmt.Errorf("s3server: versitygw exited before answering (%v); last probe of %s: %v", s.proc.Err(), s.Endpoint, last)
		case <-ctx.Done():
			return fmt.Errorf("s3server: versitygw did not answer on %s: %w; last probe: %v", s.Endpoint, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// answered reports whether a failed probe got an HTTP answer.
func answered(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() != 0
}

// Close stops the server and its process group (childproc's Stop: SIGTERM,
// then SIGKILL after five seconds). It is safe to call more than once, and
// returns nil.
func (s *Server) Close() error {
	if s.stop != nil {
		s.stop()
		return nil
	}
	s.proc.Stop()
	return nil
}

// Client returns an S3 client for the server: path-style addressing, static
// credentials, nothing read from the environment or ~/.aws.
func (s *Server) Client(ctx context.Context) (*s3.Client, error) {
	return s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	}), nil
}

// ClientFor is Client with another endpoint (e.g. a fault proxy in front of
// the server) and the same credentials.
func (s *Server) ClientFor(endpoint string) *s3.Client {
	return s3.NewFromConfig(s.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// AWSConfig returns an aws.Config with the server's region and credentials.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:      s.Region,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	}
}

// CreateBucket creates a bucket on the server.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("s3server: create bucket %s: %w", name, err)
	}
	return nil
}

// EnableVersioning turns versioning on for a bucket (the server must run
// with Options.Versioning).
func (s *Server) EnableVersioning(ctx context.Context, bucket string) error {
	c, err := s.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("s3server: enable versioning on %s: %w", bucket, err)
	}
	return nil
}

// freeLoopbackAddr returns 127.0.0.1:<port> for a port that was free a
// moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// filteredEnv is the test process's environment without the variables that
// would change the server's behaviour behind our back.
func filteredEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "VGW_") || strings.HasPrefix(name, "ROOT_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

var errNoGo = errors.New("s3server: the go command is needed to build versitygw")
