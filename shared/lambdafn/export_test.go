package lambdafn

import (
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
)

// CountHandlerBuilds counts the aws-lambda-go handlers Invoker builds until
// t ends.
func CountHandlerBuilds(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	orig := newHandler
	newHandler = func(handle any) lambda.Handler {
		n.Add(1)
		return orig(handle)
	}
	t.Cleanup(func() { newHandler = orig })
	return &n
}
