package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Sentinel errors for callers to branch on with errors.Is. Every error the
// client returns wraps at most one of them, with the path and range as
// context.
var (
	// ErrNotFound: the origin answered 404 or 410.
	ErrNotFound = errors.New("origin: object not found")
	// ErrChanged: the object is no longer the version the caller described
	// (a validator or the size changed, the origin answered 412 or 416, or it
	// sent the full new body because If-Range failed). The caller must Stat
	// again; retrying the same read cannot succeed.
	ErrChanged = errors.New("origin: object changed")
	// ErrBadResponse: the origin answered, but not with what was asked: a
	// wrong status, a missing or wrong Content-Range, a short or long body, a
	// Content-Length that disagrees, a Content-Encoding.
	ErrBadResponse = errors.New("origin: bad response")
	// ErrUnreachable: no usable answer at the transport level: the dial
	// failed or was refused, DNS failed, the connection was reset or closed;
	// also a 502 or 503 that persisted through the retries.
	ErrUnreachable = errors.New("origin: unreachable")
	// ErrTimeout: an attempt, or the caller's deadline, expired before the
	// answer was complete; also a 504 that persisted through the retries.
	ErrTimeout = errors.New("origin: timeout")
)

// StatusError is an HTTP status the client did not expect. It unwraps to the
// sentinel the status belongs to (404 and 410 to ErrNotFound, 412 and 416 to
// ErrChanged, 502 and 503 to ErrUnreachable, 504 to ErrTimeout), or to
// nothing, so that callers can use either errors.Is or errors.As.
type StatusError struct {
	Code int   // the origin's status code
	Err  error // the sentinel this status counts as, or nil
}

// Error names the status, e.g. "origin: status 503 Service Unavailable".
func (e *StatusError) Error() string {
	return fmt.Sprintf("origin: status %d %s", e.Code, http.StatusText(e.Code))
}

// Unwrap returns the sentinel the status counts as, or nil.
func (e *StatusError) Unwrap() error { return e.Err }

// statusError classifies an unexpected status.
func statusError(code int) *StatusError {
	var s error
	switch code {
	case http.StatusNotFound, http.StatusGone:
		s = ErrNotFound
	case http.StatusPreconditionFailed, http.StatusRequestedRangeNotSatisfiable:
		s = ErrChanged
	case http.StatusBadGateway, http.StatusServiceUnavailable:
		s = ErrUnreachable
	case http.StatusGatewayTimeout:
		s = ErrTimeout
	default:
		if code >= 200 && code < 400 {
			// A success or redirect status where another was required
			// (a 204, a 304 nobody asked for, an unfollowed 3xx).
			s = ErrBadResponse
		}
	}
	return &StatusError{Code: code, Err: s}
}

// HTTPStatus maps an error from this package to the status an edge should
// answer a player with: 404 for ErrNotFound (the object does not exist, and
// saying so is cacheable), 504 for ErrTimeout or an expired deadline (the
// origin was too slow), and 502 for everything else, because every other
// failure is the origin's answer being unusable. A nil error maps to 200.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// badResponse wraps ErrBadResponse with a description.
func badResponse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadResponse, fmt.Sprintf(format, args...))
}

// changed wraps ErrChanged with a description.
func changed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrChanged, fmt.Sprintf(format, args...))
}

// classify turns a transport or body-read error into one that wraps the
// right sentinel. caller is the caller's context: when it is done, its own
// error wins, so that a cancelled caller sees context.Canceled and is not
// told the origin is unreachable. Errors already classified pass through.
func classify(caller context.Context, err error) error {
	var se *StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrChanged), errors.Is(err, ErrBadResponse),
		errors.Is(err, ErrUnreachable), errors.Is(err, ErrTimeout), errors.As(err, &se):
		return err
	}
	if cerr := caller.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrTimeout, cerr)
		}
		return cerr
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The body ended before its Content-Length, or before the range.
		return fmt.Errorf("%w: body ended early: %w", ErrBadResponse, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
}

// retryable reports whether another attempt could succeed where this one
// failed: transport failures, attempt timeouts and 502/503/504. A bad
// response is retryable too, but the caller limits it to one retry.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusBadGateway || se.Code == http.StatusServiceUnavailable ||
			se.Code == http.StatusGatewayTimeout
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrBadResponse)
}
