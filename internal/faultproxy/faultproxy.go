// Package faultproxy is an HTTP reverse proxy put in front of an S3 endpoint
// in tests to inject failures by rule: an S3 XML error answer, a dropped
// connection or a delay, for the first N requests a rule matches. Everything
// else is forwarded untouched, with the incoming Host header kept so SigV4
// signatures made for the proxy's address still verify upstream.
package faultproxy

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Rule injects a failure into the requests it matches.
//
// For each request Match accepts, while the rule has fired fewer than Times
// times (Times <= 0: always), the proxy waits Delay (if set) and then either
// drops the connection (Reset) or, if Status is set, answers Status with an
// S3 XML error body carrying Code and Message, without forwarding the
// request. A rule with only Delay set delays the request and then forwards
// it. Rules are tried in order; the first that fires decides.
type Rule struct {
	Match   func(*http.Request) bool
	Times   int
	Status  int
	Code    string
	Message string
	// Reset drops the TCP connection (RST) instead of answering.
	Reset bool
	// Delay is waited before the failure is injected or the request is
	// forwarded. The wait ends early if the client gives up.
	Delay time.Duration
	// Header is added to the answer: to the injected error answer when
	// Status is set (e.g. x-amz-bucket-region on a 301 PermanentRedirect),
	// else to the forwarded request's answer (e.g. a header a real S3
	// would send and the upstream server does not).
	Header http.Header

	mu   sync.Mutex
	hits int
	seen []Request
}

// Request is what the proxy saw of a request a rule fired on.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
}

// Requests returns the requests the rule fired on, in order: a rule with
// only Match set records the requests it matches and forwards them, so a
// test can assert the exact headers a client sent.
func (r *Rule) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.seen...)
}

// Hits returns how many times the rule has fired.
func (r *Rule) Hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

// fire reports whether the rule applies to req, counting it if so.
func (r *Rule) fire(req *http.Request) bool {
	if r.Match != nil && !r.Match(req) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Times > 0 && r.hits >= r.Times {
		return false
	}
	r.hits++
	r.seen = append(r.seen, Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.Query(), Header: req.Header.Clone()})
	return true
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's base URL; point the S3 client's endpoint here.
	URL string

	srv   *httptest.Server
	rules []*Rule
}

// New starts a proxy on a loopback port forwarding to target (a base URL
// such as http://127.0.0.1:9000).
func New(target string, rules ...*Rule) (*Proxy, error) {
	return newProxy(target, nil, rules)
}

// Region makes a proxy stand for S3's endpoint in another region, in front
// of a server that signs for one region only: a request must be signed for
// Name (S3 answers any other with 400 AuthorizationHeaderMalformed, and so
// does the proxy); it is then signed again for UpstreamRegion with
// Credentials and forwarded.
type Region struct {
	Name           string
	UpstreamRegion string
	Credentials    aws.Credentials
}

// NewRegional starts a proxy like New that stands for S3 in region.Name
// (see Region).
func NewRegional(target string, region Region, rules ...*Rule) (*Proxy, error) {
	if region.Name == "" || region.UpstreamRegion == "" {
		return nil, errors.New("faultproxy: Region needs Name and UpstreamRegion")
	}
	return newProxy(target, &region, rules)
}

// signedRegion returns the region of a SigV4 Authorization header's
// credential scope (Credential=AKID/DATE/REGION/s3/aws4_request).
func signedRegion(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[2]
}

