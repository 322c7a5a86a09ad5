// Package samples holds errors of every shape the Go Lambda runtime names
// differently, shared by the errorfn fixture and the test that runs it.
package samples

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// PointerError is a pointer-receiver error, the shape of the workflow's
// routed errors.
type PointerError struct{}

func (*PointerError) Error() string { return "pointer receiver" }

// ValueError is a value-receiver error.
type ValueError struct{}

func (ValueError) Error() string { return "value receiver" }

// Errors returns the sample errors by name.
func Errors() map[string]error {
	return map[string]error{
		"pointer":         &PointerError{},
		"wrapped":         fmt.Errorf("context: %w", &PointerError{}),
		"wrapped-twice":   fmt.Errorf("more: %w, %w", &PointerError{}, ValueError{}),
		"plain":           errors.New("plain"),
		"joined":          errors.Join(&PointerError{}, ValueError{}),
		"value":           ValueError{},
		"value-pointer":   &ValueError{},
		"runtime-message": messages.InvokeResponse_Error{Type: "Custom.Name", Message: "chosen name"},
	}
}
