package copyfile

import (
	"sync"
	"time"
)

// LogCopyProgress is the message of the line a multipart copy logs every
// Config.ProgressInterval.
const LogCopyProgress = "multipart copy progress"

// partCount is a number of parts and their bytes.
type partCount struct {
	parts int
	bytes int64
}

// copyProgress counts the parts and bytes a multipart copy has copied in this
// invocation, for its progress lines.
type copyProgress struct {
	mu    sync.Mutex
	parts int
	bytes int64
}

func (p *copyProgress) add(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.parts++
	p.bytes += n
	p.mu.Unlock()
}

func (p *copyProgress) read() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parts, p.bytes
}

// logProgress logs the parts and bytes done every Config.ProgressInterval
// until stop is called. The totals include earlier passes'; the rate is
// this pass's.
func (r *copyRun) logProgress(total, have partCount) (prog *copyProgress, stop func()) {
	ctx, c, uploadID := r.ctx, r.c, r.uploadID
	totalParts, totalBytes, haveParts, haveBytes := total.parts, total.bytes, have.parts, have.bytes
	every := r.Config.ProgressInterval
	if every <= 0 {
		every = DefaultProgressSecs * time.Second
	}
	prog = &copyProgress{}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := r.clock()
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				parts, bytes := prog.read()
				elapsed := r.clock().Sub(start)
				rate := 0.0
				if secs := elapsed.Seconds(); secs > 0 {
					rate = float64(bytes) / 1e6 / secs
				}
				doneBytes := haveBytes + bytes
				r.logger().InfoContext(ctx, LogCopyProgress,
					"source_bucket", c.SourceBucket, "source_key", c.SourceKey, "target_bucket", c.TargetBucket, "upload_id", uploadID,
					"parts_done", haveParts+parts, "parts_total", totalParts, "bytes_done", doneBytes, "bytes_total", totalBytes,
					"percent", float64(int(1000*float64(doneBytes)/float64(max(totalBytes, 1))))/10,
					"pass_seconds", int(elapsed.Seconds()), "pass_mb_per_s", float64(int(rate*10))/10)
			}
		}
	}()
	return prog, func() {
		select {
		case <-done:
		default:
			close(done)
			<-finished
		}
	}
}
