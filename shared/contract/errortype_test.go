package contract_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

type valueError struct{}

func (valueError) Error() string { return "value receiver" }

func TestErrorType(t *testing.T) {
	invalid := &parseevent.InvalidEventError{Field: "Records", Problem: "is not a list"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"pointer to named struct", invalid, "InvalidEventError"},
		{"aggregate error", &aggregate.CopyRequestError{}, "CopyRequestError"},
		{"wrapped: outermost type only", fmt.Errorf("parse: %w", invalid), "wrapError"},
		{"errors.New", errors.New("x"), "errorString"},
		{"errors.Join", errors.Join(invalid, invalid), "joinError"},
		{"value receiver", valueError{}, "valueError"},
		{"pointer to value-receiver type", &valueError{}, "valueError"},
		{"runtime's own error value", messages.InvokeResponse_Error{Type: "Runtime.Custom", Message: "m"}, "Runtime.Custom"},
		{"runtime's own error pointer", &messages.InvokeResponse_Error{Type: "Runtime.Custom"}, "InvokeResponse_Error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := contract.ErrorType(tc.err); got != tc.want {
				t.Errorf("ErrorType = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"named error", &parseevent.InvalidEventError{Field: "Records", Problem: "is not a list"}, "Records is not a list"},
		{"wrapped", fmt.Errorf("parse: %w", errors.New("bad")), "parse: bad"},
		{"runtime's own error value", messages.InvokeResponse_Error{Type: "T", Message: "chosen"}, "chosen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := contract.ErrorMessage(tc.err); got != tc.want {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.want)
			}
		})
	}
}
