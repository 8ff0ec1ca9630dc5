package peerhttp

import (
	"encoding/json"
	"time"

	"github.com/edgecache/edgecache/edge/internal/engine"
	"github.com/edgecache/edgecache/edge/internal/peerwire"
)

// ObjectCodec is engine.ObjectCodec in the peer wire's words: an object
// kept on the disk is written as the push that gives a keeper a copy,
// and read back with the same checks a push from a peer gets.
type ObjectCodec struct{}

// EncodeObject writes o and its age as an object push.
func (ObjectCodec) EncodeObject(o *engine.Object, age time.Duration) ([]byte, error) {
	return json.Marshal(peerwire.ObjectPush{Object: *objectMessage(o), Age: int64(age)})
}

// DecodeObject reads an object push back.
func (ObjectCodec) DecodeObject(b []byte) (*engine.Object, time.Duration, error) {
	p, err := peerwire.DecodeObjectPush(b)
	if err != nil {
		return nil, 0, err
	}
	return objectFrom(&p.Object), time.Duration(p.Age), nil
}
