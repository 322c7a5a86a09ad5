package s3model

import (
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// S3's multipart limits, as the model enforces them.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000
)

// Server is the model, listening on loopback.
type Server struct {
	// URL is the endpoint, http://127.0.0.1:PORT (path-style addressing).
	URL string

	p    Params
	srv  *http.Server
	tls  *httptest.Server // with Params.TLS, instead of srv
	xfer *sharer

	mu       sync.Mutex
	buckets  map[string]map[string]*object
	uploads  map[string]*upload
	seq      int
	writes   map[string][]time.Time // per prefix, the last second's accepted writes (real time)
	inFlight int                    // part copies in flight
	done     int                    // part copies completed
	stats    Stats
}

type object struct {
	size        int64
	etag        string
	modified    time.Time
	contentType string
	metadata    map[string]string
}

type upload struct {
	bucket, key string
	contentType string
	metadata    map[string]string
	parts       map[int32]part
}

type part struct {
	size     int64
	etag     string
	modified time.Time
}

// Stats is what the model saw.
type Stats struct {
	// Requests counts the requests by operation (e.g. "UploadPartCopy"),
	// refused ones included.
	Requests map[string]int
	// SlowDowns counts the 503 SlowDown answers.
	SlowDowns int
	// MaxPartsInFlight is the most part copies in flight at once.
	MaxPartsInFlight int
	// PeakPrefixWrites is the most writes one prefix accepted within one
	// model second (counted when PrefixWriteRate is set).
	PeakPrefixWrites int
	// Parts lists every UploadPartCopy in order of arrival.
	Parts []PartArrival
}

// PartArrival is one UploadPartCopy as it arrived.
type PartArrival struct {
	// InFlight is the part copies in flight when it arrived, itself
	// included.
	InFlight int
	// DoneBefore is the part copies completed before it arrived.
	DoneBefore int
	// SlowDown says it was answered 503 SlowDown.
	SlowDown bool
}

// Start starts the model on a loopback port (HTTPS with Params.TLS).
func Start(p Params) (*Server, error) {
	s := &Server{
		p:       p,
		xfer:    newSharer(p),
		buckets: map[string]map[string]*object{},
		uploads: map[string]*upload{},
		writes:  map[string][]time.Time{},
		stats:   Stats{Requests: map[string]int{}},
	}
	if p.TLS {
		s.tls = httptest.NewUnstartedServer(s)
		s.tls.Config.ReadHeaderTimeout = 30 * time.Second
		s.tls.StartTLS()
		s.URL = s.tls.URL
		return s, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Certificate is the server's self-signed certificate with Params.TLS (nil
// without), for a client's root CAs.
func (s *Server) Certificate() *x509.Certificate {
	if s.tls == nil {
		return nil
	}
	return s.tls.Certificate()
}

// Close stops the server.
func (s *Server) Close() error {
	if s.tls != nil {
		s.tls.Close()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Params returns the model's parameters.
func (s *Server) Params() Params { return s.p }

// ModelTime converts a real duration measured against the model into model
// time.
func (s *Server) ModelTime(real time.Duration) time.Duration {
	return time.Duration(float64(real) * s.p.scale())
}

// CreateBucket makes an empty bucket (no-op if it exists).
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]*object{}
	}
}

// PutObject stores an object of size bytes (creating the bucket) and
// returns its ETag, quoted.
func (s *Server) PutObject(bucket, key string, size int64) string {
	return s.PutObjectETag(bucket, key, size, "")
}

// PutObjectETag is PutObject with the object's ETag given (quoted or
// bare), as a restore event names it, or a new one when etag is "". It
// takes no model time: it seeds the model, it is not a request.
func (s *Server) PutObjectETag(bucket, key string, size int64, etag string) string {
	s.CreateBucket(bucket)
	s.mu.Lock()
	defer s.mu.Unlock()
	if etag = strings.Trim(etag, `"`); etag != "" {
		etag = `"` + etag + `"`
	} else {
		etag = s.etag(bucket, key, fmt.Sprint(size))
	}
	o := &object{size: size, etag: etag, modified: time.Now().UTC(), contentType: "binary/octet-stream"}
	s.buckets[bucket][key] = o
	return o.etag
}

// ObjectSize returns the size of an object and whether it exists.
func (s *Server) ObjectSize(bucket, key string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.buckets[bucket][key]
	if !ok {
		return 0, false
	}
	return o.size, true
}

// Uploads returns how many multipart uploads are open.
func (s *Server) Uploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

// Stats returns a copy of what the model saw so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = map[string]int{}
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	st.Parts = append([]PartArrival(nil), s.stats.Parts...)
	return st
}

