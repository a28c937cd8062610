package broker

// InFlightOverhead is what the swarm keeps per message in flight beside its
// payload (the message, its completion, its place in an event batch), in
// bytes: the capacity check and SharedWindow count it.
const InFlightOverhead = 128

// closedLoopShare is what the producers of a closed-loop run keep in flight
// together by default, in bytes of payload and InFlightOverhead, unless one
// producer's own window is more: the run is bound by one process's CPU, so
// the messages in flight that reach its speed do not grow with the number
// of producers, while their memory would.
const closedLoopShare = 32 << 20

// minSharedWindow keeps a producer from waiting for its completions every
// few messages.
const minSharedWindow = 16

// SharedWindow is the default in-flight window of each of producers in a
// closed loop whose client needs window to reach its speed: window, unless
// producers × window messages of messageSize would keep more than
// max(32 MiB, one producer's window) in flight, then that shared out (at
// least 16 each). 1,000 producers of 100 B messages get 147 each instead
// of 1,000 (228 MB in flight); one Kafka producer keeps its 50,000.
func SharedWindow(window, producers, messageSize int) int {
	if producers <= 1 || window <= minSharedWindow {
		return window
	}
	cost := int64(max(messageSize, 0)) + InFlightOverhead
	total := max(int64(window)*cost, closedLoopShare)
	per := total / cost / int64(producers)
	return int(min(int64(window), max(per, minSharedWindow)))
}
