package copyfile

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

func TestS3ClientOptions(t *testing.T) {
	type got struct {
		BaseEndpoint string
		UsePathStyle bool
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    got
		wantErr string
	}{
		{name: "AWS's own endpoint", want: got{}},
		{name: "S3 endpoint", env: map[string]string{EnvS3Endpoint: " http://127.0.0.1:7070 "}, want: got{"http://127.0.0.1:7070", true}},
		{name: "general endpoint", env: map[string]string{EnvEndpoint: "http://127.0.0.1:4566"}, want: got{"http://127.0.0.1:4566", true}},
		{name: "S3 endpoint wins", env: map[string]string{EnvS3Endpoint: "http://s3.local", EnvEndpoint: "http://all.local"}, want: got{"http://s3.local", true}},
		{name: "virtual-hosted forced", env: map[string]string{EnvS3Endpoint: "http://s3.local", EnvForcePathStyle: "false"}, want: got{"http://s3.local", false}},
		{name: "path-style forced on AWS", env: map[string]string{EnvForcePathStyle: "true"}, want: got{"", true}},
		{name: "not a boolean", env: map[string]string{EnvForcePathStyle: "maybe"}, wantErr: `S3_FORCE_PATH_STYLE="maybe": not true or false`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt, err := S3ClientOptions(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var o s3.Options
			opt(&o)
			g := got{UsePathStyle: o.UsePathStyle}
			if o.BaseEndpoint != nil {
				g.BaseEndpoint = *o.BaseEndpoint
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPClientKeepsAConnectionPerPart(t *testing.T) {
	for _, n := range []int{1, 16, 64, 128, MaxMultipartConcurrency} {
		tr := HTTPClient(n).GetTransport()
		if tr.MaxIdleConnsPerHost < n {
			t.Errorf("concurrency %d: MaxIdleConnsPerHost = %d, want at least %d", n, tr.MaxIdleConnsPerHost, n)
		}
		// The transport's total idle limit (100 by default) must not cap
		// the per-host one.
		if tr.MaxIdleConns != 0 && tr.MaxIdleConns < n {
			t.Errorf("concurrency %d: MaxIdleConns = %d, want at least %d (or 0, no limit)", n, tr.MaxIdleConns, n)
		}
		if tr.MaxConnsPerHost != 0 && tr.MaxConnsPerHost < n {
			t.Errorf("concurrency %d: MaxConnsPerHost = %d, want at least %d (or 0, no limit)", n, tr.MaxConnsPerHost, n)
		}
	}
}
