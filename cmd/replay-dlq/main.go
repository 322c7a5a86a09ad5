// Command replay-dlq replays the restore events of a dead-letter queue (the
// restore rule's or the intake's) into the intake queue: one SendMessage per
// message, with its body, deleting a dead letter only once its body is in
// the intake. A message whose body the workflow would reject is kept.
// --dry-run lists the messages, changing nothing.
//
//	go run ./cmd/replay-dlq --queue-url DLQ_URL --intake-queue-url INTAKE_URL [--dry-run] [--max N] [--max-wait 5m] [--visibility-timeout 60]
//
// It ends only when the queue has nothing left for it: once no receive
// brings a fresh message it waits, up to --max-wait, for messages hidden
// from it (in flight with another reader), then prints what it kept and
// why. An event sent twice (a replay stopped between sending and deleting,
// then run again) is harmless: the later copy finds the file's row
// complete and leaves it so (internal/dlqreplay).
//
// It uses the default AWS configuration (AWS_PROFILE, AWS_REGION, ...;
// AWS_ENDPOINT_URL for a local endpoint). Exit status: 0 the queue has
// nothing left for it, 1 something stays in the queue unresolved (a message
// that could not be replayed, or messages it never received; the last lines
// say which), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/dlqreplay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay-dlq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg dlqreplay.Config
	var visibility int
	fs.StringVar(&cfg.QueueURL, "queue-url", "", "the dead-letter queue to replay (stack output DeadLetterQueueUrl, the rule's, or IntakeDeadLetterQueueUrl)")
	fs.StringVar(&cfg.IntakeQueueURL, "intake-queue-url", "", "the intake queue the events are sent to (stack output IntakeQueueUrl)")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "list the messages; send and delete nothing")
	fs.IntVar(&cfg.Max, "max", 0, "replay at most this many messages (0: all)")
	fs.IntVar(&visibility, "visibility-timeout", 60, "seconds a received message stays hidden while it is sent")
	fs.DurationVar(&cfg.MaxWait, "max-wait", 5*time.Minute, "once no fresh message comes, wait at most this long for messages hidden by another reader (0: do not wait)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "replay-dlq: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg.VisibilitySeconds = int32(visibility)
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "replay-dlq: %v\n", err)
		return 2
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "replay-dlq: AWS configuration: %v\n", err)
		return 2
	}
	if awsCfg.Region == "" {
		fmt.Fprintln(stderr, "replay-dlq: no AWS region: set AWS_REGION (the stack's region) or a profile with one")
		return 2
	}
	_, err = dlqreplay.Replay(ctx, sqs.NewFromConfig(awsCfg), cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "replay-dlq: %v\n", err)
		var ce *dlqreplay.ConfigError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}