// ResetStats forgets what the model saw (objects and uploads stay).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Requests: map[string]int{}}
	s.done = 0
}

// etag returns a new quoted ETag; call with s.mu held.
func (s *Server) etag(parts ...string) string {
	s.seq++
	sum := md5.Sum([]byte(strings.Join(append(parts, strconv.Itoa(s.seq)), "\x00")))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// wait sleeps d of model time, or until ctx ends.
func (s *Server) wait(ctx context.Context, d time.Duration) error {
	return sleep(ctx, time.Duration(float64(d)/s.p.scale()))
}

// ServeHTTP routes a path-style S3 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySource := r.Header.Get("x-amz-copy-source")
	var op string
	switch {
	case bucket == "":
		op = "ListBuckets"
	case key == "" && r.Method == http.MethodHead:
		op = "HeadBucket"
	case key == "" && r.Method == http.MethodPut:
		op = "CreateBucket"
	case key == "":
		op = "Bucket" + r.Method
	case r.Method == http.MethodHead:
		op = "HeadObject"
	case r.Method == http.MethodGet && has("tagging"):
		op = "GetObjectTagging"
	case r.Method == http.MethodGet && has("uploadId"):
		op = "ListParts"
	case r.Method == http.MethodPut && has("uploadId") && copySource != "":
		op = "UploadPartCopy"
	case r.Method == http.MethodPut && has("uploadId"):
		op = "UploadPart"
	case r.Method == http.MethodPut && copySource != "":
		op = "CopyObject"
	case r.Method == http.MethodPut:
		op = "PutObject"
	case r.Method == http.MethodPost && has("uploads"):
		op = "CreateMultipartUpload"
	case r.Method == http.MethodPost && has("uploadId"):
		op = "CompleteMultipartUpload"
	case r.Method == http.MethodDelete && has("uploadId"):
		op = "AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		op = "DeleteObject"
	default:
		op = "Object" + r.Method
	}
	s.mu.Lock()
	s.stats.Requests[op]++
	s.mu.Unlock()

	if isWrite(r.Method) && !s.admitWrite(bucket, key) {
		s.slowDown(w, r)
		return
	}
	switch op {
	case "HeadBucket":
		s.headBucket(w, r, bucket)
	case "CreateBucket":
		s.CreateBucket(bucket)
		s.answer(w, r, http.StatusOK, nil)
	case "HeadObject":
		s.headObject(w, r, bucket, key)
	case "GetObjectTagging":
		s.getTagging(w, r, bucket, key)
	case "ListParts":
		s.listParts(w, r, bucket, key, q.Get("uploadId"))
	case "UploadPartCopy":
		s.uploadPartCopy(w, r, bucket, key, q.Get("uploadId"), q.Get("partNumber"), copySource)
	case "CopyObject":
		s.copyObject(w, r, bucket, key, copySource)
	case "PutObject":
		s.putObject(w, r, bucket, key)
	case "CreateMultipartUpload":
		s.createUpload(w, r, bucket, key)
	case "CompleteMultipartUpload":
		s.completeUpload(w, r, bucket, key, q.Get("uploadId"))
	case "AbortMultipartUpload":
		s.abortUpload(w, r, q.Get("uploadId"))
	case "DeleteObject":
		s.deleteObject(w, r, bucket, key)
	default:
		s.fail(w, r, http.StatusNotImplemented, "NotImplemented", op+" is not part of the model")
	}
}

func isWrite(method string) bool {
	return method == http.MethodPut || method == http.MethodPost || method == http.MethodDelete
}

// admitWrite counts a write against its prefix's rate and says whether it
// is within PrefixWriteRate.
func (s *Server) admitWrite(bucket, key string) bool {
	if s.p.PrefixWriteRate <= 0 {
		return true
	}
	prefix := bucket + "/" + path.Dir(key)
	now := time.Now()
	window := time.Duration(float64(time.Second) / s.p.scale()) // one model second
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.writes[prefix]
	i := sort.Search(len(ts), func(i int) bool { return now.Sub(ts[i]) < window })
	ts = ts[i:]
	if float64(len(ts)) >= s.p.PrefixWriteRate {
		s.writes[prefix] = ts
		return false
	}
	s.writes[prefix] = append(ts, now)
	s.stats.PeakPrefixWrites = max(s.stats.PeakPrefixWrites, len(ts)+1)
	return true
}

