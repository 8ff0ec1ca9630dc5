package disk

// The write queue's bookkeeping: what Put, Remove and RemoveGroup leave
// for the writer, and how they wake it.

// enqueue appends it to the queue; s.mu must be held.
func (s *Store) enqueue(it *item) {
	s.queue = append(s.queue, it)
	if it.kind == kindPut {
		s.queued += it.size
	}
}

// cancel marks a put that must not be indexed (superseded or removed)
// and takes it out of pending; s.mu must be held. A put still queued is
// skipped by the writer and its bytes leave the queue's count now.
func (s *Store) cancel(it *item) {
	if it.cancelled {
		return
	}
	it.cancelled = true
	if !it.taken {
		s.queued -= it.size
	}
	if s.pending[it.kh] == it {
		delete(s.pending, it.kh)
	}
}

// signal wakes the writer.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
