package engine

import (
	"context"
	"encoding/binary"
	"time"
)

// ObjectCodec turns a stored object and its age into bytes and back, so
// that the disk tier can keep the objects this node stores: a node that
// restarts on its disk then answers what an object is without asking its
// keepers or the origin, as a member that never left. The edge supplies
// the peer wire's encoding; the engine declares only what it calls.
type ObjectCodec interface {
	EncodeObject(o *Object, age time.Duration) ([]byte, error)
	// DecodeObject refuses bytes that describe no valid object.
	DecodeObject(b []byte) (*Object, time.Duration, error)
}

// objectDiskKey names key's object on the disk. Chunk and shard entries
// begin with a length in digits (chunk.Key.String), so no key of theirs
// begins with "o/".
func objectDiskKey(key string) string { return "o/" + key }

// savedAtLen is the record's prefix: when it was written, Unix
// nanoseconds, so that a record read back adds the time it rested to the
// object's age.
const savedAtLen = 8

// saveObject writes o through to the disk, filed under its key, so that a
// purge of the key removes it with the key's chunks. Only responses that
// do not vary are kept: a variant is found by the Vary fields of a
// response already known, which the disk would have to index as well;
// variants are looked up again after a restart.
func (e *Engine) saveObject(o *Object) {
	if e.cfg.Disk == nil || e.cfg.Objects == nil || o.Pass || len(o.Vary) > 0 {
		return
	}
	now := e.now()
	b, err := e.cfg.Objects.EncodeObject(o, o.Fresh.Age(now))
	if err != nil {
		e.log.Warn("object not written to the disk", "key", o.Key, "err", err)
		return
	}
	rec := make([]byte, savedAtLen, savedAtLen+len(b))
	binary.BigEndian.PutUint64(rec, uint64(now.UnixNano()))
	e.cfg.Disk.Put(objectDiskKey(o.Key), o.Key, append(rec, b...))
}

// objectFromDisk reads the object of req's key from the disk after a miss
// of the metadata cache, and publishes it unless a purge of the key
// overtook the read. The read is bounded as diskBound says: a slow disk
// costs a lookup no more than a slow peer would, unless only the origin
// could answer instead (patient: this node leads the key). Nil: none
// usable.
func (e *Engine) objectFromDisk(ctx context.Context, req *Request, patient bool) *Object {
	if e.cfg.Disk == nil || e.cfg.Objects == nil {
		return nil
	}
	gen := e.fence.Epoch()
	d := e.cfg.Disk
	rec, ok := boundedRead(e, ctx, d, objectDiskKey(req.Key), patient, d.Get)
	if !ok || len(rec) < savedAtLen {
		return nil
	}
	o, age, err := e.cfg.Objects.DecodeObject(rec[savedAtLen:])
	if err != nil || o.Key != req.Key || o.Pass || len(o.Vary) > 0 {
		if err != nil {
			e.log.Warn("unreadable object on the disk dropped", "key", req.Key, "err", err)
		}
		e.cfg.Disk.Remove(objectDiskKey(req.Key))
		return nil
	}
	now := e.now()
	rested := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(rec))))
	o.Fresh.InitialAge, o.Fresh.ResponseTime = age+max(rested, 0), now
	o.gen = gen
	if !e.fence.Admit(o.Key, gen, func() { e.objects.put(o) }) {
		return nil
	}
	e.stats.objectsFromDisk.Add(1)
	return o
}

// forgetObjectOnDisk drops key's object from the disk.
func (e *Engine) forgetObjectOnDisk(key string) {
	if e.cfg.Disk != nil && e.cfg.Objects != nil {
		e.cfg.Disk.Remove(objectDiskKey(key))
	}
}
