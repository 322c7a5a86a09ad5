package localrun

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// seedSmallSize is the size of a seeded object whose event gives none.
const seedSmallSize = 4096

func init() {
	registerCommand(command{
		name:  "seed",
		usage: "--events FILE [flags]   put a restored object and an open job for every file the events name (then `run`/`load` them)",
		setup: func(fs *flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error) {
			events := fs.String("events", "", `events file: one event (as run --event reads it) or one event per line (as load --events reads them); "-" reads stdin`)
			archive := fs.String("archive-bucket", "", "archive_bucket_dest of the seeded jobs (default: ARCHIVE_BUCKETS' first entry, else cdk.json's first archiveBuckets entry, else "+demoArchiveBucket+")")
			return func(ctx context.Context, c *CLI, common *commonFlags) (int, error) {
				if *events == "" {
					return 0, &localservices.ConfigError{Err: errors.New("seed needs --events FILE")}
				}
				return c.seed(ctx, common, *events, *archive)
			}
		},
	})
}

// SeedSummary is what Seed did.
type SeedSummary struct {
	Files, ObjectsPut, JobsInserted int
	// Warnings name the files whose event pins an ETag or version the
	// seeded object does not have: copy-file will refuse to copy them, as
	// it refuses an object changed since its restore event.
	Warnings []string
}

// seed is `go run ./cmd/local seed`: the events' files seeded on the
// services `run` and `load` use (same environment, same data directories).
func (c *CLI) seed(ctx context.Context, f *commonFlags, eventsFile, archive string) (int, error) {
	root, err := c.repoRoot(f.repo)
	if err != nil {
		return 0, err
	}
	events, err := c.readEventsFile(eventsFile)
	if err != nil {
		return 0, err
	}
	files, err := parseEventFiles(eventsFile, events)
	if err != nil {
		return 0, err
	}
	buckets, err := cdkBuckets(root)
	if err != nil {
		return 0, err
	}
	if archive == "" {
		archive = defaultArchiveBucket(root, c.Getenv)
	}
	s, closeAll, err := c.seedServices(ctx, root, f, append(buckets, demoRestoreBucket, demoArchiveBucket, archive))
	if err != nil {
		return 0, err
	}
	defer closeAll()
	var all []contract.File
	for _, fs := range files {
		all = append(all, fs...)
	}
	sum, err := Seed(ctx, s, all, archive)
	if err != nil {
		return 0, err
	}
	for _, w := range sum.Warnings {
		fmt.Fprintf(c.Stderr, "local: seed: warning: %s\n", w)
	}
	fmt.Fprintf(c.Stdout, "seeded %d files of %d events: %d restored objects put (the others were there), %d open jobs inserted (the others had one), archive bucket %s\n",
		sum.Files, len(events), sum.ObjectsPut, sum.JobsInserted, archive)
	return ExitSucceeded, nil
}

// seedServices starts the services as `run` does: from the environment, or
// embedded with the same data directories (--data-dir, --db-dir, defaults
// under <repo>/.local).
func (c *CLI) seedServices(ctx context.Context, root string, f *commonFlags, buckets []string) (*localservices.Services, func(), error) {
	if err := c.ensureNodeModules(ctx, root); err != nil {
		return nil, nil, err
	}
	_, logw, closeLog, err := c.openLog(root, f)
	if err != nil {
		return nil, nil, err
	}
	dataDir, dbDir := f.dataDir, f.dbDir
	if dataDir == "" {
		dataDir = filepath.Join(root, ".local", "s3")
	}
	if dbDir == "" {
		dbDir = filepath.Join(root, ".local", "pglite")
	}
	fmt.Fprintln(c.Stderr, "local: starting services...")
	s, err := localservices.StartServices(ctx, localservices.ServicesConfig{RepoRoot: root, Getenv: c.Getenv, S3Dir: dataDir, DBDir: dbDir, Buckets: buckets, Log: logw})
	if err != nil {
		closeLog()
		return nil, nil, err
	}
	return s, func() { s.Close(); closeLog() }, nil
}

