package parseevent

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// ParseInput reads the input of one execution: a batch, or one event.
//
// A batch is a JSON list, as the intake's EventBridge Pipe gives it: one
// SQS message per element, whose body (a string) holds an event
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html).
// An element may also be an event itself (the sweep and re-run send
// batches of events). Each element is read alone, with ParseEvent's rules:
// a bad one is rejected alone (contract.RejectedMessage) and the rest of
// the batch goes on. So is one that would take the execution past maxFiles
// files or contract.MaxFilesBytesPerExecution bytes of files.
//
// Anything else is one event (a classic S3 notification or an EventBridge
// event pasted in the console, the re-run input). ParseEvent reads it, and
// an event past either bound is rejected as a whole. Every error is then
// an *InvalidEventError.
//
// maxFiles 0 is contract.MaxFilesPerExecution. Files and Rejected are
// never nil: the state machine reads both by path.
func ParseInput(data []byte, maxFiles int) (contract.ParsedEvent, error) {
	if maxFiles <= 0 {
		maxFiles = contract.MaxFilesPerExecution
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return parseBatch(trimmed, maxFiles)
	}
	files, err := ParseEvent(data)
	if err == nil {
		err = checkBounds(files, maxFiles)
	}
	if err != nil {
		return contract.ParsedEvent{}, err
	}
	return contract.ParsedEvent{Files: files, Rejected: []contract.RejectedMessage{}}, nil
}

// parseBatch reads a batch's elements one by one, in order.
func parseBatch(data []byte, maxFiles int) (contract.ParsedEvent, error) {
	var elements []json.RawMessage
	if err := json.Unmarshal(data, &elements); err != nil {
		return contract.ParsedEvent{}, &InvalidEventError{Problem: "batch is not a valid JSON list: " + err.Error()}
	}
	parsed := contract.ParsedEvent{Files: []contract.File{}, Rejected: []contract.RejectedMessage{}}
	size := 0 // bytes of parsed.Files' JSON
	for i, element := range elements {
		messageID, files, err := parseElement(element)
		if err == nil {
			err = checkBatchRoom(parsed.Files, size, files, maxFiles)
		}
		if err != nil {
			parsed.Rejected = append(parsed.Rejected, contract.RejectedMessage{Index: i, MessageID: messageID, Error: err.Error()})
			continue
		}
		parsed.Files = append(parsed.Files, files...)
		size += filesBytes(files)
	}
	return parsed, nil
}

// sqsMessage is what parseElement reads of a batch's element: an SQS
// message's id and body, when it is one.
type sqsMessage struct {
	MessageID string          `json:"messageId"`
	Body      json.RawMessage `json:"body"`
}

// parseElement reads one element of a batch: an SQS message whose body
// holds an event, or an event. It returns the message id ("" for an
// event) and the files, or why the element was rejected.
func parseElement(element json.RawMessage) (messageID string, files []contract.File, err error) {
	var message sqsMessage
	if json.Unmarshal(element, &message) != nil || message.Body == nil {
		// Not an object, or an object without a body: an event, which
		// ParseEvent judges (it rejects what is not an object).
		files, err = ParseEvent(element)
		return message.MessageID, files, err
	}
	var body string
	if err := json.Unmarshal(message.Body, &body); err != nil {
		return message.MessageID, nil, &InvalidEventError{Field: "body", Problem: "is not a string holding an event"}
	}
	files, err = ParseEvent([]byte(body))
	return message.MessageID, files, err
}

// checkBatchRoom rejects an element's files when, added to the files
// already kept (size bytes of JSON), they take the execution past
// maxFiles files or contract.MaxFilesBytesPerExecution bytes.
func checkBatchRoom(kept []contract.File, size int, files []contract.File, maxFiles int) error {
	if n := len(kept) + len(files); n > maxFiles {
		return &InvalidEventError{Problem: fmt.Sprintf("the batch's messages before it name %d files, and with its %d "+
			"the execution would carry %d, past the %d one execution may carry: send it again", len(kept), len(files), n, maxFiles)}
	}
	if b := size + filesBytes(files); b > contract.MaxFilesBytesPerExecution {
		return &InvalidEventError{Problem: fmt.Sprintf("with its files the execution would carry %d bytes of files, past the %d "+
			"one execution may carry (Step Functions' %d bytes per state hold them about three times): send it again",
			b, contract.MaxFilesBytesPerExecution, contract.MaxStatePayloadBytes)}
	}
	return nil
}

// checkBounds rejects a single event of more than maxFiles files, or
// whose files' JSON is larger than contract.MaxFilesBytesPerExecution.
func checkBounds(files []contract.File, maxFiles int) error {
	if err := checkFileCount(len(files), maxFiles); err != nil {
		return err
	}
	if b := filesBytes(files); b > contract.MaxFilesBytesPerExecution {
		return &InvalidEventError{Problem: fmt.Sprintf("event names %d files of %d bytes of JSON; one execution may carry at most %d "+
			"(Step Functions' %d bytes per state hold them about three times). Send the files in smaller events",
			len(files), b, contract.MaxFilesBytesPerExecution, contract.MaxStatePayloadBytes)}
	}
	return nil
}

// filesBytes is the size of the files' JSON, each as marshalled.
func filesBytes(files []contract.File) int {
	n := 0
	for _, f := range files {
		b, err := json.Marshal(f)
		if err != nil {
			// A File holds only strings and an integer: Marshal cannot fail.
			panic("parseevent: marshal file: " + err.Error())
		}
		n += len(b)
	}
	return n
}
