// Command copy-file is the workflow's copy Lambda: it copies one restored
// object server-side to its archive bucket, failing with TransientCopyError
// (retried by the workflow) or PermanentCopyError (recorded, not retried).
// Its wiring is copyfile.NewHandlerFromEnv. It is deployed twice: as
// copy-file (the Standard lane) and as copy-file-express (the Express lane,
// at less memory: statemachine.ExpressCopyMemoryMB); both log and emit
// metrics as copy-file.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

func main() { lambdafn.Start("copy-file", copyfile.NewHandlerFromEnv) }
