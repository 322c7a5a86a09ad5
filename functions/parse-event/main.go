// Command parse-event is the workflow's first Lambda: it reads the S3 restore
// event and returns the files to copy, or fails with InvalidEventError.
// Its wiring is parseevent.NewHandlerFromEnv.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

func main() { lambdafn.Start("parse-event", parseevent.NewHandlerFromEnv) }
