package copyfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// The resume behaviours resume_test.go proves on the in-memory fake, here
// against a real S3 server (versitygw; moto's under S3_TEST_BACKEND=moto),
// through the Lambda's entry point: CopyHandler.Invoke with the JSON the
// workflow sends, each pass's request built from the previous pass's
// outcome as the definition's "Copy file" Parameters build it.

// resumeRig is an S3 server behind a fault proxy that counts part copies
// and ListParts requests and can hold part copies from gateFrom on.
type resumeRig struct {
	e        *s3env
	proxy    *faultproxy.Proxy
	gateOpen atomic.Bool
	parts    *faultproxy.Rule // part copies forwarded to the server
	lists    *faultproxy.Rule // ListParts requests forwarded
	env      map[string]string
}

// isListParts matches ListParts: GET on an object with uploadId.
func isListParts(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Has("uploadId")
}

// newResumeRig starts the proxy. While the gate is closed, a copy of part
// gateFrom or later is held (never forwarded) until the copier gives up on
// it at its copy deadline; gateFrom 0 holds nothing.
func newResumeRig(t *testing.T, gateFrom int) *resumeRig {
	t.Helper()
	r := &resumeRig{e: newS3Env(t)}
	gate := &faultproxy.Rule{Match: func(req *http.Request) bool {
		n, err := strconv.Atoi(req.URL.Query().Get("partNumber"))
		return gateFrom > 0 && !r.gateOpen.Load() && faultproxy.IsUploadPartCopy(req) && err == nil && n >= gateFrom
	}, Delay: time.Hour}
	r.parts = &faultproxy.Rule{Match: faultproxy.IsUploadPartCopy}
	r.lists = &faultproxy.Rule{Match: isListParts}
	p, err := faultproxy.New(r.e.srv.Endpoint, gate, r.parts, r.lists)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r.proxy = p
	// 5 MiB parts, 2 at a time, the smallest deadline margin (5 s).
	r.env = map[string]string{copyfile.EnvDeadlineMarginSecs: "5", copyfile.EnvMultipartConcurrency: "2"}
	for k, v := range multipartEnv {
		if _, set := r.env[k]; !set {
			r.env[k] = v
		}
	}
	return r
}

// handler returns a copy handler whose S3 client goes through the proxy,
// with opts applied to the client.
func (r *resumeRig) handler(t *testing.T, opts ...func(*s3.Options)) *copyfile.CopyHandler {
	t.Helper()
	client := s3.New(r.e.srv.ClientFor(r.proxy.URL).Options(), opts...)
	copier := copyfile.NewArchiveCopier(client, configFromEnv(t, r.env))
	copier.Logger = slog.New(slog.DiscardHandler)
	return &copyfile.CopyHandler{Copier: copier, Logger: slog.New(slog.DiscardHandler)}
}

// pass is one invocation's request and answer, as JSON objects.
type pass struct {
	out map[string]any
	err error
}

// invoke sends req (a "Copy file" input) to h as the Lambda runtime would.
func invoke(t *testing.T, ctx context.Context, h *copyfile.CopyHandler, req map[string]any) pass {
	t.Helper()
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.Invoke(ctx, payload)
	if err != nil {
		return pass{err: err}
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("outcome %s: %v", raw, err)
	}
	return pass{out: out}
}

// firstRequest is the first pass's input for key: the Map's ItemSelector
// starts the copy state empty.
func firstRequest(key string) map[string]any {
	return map[string]any{
		"source_bucket": "restore", "source_key": key, "target_bucket": "archive",
		"upload_id": "", "source_etag": "", "source_version_id": "", "part_size": 0,
		"passes": 0, "elapsed_ms": 0,
	}
}

// nextRequest is the next pass's input: the first request with the copy
// state ($.copy) of the previous outcome, as "Copy file" passes it.
func nextRequest(first map[string]any, prev map[string]any) map[string]any {
	next := map[string]any{}
	for k, v := range first {
		next[k] = v
	}
	for _, k := range []string{"upload_id", "source_etag", "source_version_id", "part_size", "passes", "elapsed_ms"} {
		next[k] = prev[k]
	}
	return next
}

func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}

