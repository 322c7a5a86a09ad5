package copyfile

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The environment variables S3ClientOptions reads.
const (
	// EnvS3Endpoint is the S3 endpoint to use instead of AWS's own, e.g. a
	// local S3-compatible server.
	EnvS3Endpoint = "AWS_ENDPOINT_URL_S3"
	// EnvEndpoint is the endpoint for every AWS service, used for S3 when
	// EnvS3Endpoint is not set.
	EnvEndpoint = "AWS_ENDPOINT_URL"
	// EnvForcePathStyle ("true" or "false") overrides the addressing style;
	// the default is path-style with a configured endpoint (a bucket name
	// as a host would not resolve on 127.0.0.1) and virtual-hosted without.
	EnvForcePathStyle = "S3_FORCE_PATH_STYLE"
)

// S3ClientOptions returns the option that points an S3 client at the
// endpoint getenv names (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL). With
// an endpoint it uses path-style addressing, unless S3_FORCE_PATH_STYLE
// says otherwise. A value of S3_FORCE_PATH_STYLE that is not a boolean is
// an error naming the variable and the value.
func S3ClientOptions(getenv func(string) string) (func(*s3.Options), error) {
	endpoint := strings.TrimSpace(getenv(EnvS3Endpoint))
	if endpoint == "" {
		endpoint = strings.TrimSpace(getenv(EnvEndpoint))
	}
	pathStyle := endpoint != ""
	if v := strings.TrimSpace(getenv(EnvForcePathStyle)); v != "" {
		var err error
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%s=%q: not true or false", EnvForcePathStyle, v)
		}
	}
	return func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
		o.UsePathStyle = pathStyle
	}, nil
}

// HTTPClient returns the SDK's HTTP client keeping an idle connection to
// the S3 host for each part copied at once, plus a few, so parallel part
// copies reuse connections. The SDK keeps at most 10 idle connections per
// host and 100 in all: both limits are raised. Open connections are not
// capped; the copier bounds the requests in flight.
func HTTPClient(concurrency int) *awshttp.BuildableClient {
	idle := concurrency + 8
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, idle)
		t.MaxIdleConns = max(t.MaxIdleConns, idle)
	})
}