func (s *Server) slowDown(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.SlowDowns++
	s.mu.Unlock()
	s.fail(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
}

func (s *Server) headBucket(w http.ResponseWriter, r *http.Request, bucket string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	if !s.requireBucket(w, r, bucket) {
		return
	}
	w.Header().Set("x-amz-bucket-region", "us-east-1")
	w.WriteHeader(http.StatusOK)
}

// requireBucket answers NoSuchBucket and returns false when bucket does not
// exist.
func (s *Server) requireBucket(w http.ResponseWriter, r *http.Request, bucket string) bool {
	s.mu.Lock()
	_, ok := s.buckets[bucket]
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	}
	return ok
}

func (s *Server) lookup(bucket, key string) (*object, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[bucket]
	if !ok {
		return nil, "NoSuchBucket"
	}
	o, ok := b[key]
	if !ok {
		return nil, "NoSuchKey"
	}
	return o, ""
}

func (s *Server) headObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	o, code := s.lookup(bucket, key)
	if o == nil {
		s.fail(w, r, http.StatusNotFound, code, "")
		return
	}
	h := w.Header()
	h.Set("Content-Length", strconv.FormatInt(o.size, 10))
	h.Set("ETag", o.etag)
	h.Set("Last-Modified", o.modified.Format(http.TimeFormat))
	h.Set("Content-Type", o.contentType)
	h.Set("Accept-Ranges", "bytes")
	for k, v := range o.metadata {
		h.Set("x-amz-meta-"+k, v)
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) getTagging(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	if o, code := s.lookup(bucket, key); o == nil {
		s.fail(w, r, http.StatusNotFound, code, "")
		return
	}
	s.answer(w, r, http.StatusOK, struct {
		XMLName xml.Name `xml:"Tagging"`
		TagSet  struct{} `xml:"TagSet"`
	}{})
}

// source resolves an x-amz-copy-source header (URL-encoded bucket/key,
// optionally with ?versionId=).
func (s *Server) source(w http.ResponseWriter, r *http.Request, header string) (*object, bool) {
	raw, _, _ := strings.Cut(header, "?")
	decoded, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "InvalidArgument", "x-amz-copy-source is not URL-encoded")
		return nil, false
	}
	bucket, key, _ := strings.Cut(decoded, "/")
	o, code := s.lookup(bucket, key)
	if o == nil {
		s.fail(w, r, http.StatusNotFound, code, "the copy source does not exist")
		return nil, false
	}
	if m := r.Header.Get("x-amz-copy-source-if-match"); m != "" && strings.Trim(m, `"`) != strings.Trim(o.etag, `"`) {
		s.fail(w, r, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
		return nil, false
	}
	return o, true
}