// pausedFirstPass puts data under key and runs a first pass that copies
// parts 1 to gateFrom-1 and pauses: the gate holds the other parts until
// the copy deadline (4 s after the 5 s margin), whatever the machine's
// speed. It returns the first pass's outcome.
func (r *resumeRig) pausedFirstPass(t *testing.T, key string, data []byte, gateFrom int) map[string]any {
	t.Helper()
	r.e.put(t, source{key: key, data: data, contentType: "application/x-hdf5"})
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
	defer cancel()
	p := invoke(t, ctx, r.handler(t), firstRequest(key))
	if p.err != nil {
		t.Fatalf("first pass: %v", p.err)
	}
	if p.out["complete"] != false || num(p.out, "parts_done") != int64(gateFrom-1) || p.out["upload_id"] == "" || p.out["source_etag"] == "" {
		t.Fatalf("first pass = %v, want paused after parts 1 to %d with a resume token", p.out, gateFrom-1)
	}
	return p.out
}

// listPartsOf returns the ListParts requests forwarded for uploadID.
func (r *resumeRig) listPartsOf(uploadID string) []faultproxy.Request {
	var out []faultproxy.Request
	for _, req := range r.lists.Requests() {
		if req.Query.Get("uploadId") == uploadID {
			out = append(out, req)
		}
	}
	return out
}

// uploadGone reports whether ListParts of uploadID answers NoSuchUpload.
func (r *resumeRig) uploadGone(t *testing.T, key, uploadID string) bool {
	t.Helper()
	_, err := r.e.client.ListParts(context.Background(), &s3.ListPartsInput{
		Bucket: aws.String("archive"), Key: aws.String(key), UploadId: aws.String(uploadID)})
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload"
}

func (r *resumeRig) checkCopied(t *testing.T, key string, want []byte) {
	t.Helper()
	if _, got := r.e.state(t, "archive", key); !bytes.Equal(got, want) {
		t.Errorf("archive copy (%d bytes) differs from the source (%d bytes)", len(got), len(want))
	}
	if ups := r.e.openUploads(t); len(ups) != 0 {
		t.Errorf("%d multipart uploads left open", len(ups))
	}
}

// A resume token naming an upload the server no longer has (aborted, e.g.
// by the bucket's lifecycle rule): ListParts answers NoSuchUpload, and the
// copy starts a new upload and completes.
func TestResumeOnS3ServerUploadGone(t *testing.T) {
	r := newResumeRig(t, 0)
	key := "granules/upload gone.h5"
	data := randomBytes(t, 28<<20) // 6 parts of at most 5 MiB
	r.e.put(t, source{key: key, data: data, contentType: "application/x-hdf5"})
	ctx := context.Background()
	up, err := r.e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("archive"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	gone := aws.ToString(up.UploadId)
	if _, err := r.e.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("archive"), Key: aws.String(key), UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	head, err := r.e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("restore"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}

	req := firstRequest(key)
	req["upload_id"], req["source_etag"], req["part_size"], req["passes"] = gone, aws.ToString(head.ETag), 5<<20, 1
	p := invoke(t, ctx, r.handler(t), req)
	if p.err != nil {
		t.Fatalf("resume of a gone upload: %v", p.err)
	}
	if p.out["complete"] != true || num(p.out, "parts_done") != 6 {
		t.Errorf("outcome = %v, want complete with 6 parts", p.out)
	}
	if n := len(r.listPartsOf(gone)); n == 0 {
		t.Errorf("no ListParts of the gone upload %s: the copy did not try to resume it", gone)
	}
	if n := r.parts.Hits(); n != 6 {
		t.Errorf("%d part copies forwarded, want all 6 parts copied into the new upload", n)
	}
	r.checkCopied(t, key, data)
}

// The source is replaced between two passes: the second pass sees another
// ETag than its token's, aborts the paused upload (its parts are of the old
// object) and copies the new source whole.
func TestResumeOnS3ServerSourceChanged(t *testing.T) {
	r := newResumeRig(t, 4)
	key := "granules/changed between passes.h5"
	first := r.pausedFirstPass(t, key, randomBytes(t, 40<<20), 4)
	oldUpload := first["upload_id"].(string)

	replaced := randomBytes(t, 40<<20)
	r.e.put(t, source{key: key, data: replaced, contentType: "application/x-hdf5"})
	r.gateOpen.Store(true)
	before := r.parts.Hits()
	p := invoke(t, context.Background(), r.handler(t), nextRequest(firstRequest(key), first))
	if p.err != nil {
		t.Fatalf("second pass: %v", p.err)
	}
	if p.out["complete"] != true || num(p.out, "parts_done") != 8 {
		t.Errorf("second pass = %v, want complete with 8 parts", p.out)
	}
	if p.out["source_etag"] == first["source_etag"] && p.out["source_etag"] != "" {
		t.Errorf("second pass reports the old source ETag %v", p.out["source_etag"])
	}
	if n := r.parts.Hits() - before; n != 8 {
		t.Errorf("second pass forwarded %d part copies, want all 8 of the new source", n)
	}
	if !r.uploadGone(t, key, oldUpload) {
		t.Errorf("the paused upload %s of the old source is still there", oldUpload)
	}
	r.checkCopied(t, key, replaced)
}

// maxPartsPerPage makes every ListParts ask for n parts a page, so a
// resume of a few parts reads them over several pages, as one of more than
// 1,000 parts would with S3's default page.
func maxPartsPerPage(n int32) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("MaxPartsPerPage",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if lp, ok := in.Parameters.(*s3.ListPartsInput); ok && lp.MaxParts == nil {
						cp := *lp
						cp.MaxParts = aws.Int32(n)
						in.Parameters = &cp
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		})
	}
}

