// Command errorfn is a test fixture: a Lambda that fails with the sample
// error its event names, or never answers when the event is "hang".
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/runtimeapi/testdata/errorfn/samples"
)

func main() {
	lambda.Start(func(_ context.Context, kind string) (string, error) {
		if kind == "hang" {
			select {}
		}
		if err, ok := samples.Errors()[kind]; ok {
			return "", err
		}
		return "", fmt.Errorf("no sample error %q", kind)
	})
}
