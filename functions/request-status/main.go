// Command request-status is the Lambda that finds a restored file's open job
// in request_status and records the outcome of its copy. Its wiring
// (configuration, the SSM client, the pgx pool once per container) is
// requeststatus.NewHandlerFromEnv.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

func main() { lambdafn.Start("request-status", requeststatus.NewHandlerFromEnv) }
