package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// A file whose restore event still waits in the intake queue is in flight:
// its copy starts once the Pipe delivers its batch. During a backlog the
// sweep would find such files restored and not copied, and start a second
// copy of each (harmless: the later copy finds the row complete, writes
// the same object again and leaves the row complete; but a backlog
// multiplied).
// So the sweep first reads the age of the intake's oldest message and,
// while it is older than Config.IntakeGrace, holds off: it lists nothing
// and starts nothing, and reports held_off with the age.
//
// SQS's GetQueueAttributes gives counts of messages but no age (its
// attributes: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html).
// The age is the CloudWatch metric AWS/SQS ApproximateAgeOfOldestMessage
// (seconds, dimension QueueName), which SQS reports only while the queue
// holds at least one message
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
// The sweep reads it with GetMetricData; no datapoint in the look-back
// window means no message waited then.

// The intake age metric.
const (
	intakeAgeNamespace = "AWS/SQS"
	intakeAgeMetric    = "ApproximateAgeOfOldestMessage"
	intakeAgeDimension = "QueueName"
)

// IntakeAgeLookBack is how far back the sweep looks for the newest
// datapoint of the intake's age: SQS publishes its metrics every minute,
// and CloudWatch may show the newest a few minutes late.
const IntakeAgeLookBack = 15 * time.Minute

// IntakeAge is what the sweep learned of the intake queue's oldest
// message: its age at At, when Known (a datapoint within the look-back).
type IntakeAge struct {
	Known bool
	Age   time.Duration
	At    time.Time
}

// IntakeAgeReader reads the intake queue's oldest message age, as of now.
type IntakeAgeReader interface {
	OldestMessageAge(ctx context.Context, now time.Time) (IntakeAge, error)
}

// MetricDataGetter is the part of the CloudWatch client the sweep uses.
type MetricDataGetter interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// CloudWatchIntakeAge reads QueueName's ApproximateAgeOfOldestMessage from
// CloudWatch: the Maximum of the newest minute within IntakeAgeLookBack.
type CloudWatchIntakeAge struct {
	CloudWatch MetricDataGetter
	QueueName  string
}

// OldestMessageAge implements IntakeAgeReader.
func (c CloudWatchIntakeAge) OldestMessageAge(ctx context.Context, now time.Time) (IntakeAge, error) {
	out, err := c.CloudWatch.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-IntakeAgeLookBack)),
		EndTime:   aws.Time(now),
		ScanBy:    cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("age"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(intakeAgeNamespace),
					MetricName: aws.String(intakeAgeMetric),
					Dimensions: []cwtypes.Dimension{{Name: aws.String(intakeAgeDimension), Value: aws.String(c.QueueName)}},
				},
				Period: aws.Int32(60),
				Stat:   aws.String(string(cwtypes.StatisticMaximum)),
			},
		}},
	})
	if err != nil {
		return IntakeAge{}, fmt.Errorf("GetMetricData %s %s of queue %s: %w", intakeAgeNamespace, intakeAgeMetric, c.QueueName, err)
	}
	var newest IntakeAge
	for _, r := range out.MetricDataResults {
		for i, at := range r.Timestamps {
			if i < len(r.Values) && (!newest.Known || at.After(newest.At)) {
				newest = IntakeAge{Known: true, At: at, Age: time.Duration(r.Values[i] * float64(time.Second))}
			}
		}
	}
	return newest, nil
}

// QueueNameOf is the name of the queue at url
// (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), or "" when url has none.
func QueueNameOf(url string) string {
	url = strings.TrimRight(url, "/")
	i := strings.LastIndex(url, "/")
	if i < 0 || !strings.Contains(url, "://") || i < strings.Index(url, "://")+3 {
		return ""
	}
	return url[i+1:]
}

// ValidQueueURL checks the shape http(s)://HOST/ACCOUNT/NAME.
func ValidQueueURL(url string) error {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") || strings.Count(strings.TrimRight(url, "/"), "/") < 4 {
		return fmt.Errorf("not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
	}
	return nil
}

// holdOff reads the intake's age and reports whether the sweep holds off:
// the oldest message is older than IntakeGrace. The age goes in the report
// either way. A failed read does not hold the sweep off (a file it starts
// whose event then arrives too is only copied twice, harmlessly); it is a
// warning.
func (s *sweep) holdOff(ctx context.Context) bool {
	r := s.r
	if r.IntakeAge == nil {
		return false
	}
	age, err := r.IntakeAge.OldestMessageAge(s.listCtx, s.now)
	if err != nil {
		s.rep.Warnings = append(s.rep.Warnings, "intake age unknown, the sweep went on: "+err.Error())
		r.log().WarnContext(ctx, "reconcile: could not read the intake queue's oldest message age; sweeping anyway", "error", err)
		return false
	}
	if !age.Known {
		return false // no message waited within the look-back
	}
	secs := int64(age.Age / time.Second)
	s.rep.IntakeOldestAgeSecs = &secs
	if age.Age <= r.Config.IntakeGrace {
		return false
	}
	s.rep.HeldOff = true
	r.log().WarnContext(ctx, "reconcile: held off: the intake queue's oldest restore event waits longer than the intake grace; its files are in flight",
		"intake_oldest_age_secs", secs, "intake_grace", r.Config.IntakeGrace.String(), "at", age.At.UTC().Format(time.RFC3339))
	return true
}
