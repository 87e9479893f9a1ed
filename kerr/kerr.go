// Package kerr holds the status codes shared by the engine, the Arrow stream
// exporter and the C ABI. The numeric values are the kalam_status values of
// include/kalam.h and must never change.
package kerr

import (
	"errors"
	"fmt"
)

// Code is a kalam_status value.
type Code int32

const (
	OK              Code = 0
	InvalidArgument Code = 1
	NotFound        Code = 2
	AlreadyExists   Code = 3
	IO              Code = 4
	Corruption      Code = 5
	Cancelled       Code = 6
	Closed          Code = 7
	ReadOnly        Code = 8
	Busy            Code = 9
	Internal        Code = 10
)

var codeNames = [...]string{"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "IO",
	"CORRUPTION", "CANCELLED", "CLOSED", "READ_ONLY", "BUSY", "INTERNAL"}

// String returns the status name as kalam.h spells it without KALAM_.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", int32(c))
}

// Error is an error with a status code. Wrapping it with fmt.Errorf("...: %w")
// keeps the code visible to CodeOf.
type Error struct {
	Code Code
	Msg  string
	Err  error // optional cause
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		if e.Msg == "" {
			return e.Err.Error()
		}
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code c and a formatted message.
func New(c Code, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// Wrap attaches code c to err, with a context message (may be empty).
func Wrap(c Code, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the outermost *Error in err's chain, OK for nil
// and Internal for an error that carries no code.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return Internal
}

// Is reports whether err carries code c.
func Is(err error, c Code) bool { return err != nil && CodeOf(err) == c }

// CodeOfOr returns err's code, or def when err carries none.
func CodeOfOr(err error, def Code) Code {
	var ke *Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return def
}
