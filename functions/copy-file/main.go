// Command copy-file is the workflow's copy Lambda: it copies one restored
// object server-side to its archive bucket, failing with TransientCopyError
// (retried by the workflow) or PermanentCopyError (recorded, not retried).
// Its wiring is copyfile.NewHandlerFromEnv.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

func main() { lambdafn.Start("copy-file", copyfile.NewHandlerFromEnv) }
