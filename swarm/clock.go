package swarm

import "time"

// The swarm's clock: unix nanoseconds read from the monotonic clock, which
// costs about half of time.Now().UnixNano() here and cannot step backwards
// or forwards with the wall clock during a run.
var (
	clockBase   = time.Now()
	clockBaseNS = clockBase.UnixNano()
)

func clockNow() int64 { return clockBaseNS + int64(time.Since(clockBase)) }
