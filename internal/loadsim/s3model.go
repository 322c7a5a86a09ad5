package loadsim

import (
	"slices"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// modelSmallSize is the size of a file the model holds when its event gives
// none (seed's default too).
const modelSmallSize = 4096

// startModel starts the S3 model (LoadConfig.S3Model) with its buckets
// (LoadConfig.Buckets and ARCHIVE_BUCKETS; the events' restore buckets come
// with their files, seedModel) and returns the environment that points the
// services and the Lambdas at it: its endpoint, any static credentials (it
// checks no signature), the region its HeadBucket names.
func (l *Load) startModel() (func(string) string, error) {
	p := s3model.DefaultParams() // time scale 1: S3's latency in real time
	m, err := s3model.Start(p)
	if err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	l.model = m
	l.closers = append(l.closers, func() { _ = m.Close() })
	base := l.cfg.Getenv
	// The buckets the run names and those copy-file may copy to.
	for _, b := range slices.Concat(l.cfg.Buckets, copyfile.ParseList(base(copyfile.EnvArchiveBuckets))) {
		m.CreateBucket(b)
	}
	overlay := map[string]string{
		localservices.EnvS3Endpoint: m.URL,
		"AWS_ACCESS_KEY_ID":         "model",
		"AWS_SECRET_ACCESS_KEY":     "model",
		"AWS_SESSION_TOKEN":         "",
		"AWS_REGION":                "us-east-1",
	}
	return func(name string) string {
		if v, ok := overlay[name]; ok {
			return v
		}
		return base(name)
	}, nil
}

// seedModel puts every file of the events in the model (nothing without
// one) and forgets the requests counted so far, so that the report counts
// the run's alone.
func (l *Load) seedModel(events [][]byte) {
	if l.model == nil {
		return
	}
	for _, ev := range events {
		files, err := parseevent.ParseEvent(ev)
		if err != nil {
			continue // the run reports the event parse-event refuses
		}
		for _, f := range files {
			size := f.Size
			if size <= 0 {
				size = modelSmallSize
			}
			l.model.PutObjectETag(f.SourceBucket, f.SourceKey, size, f.ETag)
		}
	}
	l.model.ResetStats()
}

// s3Backend names the S3 peer for the report (LoadReport.S3).
func (l *Load) s3Backend() string {
	if l.model != nil {
		return "model"
	}
	return "endpoint"
}
