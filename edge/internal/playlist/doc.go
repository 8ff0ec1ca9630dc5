// Package playlist reads HLS (RFC 8216) and DASH (ISO/IEC 23009-1)
// playlists for the segments they name, so that an edge can warm the first
// ones as a playlist passes through, and maps a reference onto the object
// key a player's request for it would have.
//
// It reads for references alone and guesses nothing: what cannot be
// mapped onto the playlist's own origin (an absolute URL to another host,
// a DASH $Time$ template) is skipped. It never fetches anything, and no
// playlist, however malformed, makes it panic or return more than asked.
package playlist