func newProxy(target string, region *Region, rules []*Rule) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: bad target %q", target)
	}
	// S3 signs the path as it is sent, without escaping it again.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = u.Scheme
			pr.Out.URL.Host = u.Host
			// Keep the Host the client signed for.
			pr.Out.Host = pr.In.Host
			if region != nil {
				pr.Out.Header.Del("Authorization")
				pr.Out.Header.Del("X-Amz-Date")
				hash := pr.Out.Header.Get("X-Amz-Content-Sha256")
				if err := signer.SignHTTP(pr.Out.Context(), region.Credentials, pr.Out, hash, "s3", region.UpstreamRegion, time.Now()); err != nil {
					pr.Out.Header.Set("Authorization", "faultproxy: sign: "+err.Error())
				}
			}
		},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if r, ok := resp.Request.Context().Value(firedRule{}).(*Rule); ok {
				for k, vs := range r.Header {
					resp.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client gave up; nothing to answer
			}
			writeS3Error(w, r, http.StatusBadGateway, "BadGateway", "faultproxy: "+err.Error())
		},
	}
	p := &Proxy{rules: rules}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if region != nil {
			if got := signedRegion(req.Header.Get("Authorization")); got != region.Name {
				writeS3Error(w, req, http.StatusBadRequest, "AuthorizationHeaderMalformed",
					fmt.Sprintf("The authorization header is malformed; the region '%s' is wrong; expecting '%s'", got, region.Name))
				return
			}
		}
		for _, r := range p.rules {
			if !r.fire(req) {
				continue
			}
			if r.Delay > 0 {
				select {
				case <-time.After(r.Delay):
				case <-req.Context().Done():
					return
				}
			}
			switch {
			case r.Reset:
				resetConnection(w)
				return
			case r.Status != 0:
				for k, vs := range r.Header {
					w.Header()[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
				}
				writeS3Error(w, req, r.Status, r.Code, r.Message)
				return
			}
			// Delay, record or add headers only: forward.
			req = req.WithContext(context.WithValue(req.Context(), firedRule{}, r))
			break
		}
		rp.ServeHTTP(w, req)
	}))
	p.URL = p.srv.URL
	return p, nil
}

// firedRule is the context key under which a forwarded request carries the
// rule that fired on it, whose Header ModifyResponse adds.
type firedRule struct{}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// resetConnection drops the client's connection with a TCP RST.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

func writeS3Error(w http.ResponseWriter, req *http.Request, status int, code, msg string) {
	_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
	body, _ := xml.Marshal(s3Error{Code: code, Message: msg, Resource: req.URL.Path, RequestID: "faultproxy"})
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.Header().Set("X-Amz-Request-Id", "faultproxy")
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = io.WriteString(w, xml.Header)
		_, _ = w.Write(body)
	}
}

// IsCopyObject matches a CopyObject request: PUT with x-amz-copy-source and
// no partNumber.
func IsCopyObject(r *http.Request) bool {
	return r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && !r.URL.Query().Has("partNumber")
}

// IsUploadPartCopy matches an UploadPartCopy request: PUT with
// x-amz-copy-source, partNumber and uploadId.
func IsUploadPartCopy(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "" && q.Has("partNumber") && q.Has("uploadId")
}

// IsPart returns a matcher for UploadPartCopy of the given part number.
func IsPart(n int) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return IsUploadPartCopy(r) && r.URL.Query().Get("partNumber") == strconv.Itoa(n)
	}
}

// IsCompleteMultipartUpload matches a CompleteMultipartUpload request.
func IsCompleteMultipartUpload(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPost && q.Has("uploadId")
}

// IsHeadObject matches a HeadObject request (path-style: HEAD /bucket/key;
// a HeadBucket, HEAD /bucket, does not match).
func IsHeadObject(r *http.Request) bool {
	if r.Method != http.MethodHead {
		return false
	}
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return key != ""
}

// IsCreateMultipartUpload matches a CreateMultipartUpload request: POST
// with the uploads subresource.
func IsCreateMultipartUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploads")
}

// IsBucket returns a matcher for any request to the bucket (path-style
// addressing: /bucket or /bucket/key).
func IsBucket(name string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.URL.Path == "/"+name || strings.HasPrefix(r.URL.Path, "/"+name+"/")
	}
}

// AnyOf returns a matcher for requests any of ms matches.
func AnyOf(ms ...func(*http.Request) bool) func(*http.Request) bool {
	return func(r *http.Request) bool {
		for _, m := range ms {
			if m(r) {
				return true
			}
		}
		return false
	}
}
