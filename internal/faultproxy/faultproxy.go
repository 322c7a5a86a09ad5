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
	"sync"
	"time"
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

	mu   sync.Mutex
	hits int
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
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: bad target %q", target)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = u.Scheme
			pr.Out.URL.Host = u.Host
			// Keep the Host the client signed for.
			pr.Out.Host = pr.In.Host
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client gave up; nothing to answer
			}
			writeS3Error(w, r, http.StatusBadGateway, "BadGateway", "faultproxy: "+err.Error())
		},
	}
	p := &Proxy{rules: rules}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
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
				writeS3Error(w, req, r.Status, r.Code, r.Message)
				return
			}
			break // delay only: forward
		}
		rp.ServeHTTP(w, req)
	}))
	p.URL = p.srv.URL
	return p, nil
}

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

// IsHeadObject matches a HeadObject request.
func IsHeadObject(r *http.Request) bool { return r.Method == http.MethodHead }
