package memory

// entry is one delivery waiting in a lane or in a consumer's batch. Entries
// of different subscriptions share the stored payload, which nobody writes.
type entry struct {
	payload  []byte
	producer int
	lane     int
	// pos is the entry's log index in its lane (partitioned mode): a copy
	// redelivered keeps it, a message stored twice has two.
	pos uint64
	// redelivered is the flag the consumer will see.
	redelivered bool
	// glue makes a queue-mode fetch take the next entry too, so that a
	// reordered message reaches the same consumer as its successor.
	glue bool
}

// deque is a ring buffer of entries. Lanes need both ends: deliveries leave
// from the front, and redeliveries go back to the front, ahead of what
// arrived since.
type deque struct {
	buf  []entry // length is zero or a power of two
	head int
	n    int
}

func (d *deque) len() int { return d.n }

func (d *deque) grow() {
	size := 2 * len(d.buf)
	if size == 0 {
		size = 64
	}
	buf := make([]entry, size)
	for i := range d.n {
		buf[i] = d.buf[(d.head+i)&(len(d.buf)-1)]
	}
	d.buf, d.head = buf, 0
}

func (d *deque) pushBack(e entry) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)&(len(d.buf)-1)] = e
	d.n++
}

func (d *deque) pushFront(e entry) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.head = (d.head - 1) & (len(d.buf) - 1)
	d.buf[d.head] = e
	d.n++
}

// popFront must not be called on an empty deque.
func (d *deque) popFront() entry {
	e := d.buf[d.head]
	d.buf[d.head] = entry{} // drop the payload reference for the collector
	d.head = (d.head + 1) & (len(d.buf) - 1)
	d.n--
	return e
}

// fromBack returns the i-th entry from the back (0 is the last); i < len.
func (d *deque) fromBack(i int) *entry {
	return &d.buf[(d.head+d.n-1-i)&(len(d.buf)-1)]
}
