package edge

import (
	"context"
	"errors"
	"net/http"

	"github.com/edgecache/edgecache/origin"
)

// errChanged: the origin's object changed under a read. Before any byte is
// sent the edge looks it up again; after, the response is cut.
var errChanged = origin.ErrChanged

// statusFor maps an error of the data path to the status and reason a
// player gets. It is the one place where that mapping lives.
func statusFor(err error) (int, string) {
	var se *origin.StatusError
	var ue *upstreamError
	switch {
	case errors.As(err, &ue):
		return ue.status, ue.reason
	case errors.Is(err, errNotFoundCached):
		return http.StatusNotFound, "not found at the origin"
	case errors.As(err, &se) && se.Err == nil && se.Code >= 400 && se.Code < 500:
		// The origin refused (401, 403, 451...): the player should see
		// the origin's answer, not a gateway failure.
		return se.Code, "the origin answered " + http.StatusText(se.Code)
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "the edge is shutting down"
	}
	// Everything else is an origin failure: the origin package says which
	// status it deserves, so the two cannot disagree.
	switch code := origin.HTTPStatus(err); code {
	case http.StatusNotFound:
		return code, "not found at the origin"
	case http.StatusGatewayTimeout:
		return code, "the origin did not answer in time"
	default:
		if errors.Is(err, origin.ErrUnreachable) {
			return code, "the origin is unreachable"
		}
		return code, "the origin's answer was unusable"
	}
}
