package recovery

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// CheckFailure is one reason S3 could not be asked about files' restores,
// with how many files it kept unchecked and what to do about it. A cause
// is reported once, not once per file.
type CheckFailure struct {
	Cause string `json:"cause"`
	// Count is the files not checked for this cause.
	Count int `json:"count"`
	// Advice says what to set or grant ("" when there is nothing general
	// to say).
	Advice string `json:"advice,omitempty"`
	// Example is the first failure as the SDK reported it.
	Example string `json:"example"`
	// global causes (no region, no credentials) fail every request the
	// same way: checking stops at the first.
	global bool
}

func (f CheckFailure) String() string {
	s := fmt.Sprintf("%d %s not checked: %s", f.Count, plural(f.Count, "file", "files"), f.Cause)
	if f.Advice != "" {
		s += ": " + f.Advice
	}
	return s + " (first: " + f.Example + ")"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// urlRE finds a quoted request URL in a transport error ("Head
// \"http://host/bucket/key\": dial tcp ..."), which would make every file's
// error different.
var urlRE = regexp.MustCompile(`"[a-z]+://[^"]*"`)

// classifyCheck names the cause of a failed HeadObject. The SDK has no
// error type for a missing region (the S3 endpoint rules say "A region
// must be set when sending requests to S3.") or for missing credentials
// ("get identity: get credentials: failed to refresh cached credentials,
// ..."), so those are recognised by their text; both fail before any
// request is sent.
func classifyCheck(err error) CheckFailure {
	msg := err.Error()
	var missing *aws.MissingRegionError
	switch {
	case errors.As(err, &missing) || strings.Contains(msg, "A region must be set") || strings.Contains(msg, "region is required"):
		return CheckFailure{Cause: "no AWS region", Advice: "set AWS_REGION (or --region) to the restore buckets' region", global: true}
	case strings.Contains(msg, "get credentials") || strings.Contains(msg, "get identity"):
		return CheckFailure{Cause: "no AWS credentials", Advice: "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", global: true}
	}
	var api smithy.APIError
	var status interface{ HTTPStatusCode() int }
	hasStatus := errors.As(err, &status)
	switch {
	case (errors.As(err, &api) && api.ErrorCode() == "AccessDenied") || (hasStatus && status.HTTPStatusCode() == http.StatusForbidden):
		return CheckFailure{Cause: "access denied (403)", Advice: "the credentials need s3:GetObject on the restore buckets (and s3:ListBucket, so that a missing object answers 404)"}
	case errors.As(err, &api):
		return CheckFailure{Cause: "S3 error " + api.ErrorCode()}
	}
	var op *smithy.OperationError
	if errors.As(err, &op) {
		msg = op.Err.Error()
	}
	return CheckFailure{Cause: urlRE.ReplaceAllString(msg, "<url>")}
}

// checkFailures collects failed restore checks by cause, in the order the
// causes first appeared.
type checkFailures struct{ list []CheckFailure }

// add records a failed check and reports whether checking should stop
// (the cause fails every request alike).
func (c *checkFailures) add(err error) (stop bool) {
	f := classifyCheck(err)
	for i := range c.list {
		if c.list[i].Cause == f.Cause {
			c.list[i].Count++
			return f.global
		}
	}
	f.Count, f.Example = 1, err.Error()
	c.list = append(c.list, f)
	return f.global
}

// skip counts n files left unchecked because the last cause stopped the
// checks.
func (c *checkFailures) skip(n int) {
	if len(c.list) > 0 {
		c.list[len(c.list)-1].Count += n
	}
}

// total is the files not checked.
func (c *checkFailures) total() int {
	n := 0
	for _, f := range c.list {
		n += f.Count
	}
	return n
}

// err is nil when every check was made, else one error naming each cause.
func (c *checkFailures) err() error {
	if len(c.list) == 0 {
		return nil
	}
	var causes []string
	for _, f := range c.list {
		s := fmt.Sprintf("%d %s", f.Count, f.Cause)
		if f.Advice != "" {
			s += " (" + f.Advice + ")"
		}
		causes = append(causes, s)
	}
	return fmt.Errorf("could not check the restores of %d %s: %s", c.total(), plural(c.total(), "file", "files"), strings.Join(causes, "; "))
}