func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key, uploadID, number, copySource string) {
	n, err := strconv.Atoi(number)
	if err != nil || n < 1 || n > maxParts {
		s.fail(w, r, http.StatusBadRequest, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
		return
	}
	s.mu.Lock()
	arrival := PartArrival{InFlight: s.inFlight + 1, DoneBefore: s.done}
	if b := s.p.Burst; b != nil && s.done >= b.AfterParts && s.done < b.AfterParts+b.Parts && s.inFlight >= b.MaxInFlight {
		arrival.SlowDown = true
		arrival.InFlight = s.inFlight
	}
	s.stats.Parts = append(s.stats.Parts, arrival)
	if arrival.SlowDown {
		s.mu.Unlock()
		s.slowDown(w, r)
		return
	}
	s.inFlight++
	s.stats.MaxPartsInFlight = max(s.stats.MaxPartsInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	s.mu.Lock()
	up, ok := s.uploads[uploadID]
	s.mu.Unlock()
	if !ok || up.bucket != bucket || up.key != key {
		s.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist")
		return
	}
	src, ok := s.source(w, r, copySource)
	if !ok {
		return
	}
	first, last := int64(0), src.size-1
	if rg := r.Header.Get("x-amz-copy-source-range"); rg != "" {
		a, b, ok := strings.Cut(strings.TrimPrefix(rg, "bytes="), "-")
		first, err = strconv.ParseInt(a, 10, 64)
		if err == nil {
			last, err = strconv.ParseInt(b, 10, 64)
		}
		if !ok || err != nil || first < 0 || last < first || last >= src.size {
			s.fail(w, r, http.StatusBadRequest, "InvalidArgument", fmt.Sprintf("bad x-amz-copy-source-range %q for an object of %d bytes", rg, src.size))
			return
		}
	}
	size := last - first + 1
	if size > maxPartSize {
		s.fail(w, r, http.StatusBadRequest, "InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
		return
	}
	if s.xfer.move(r.Context(), size) != nil {
		return
	}
	now := time.Now().UTC()
	s.mu.Lock()
	p := part{size: size, etag: s.etag(uploadID, number), modified: now}
	up.parts[int32(n)] = p
	s.done++
	s.mu.Unlock()
	s.answer(w, r, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: now.Format(time.RFC3339), ETag: p.etag})
}

func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key, copySource string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	src, ok := s.source(w, r, copySource)
	if !ok {
		return
	}
	if src.size > maxPartSize {
		s.fail(w, r, http.StatusBadRequest, "InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
		return
	}
	if !s.requireBucket(w, r, bucket) {
		return
	}
	if s.xfer.move(r.Context(), src.size) != nil {
		return
	}
	s.mu.Lock()
	o := &object{size: src.size, etag: copyETag(src, r.Header), modified: time.Now().UTC(), contentType: src.contentType, metadata: src.metadata}
	if o.etag == "" {
		o.etag = s.etag(bucket, key)
	}
	s.buckets[bucket][key] = o
	s.mu.Unlock()
	if sse := r.Header.Get("x-amz-server-side-encryption"); sse != "" {
		w.Header().Set("x-amz-server-side-encryption", sse)
	}
	s.answer(w, r, http.StatusOK, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		LastModified string   `xml:"LastModified"`
		ETag         string   `xml:"ETag"`
	}{LastModified: o.modified.Format(time.RFC3339), ETag: o.etag})
}

// copyETag is the ETag S3 gives a CopyObject's copy when it is the
// source's, else "" (a new one). A single-part object in plaintext or
// SSE-S3 has the MD5 of its bytes as ETag, one under SSE-KMS or SSE-C or
// made by a multipart upload has not
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, ETag):
// the copy of a single-part source, asked for no KMS or SSE-C encryption,
// holds the same bytes and so the same ETag. The model keeps no source
// encryption (its objects are put in plaintext).
func copyETag(src *object, h http.Header) string {
	sse := h.Get("x-amz-server-side-encryption")
	if strings.Contains(src.etag, "-") || (sse != "" && sse != "AES256") || h.Get("x-amz-server-side-encryption-customer-algorithm") != "" {
		return ""
	}
	return src.etag
}

// putObject stores an object of the body's size (the bytes are read and
// dropped), for clients that seed the model over HTTP.
func (s *Server) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		return
	}
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	if !s.requireBucket(w, r, bucket) {
		return
	}
	s.mu.Lock()
	o := &object{size: n, etag: s.etag(bucket, key), modified: time.Now().UTC(), contentType: r.Header.Get("Content-Type"), metadata: metadata(r.Header)}
	s.buckets[bucket][key] = o // buckets are never deleted
	s.mu.Unlock()
	w.Header().Set("ETag", o.etag)
	w.WriteHeader(http.StatusOK)
}

