package engine

import (
	"context"
	"errors"
	"net/http"

	"github.com/edgecache/edgecache/origin"
)

// ErrOutside is a fill request for a chunk the object does not have.
var ErrOutside = errors.New("chunk index outside the object")

// StatusFor maps an error of the data path to the status and reason a
// player gets, or a peer that asked this node as a leader. It is the one
// place where that mapping lives.
func StatusFor(err error) (int, string) {
	var se *origin.StatusError
	var ue *UpstreamError
	switch {
	case errors.As(err, &ue):
		return ue.Status, ue.Reason
	case errors.Is(err, ErrNotCached):
		return http.StatusGatewayTimeout, "not cached, and the request said only-if-cached"
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