// The second pass reads the paused upload's parts over several ListParts
// pages (one part a page): it must follow every page, so that it copies
// only the parts missing, and completes.
func TestResumeOnS3ServerListsPartsOverPages(t *testing.T) {
	r := newResumeRig(t, 4)
	key := "granules/many pages.h5"
	data := randomBytes(t, 40<<20)
	first := r.pausedFirstPass(t, key, data, 4)
	upload := first["upload_id"].(string)

	r.gateOpen.Store(true)
	before := r.parts.Hits()
	p := invoke(t, context.Background(), r.handler(t, maxPartsPerPage(1)), nextRequest(firstRequest(key), first))
	if p.err != nil {
		t.Fatalf("second pass: %v", p.err)
	}
	if p.out["complete"] != true || num(p.out, "parts_done") != 8 {
		t.Errorf("second pass = %v, want complete with 8 parts", p.out)
	}
	pages := r.listPartsOf(upload)
	if len(pages) < 3 {
		t.Errorf("ListParts of the paused upload read %d pages, want at least 3 (3 parts, one a page)", len(pages))
	}
	for i, pg := range pages {
		if got := pg.Query.Get("max-parts"); got != "1" {
			t.Errorf("ListParts page %d asked max-parts=%q, want 1", i+1, got)
		}
		if i > 0 && pg.Query.Get("part-number-marker") == "" {
			t.Errorf("ListParts page %d has no part-number-marker: it read the first page again", i+1)
		}
	}
	if n := r.parts.Hits() - before; n != 5 {
		t.Errorf("second pass forwarded %d part copies, want only the 5 missing (parts 4 to 8)", n)
	}
	r.checkCopied(t, key, data)
}

// A copy told time_budget_secs (the Express lane's) on a real S3 server:
// parts from 4 on are held by the server, and the Lambda has no deadline,
// so only the budget can end the pass. It returns complete false with its
// resume token (parts 1 to 3 copied), and the next pass, without a budget
// and with the server no longer holding parts, resumes the token and
// completes. The watchdog only keeps a budget that is not kept from
// hanging the test for the gate's hour.
func TestTimeBudgetOnS3ServerPausesThenResumes(t *testing.T) {
	r := newResumeRig(t, 4)
	key := "granules/within budget.h5"
	data := randomBytes(t, 40<<20) // 8 parts of 5 MiB
	r.e.put(t, source{key: key, data: data, contentType: "application/x-hdf5"})
	first := firstRequest(key)
	// 9 s: parts stop at 9 - min(5, 9/3) = 6 s after the start.
	first["time_budget_secs"] = 9

	// A context without a deadline, cancelled only by the watchdog.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan pass, 1)
	go func() { done <- invoke(t, ctx, r.handler(t), first) }()
	var p pass
	select {
	case p = <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
		t.Fatal("the pass was still running a minute after its 9 s budget")
	}
	if p.err != nil {
		t.Fatalf("first pass: %v", p.err)
	}
	if p.out["complete"] != false || num(p.out, "parts_done") != 3 || p.out["upload_id"] == "" || p.out["source_etag"] == "" {
		t.Fatalf("first pass = %v, want paused after parts 1 to 3 with a resume token", p.out)
	}

	r.gateOpen.Store(true)
	next := nextRequest(firstRequest(key), p.out)
	second := invoke(t, context.Background(), r.handler(t), next)
	if second.err != nil {
		t.Fatalf("second pass: %v", second.err)
	}
	if second.out["complete"] != true || num(second.out, "parts_done") != 8 || num(second.out, "passes") != 2 {
		t.Errorf("second pass = %v, want complete with 8 parts in 2 passes", second.out)
	}
	r.checkCopied(t, key, data)
}