// defaultArchiveBucket is an archive bucket copy-file accepts and `run`
// creates: ARCHIVE_BUCKETS' first entry when set, else cdk.json's first
// archiveBuckets entry, else the demonstration's.
func defaultArchiveBucket(root string, getenv func(string) string) string {
	if list := copyfile.ParseList(getenv(copyfile.EnvArchiveBuckets)); len(list) > 0 {
		return list[0]
	}
	_, archive, err := cdkContextBuckets(root)
	if err != nil || len(archive) == 0 {
		return demoArchiveBucket
	}
	return archive[0]
}

// Seed puts a restored object in its restore bucket for each file (of the
// event's size, or a small one when the event gives none) unless an object
// of that size is there, and gives each file an open job in request_status
// pointing at archive (requeststatus.Table.EnsureOpen). Seeding twice changes nothing.
func Seed(ctx context.Context, s *localservices.Services, files []contract.File, archive string) (SeedSummary, error) {
	sum := SeedSummary{Files: len(files)}
	made := map[string]bool{}
	for _, f := range files {
		if s.EmbeddedS3 && !made[f.SourceBucket] {
			if err := localservices.EnsureBucket(ctx, s.S3, f.SourceBucket); err != nil {
				return sum, err
			}
			made[f.SourceBucket] = true
		}
		put, etag, err := putRestored(ctx, s.S3, f)
		if err != nil {
			return sum, err
		}
		if w := pinWarning(f, etag); w != "" {
			sum.Warnings = append(sum.Warnings, w)
		}
		if put {
			sum.ObjectsPut++
		}
		_, inserted, err := requeststatus.NewTable(s.DB).EnsureOpen(ctx, requeststatus.Row{
			GranuleID: "seeded", ObjectKey: f.SourceKey, RestoreBucketDest: f.SourceBucket, ArchiveBucketDest: archive,
		})
		if err != nil {
			return sum, fmt.Errorf("seed: %w", err)
		}
		if inserted {
			sum.JobsInserted++
		}
	}
	return sum, nil
}

// pinWarning says why copy-file will refuse f's seeded object (its ETag is
// etag), or returns "".
func pinWarning(f contract.File, etag string) string {
	switch {
	case f.VersionID != "":
		return fmt.Sprintf("s3://%s/%s: the event names version %s, which the seeded object cannot have: copy-file will not find it (remove version_id / versionId from the event)",
			f.SourceBucket, f.SourceKey, f.VersionID)
	case f.ETag != "" && strings.Trim(f.ETag, `"`) != strings.Trim(etag, `"`):
		return fmt.Sprintf("s3://%s/%s: the event names ETag %s, the seeded object has %s: copy-file will refuse it as changed since the restore (put that ETag in the event, or remove it)",
			f.SourceBucket, f.SourceKey, f.ETag, etag)
	}
	return ""
}

// putRestored puts f's object unless one of its size is already there, and
// returns whether it put one and the object's ETag.
func putRestored(ctx context.Context, c *s3.Client, f contract.File) (bool, string, error) {
	size := f.Size
	if size <= 0 {
		size = seedSmallSize
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.SourceBucket), Key: aws.String(f.SourceKey)})
	if err == nil && aws.ToInt64(head.ContentLength) == size {
		return false, aws.ToString(head.ETag), nil
	}
	out, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(f.SourceBucket),
		Key:           aws.String(f.SourceKey),
		Body:          newPatternBody(f.SourceKey, size),
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
	})
	if err != nil {
		return false, "", fmt.Errorf("seed: put s3://%s/%s (%d bytes): %w", f.SourceBucket, f.SourceKey, size, err)
	}
	return true, aws.ToString(out.ETag), nil
}

// patternBody is size bytes repeating a line naming the key: seekable (the
// SDK signs and checksums the body) without holding it in memory.
type patternBody struct {
	line      []byte
	size, off int64
}

func newPatternBody(key string, size int64) *patternBody {
	return &patternBody{line: []byte(fmt.Sprintf("restored file %q (seeded by the local runner)\n", key)), size: size}
}

func (p *patternBody) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.off < p.size {
		b[n] = p.line[p.off%int64(len(p.line))]
		n++
		p.off++
	}
	return n, nil
}

func (p *patternBody) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.size
	}
	if offset < 0 {
		return 0, errors.New("pattern body: negative position")
	}
	p.off = offset
	return offset, nil
}

var _ io.ReadSeeker = (*patternBody)(nil)