func metadata(h http.Header) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok && len(v) > 0 {
			m[name] = v[0]
		}
	}
	return m
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	s.mu.Lock()
	_, ok := s.buckets[bucket]
	var id string
	if ok {
		id = strings.Trim(s.etag(bucket, key, "upload"), `"`)
		s.uploads[id] = &upload{bucket: bucket, key: key, contentType: r.Header.Get("Content-Type"), metadata: metadata(r.Header), parts: map[int32]part{}}
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	s.answer(w, r, http.StatusOK, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		UploadID string   `xml:"UploadId"`
	}{Bucket: bucket, Key: key, UploadID: id})
}

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, bucket, key, uploadID string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	marker, _ := strconv.Atoi(r.URL.Query().Get("part-number-marker"))
	limit := 1000
	if v, err := strconv.Atoi(r.URL.Query().Get("max-parts")); err == nil && v > 0 && v < limit {
		limit = v
	}
	s.mu.Lock()
	up, ok := s.uploads[uploadID]
	type xmlPart struct {
		PartNumber   int32  `xml:"PartNumber"`
		LastModified string `xml:"LastModified"`
		ETag         string `xml:"ETag"`
		Size         int64  `xml:"Size"`
	}
	var parts []xmlPart
	if ok {
		for n, p := range up.parts {
			if int(n) > marker {
				parts = append(parts, xmlPart{PartNumber: n, LastModified: p.modified.Format(time.RFC3339), ETag: p.etag, Size: p.size})
			}
		}
	}
	s.mu.Unlock()
	if !ok || up.bucket != bucket || up.key != key {
		s.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist")
		return
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	truncated := len(parts) > limit
	next := 0
	if truncated {
		parts = parts[:limit]
		next = int(parts[limit-1].PartNumber)
	}
	s.answer(w, r, http.StatusOK, struct {
		XMLName              xml.Name  `xml:"ListPartsResult"`
		Bucket               string    `xml:"Bucket"`
		Key                  string    `xml:"Key"`
		UploadID             string    `xml:"UploadId"`
		PartNumberMarker     int       `xml:"PartNumberMarker"`
		NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
		MaxParts             int       `xml:"MaxParts"`
		IsTruncated          bool      `xml:"IsTruncated"`
		Parts                []xmlPart `xml:"Part"`
	}{Bucket: bucket, Key: key, UploadID: uploadID, PartNumberMarker: marker, NextPartNumberMarker: next, MaxParts: limit, IsTruncated: truncated, Parts: parts})
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, bucket, key, uploadID string) {
	var body struct {
		Parts []struct {
			PartNumber int32  `xml:"PartNumber"`
			ETag       string `xml:"ETag"`
		} `xml:"Part"`
	}
	if err := xml.NewDecoder(r.Body).Decode(&body); err != nil {
		s.fail(w, r, http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed: "+err.Error())
		return
	}
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.uploads[uploadID]
	if !ok || up.bucket != bucket || up.key != key {
		s.failLocked(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist")
		return
	}
	if len(body.Parts) == 0 {
		s.failLocked(w, r, http.StatusBadRequest, "MalformedXML", "no parts")
		return
	}
	var size int64
	for i, bp := range body.Parts {
		p, ok := up.parts[bp.PartNumber]
		if !ok || strings.Trim(bp.ETag, `"`) != strings.Trim(p.etag, `"`) {
			s.failLocked(w, r, http.StatusBadRequest, "InvalidPart", fmt.Sprintf("part %d was not found or its ETag does not match", bp.PartNumber))
			return
		}
		if i > 0 && bp.PartNumber <= body.Parts[i-1].PartNumber {
			s.failLocked(w, r, http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order")
			return
		}
		if i < len(body.Parts)-1 && p.size < minPartSize {
			s.failLocked(w, r, http.StatusBadRequest, "EntityTooSmall", fmt.Sprintf("part %d has %d bytes, below the 5 MiB minimum", bp.PartNumber, p.size))
			return
		}
		size += p.size
	}
	if v := r.Header.Get("x-amz-mp-object-size"); v != "" && v != strconv.FormatInt(size, 10) {
		s.failLocked(w, r, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("x-amz-mp-object-size %s, the parts hold %d bytes", v, size))
		return
	}
	b, ok := s.buckets[bucket]
	if !ok {
		s.failLocked(w, r, http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	etag := fmt.Sprintf(`"%s-%d"`, strings.Trim(s.etag(uploadID), `"`), len(body.Parts))
	b[key] = &object{size: size, etag: etag, modified: time.Now().UTC(), contentType: up.contentType, metadata: up.metadata}
	delete(s.uploads, uploadID)
	s.answerLocked(w, http.StatusOK, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Location: s.URL + "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: etag})
}

func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, uploadID string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	s.mu.Lock()
	_, ok := s.uploads[uploadID]
	delete(s.uploads, uploadID)
	s.mu.Unlock()
	if !ok {
		s.fail(w, r, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if s.wait(r.Context(), s.p.Latency) != nil {
		return
	}
	s.mu.Lock()
	delete(s.buckets[bucket], key)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// answer writes an XML document (or an empty body for nil).
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answerLocked(w, status, v)
}

func (s *Server) answerLocked(w http.ResponseWriter, status int, v any) {
	s.seq++
	w.Header().Set("x-amz-request-id", strconv.Itoa(s.seq))
	if v == nil {
		w.WriteHeader(status)
		return
	}
	out, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
}

// fail writes an S3 error (no body for HEAD, as S3 does).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(w, r, status, code, msg)
}

func (s *Server) failLocked(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if r.Method == http.MethodHead {
		s.seq++
		w.Header().Set("x-amz-request-id", strconv.Itoa(s.seq))
		w.WriteHeader(status)
		return
	}
	s.answerLocked(w, status, struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
	}{Code: code, Message: msg, RequestID: strconv.Itoa(s.seq)})
}
