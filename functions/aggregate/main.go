// Command aggregate is the workflow's last Lambda: it reports every file's
// result and fails with CopyRequestError when any file was not copied.
// Its wiring is aggregate.NewHandlerFromEnv.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
)

func main() { lambdafn.Start("aggregate", aggregate.NewHandlerFromEnv) }
