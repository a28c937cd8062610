package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker/redis"
	iproc "github.com/mqcheck/mqcheck/internal/proc"
	"github.com/mqcheck/mqcheck/internal/testenv"
	"github.com/mqcheck/mqcheck/report"
)

func requireRedis(t *testing.T) {
	t.Helper()
	_, err := redis.FindServer()
	testenv.Require(t, "redis", err)
}

// noticeCounts sums the first number after prefix in res's notices of kind.
func noticeCounts(res *report.Results, kind, prefix string) (total, n int) {
	re := regexp.MustCompile(regexp.QuoteMeta(prefix) + `(\d+)`)
	for _, d := range notices(res, kind) {
		if m := re.FindStringSubmatch(d); m != nil {
			v, _ := strconv.Atoi(m[1])
			total += v
			n++
		}
	}
	return total, n
}

// redisClaimed: a consumer crashed with its last read pending (a full read
// of count entries when the backlog holds that many, as the scenarios
// arrange; fewer on a machine too busy to build the backlog), and the
// survivors claimed every one of them (XAUTOCLAIM), flagged: the crashed
// read's processed entries come twice, every copy flagged redelivered.
func redisClaimed(count int) func(*report.Results) []string {
	return func(r *report.Results) []string {
		var out []string
		pending, crashes := noticeCounts(r, "crashed", "with ")
		claimed, _ := noticeCounts(r, "claimed", "claimed ")
		if crashes != 1 || pending < 1 || pending > count || claimed != pending {
			out = append(out, fmt.Sprintf("%d crashes with %d entries pending, %d claimed: want one crash with 1 to %d pending, all claimed (notices %v)",
				crashes, pending, claimed, count, r.Notices))
		}
		if c := r.Counts; c.Duplicated == 0 || c.Duplicated != c.DuplicatedRedelivered || c.Duplicated > uint64(pending) {
			out = append(out, fmt.Sprintf("duplicated %d, flagged redelivered %d: want the crashed read's processed entries (1 to %d) again, every one flagged",
				c.Duplicated, c.DuplicatedRedelivered, pending))
		}
		return out
	}
}

// redisGroupRecreated: the server came back empty and a consumer made its
// group again.
func redisGroupRecreated(r *report.Results) []string {
	if len(notices(r, "group-recreated")) == 0 {
		return []string{"no group-recreated notice: the restarted server kept the group, or no consumer noticed it was gone"}
	}
	return nil
}

// redisKill is a kill -9 of a private server while its consumer lags (a
// network delay), with the persistence settings given. The drain ends
// once everything has arrived (3s here, beside two spinning processes);
// its 30s bound is for CI's race-instrumented runs, where 10s once ended
// with thousands still to come.
const redisKill = `name: redis-kill
duration: 6s
drain_timeout: 30s
broker:
  kind: redis
  target: exec
  redis: {count: 50, %s}
producers: {count: 2, rate: 2k/s, message_size: 256}
consumers: {count: 1}
claims: [at-least-once]
faults:
  - {kind: latency, at: 1s, for: 2s, latency: 30ms}
  - {kind: restart, at: 2500ms, for: 500ms}
`

// TestRedisKillPersistence: what a kill -9 of redis-server costs, per
// persistence setting. Without persistence every acked entry not yet
// consumed is lost (at-least-once fails, the group made again). With the
// AOF, even appendfsync everysec or no keeps everything: a kill -9 ends the
// process, not the kernel, and Redis write()s the AOF before it answers, so
// the page cache holds every acknowledged entry (what everysec risks is a
// machine crash, which no test here makes).
func TestRedisKillPersistence(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	for _, tc := range []struct {
		name, settings string
		code           int
		lost           bool
	}{
		{"none", `appendonly: false, save: ""`, exitFail, true},
		{"aof-everysec", `appendonly: true, appendfsync: everysec`, exitPass, false},
		{"aof-no", `appendonly: true, appendfsync: "no"`, exitPass, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, res := runScenario(t, fmt.Sprintf(redisKill, tc.settings))
			c := res.Counts
			t.Logf("%s: exit %d, acked %d, received %d, lost %d, indeterminate %d, drain %d ms", tc.name, code, c.Acked, c.Unique, c.Lost, c.Indeterminate, res.Drain.DurationMS)
			// everysec: Redis may postpone the AOF write (not only the
			// fsync) while a background fsync is slow, and still answer: a
			// kill -9 on a busy disk then lost 51 acknowledged entries. Loss
			// is allowed there; a pass with a loss never is.
			if tc.name == "aof-everysec" && c.Lost > 0 {
				tc.code, tc.lost = exitFail, true
			}
			if code != tc.code || claimOf(t, res, "at-least-once") != map[bool]string{true: "fail", false: "pass"}[tc.lost] {
				t.Errorf("exit %d, at-least-once %s: want exit %d", code, claimOf(t, res, "at-least-once"), tc.code)
			}
			if !res.Drain.Complete || c.Unaccounted != 0 {
				t.Errorf("drain %+v, unaccounted %d: want a complete drain", res.Drain, c.Unaccounted)
			}
			if tc.lost {
				// Lost is exactly what was acked and never received.
				if c.Lost == 0 || c.Lost != c.Acked-c.Unique+c.Recovered {
					t.Errorf("lost %d of %d acked, %d received: want every acked entry not consumed at the kill lost", c.Lost, c.Acked, c.Unique)
				}
				if tc.name == "none" {
					for _, p := range redisGroupRecreated(res) {
						t.Error(p)
					}
				}
			} else if c.Lost != 0 || c.Duplicated != c.DuplicatedRedelivered {
				// A read whose XACK the kill cut off comes again: flagged.
				t.Errorf("lost %d, duplicated %d (flagged %d): want nothing lost, every duplicate flagged redelivered", c.Lost, c.Duplicated, c.DuplicatedRedelivered)
			}
		})
	}
}

const redisCrash = `name: redis-crash
duration: 5s
drain_timeout: %s
broker:
  kind: redis
  target: exec
  redis: {count: 500, %s}
producers: {count: 3, rate: 3k/s, message_size: 256}
consumers: {count: 2}
claims: [at-least-once]
faults:
  - {kind: latency, at: 500ms, for: 3500ms, latency: 100ms}
  - {kind: consumer-crash, at: 3s, client: 0}
`

// TestRedisConsumerCrash: a consumer crashes with a full read of 500
// entries pending. With XAUTOCLAIM (min_idle 2s) the other consumer claims
// all 500, flagged, and nothing is lost; without it they stay pending: the
// backlog never comes to 0, those not processed before the crash are
// unaccounted and the verdict is unknown (exit 3), never pass.
func TestRedisConsumerCrash(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	t.Run("autoclaim", func(t *testing.T) {
		t.Parallel()
		code, res := runScenario(t, fmt.Sprintf(redisCrash, "10s", "autoclaim: true, min_idle: 2s"))
		if code != exitPass || claimOf(t, res, "at-least-once") != "pass" {
			t.Errorf("exit %d: want a pass", code)
		}
		for _, p := range append(nothingLost(res), redisClaimed(500)(res)...) {
			t.Error(p)
		}
	})
	t.Run("no-autoclaim", func(t *testing.T) {
		t.Parallel()
		code, res := runScenario(t, fmt.Sprintf(redisCrash, "8s", "autoclaim: false"))
		if code != exitInfra || claimOf(t, res, "at-least-once") != "unknown" {
			t.Errorf("exit %d, at-least-once %s: want unknown (exit %d)", code, claimOf(t, res, "at-least-once"), exitInfra)
		}
		pending, crashes := noticeCounts(res, "crashed", "with ")
		c := res.Counts
		t.Logf("crashed with %d pending; unaccounted %d", pending, c.Unaccounted)
		// The crashed read's entries after the one it crashed on were never
		// processed: they are what is missing, and nothing else; the one it
		// crashed on was received, and stays pending too, so the backlog
		// never comes to 0.
		if crashes != 1 || pending < 1 || pending > 500 || c.Unaccounted >= uint64(pending) || c.Lost != 0 || res.Drain.Complete {
			t.Errorf("%d crashes with %d pending; unaccounted %d, lost %d, drain %+v: want up to 500 pending, fewer unaccounted at an incomplete drain",
				crashes, pending, c.Unaccounted, c.Lost, res.Drain)
		}
		if claimed, _ := noticeCounts(res, "claimed", "claimed "); claimed != 0 {
			t.Errorf("%d entries claimed with autoclaim off", claimed)
		}
	})
}

// TestRedisMaxLen: MAXLEN 1000 with a consumer slower than the producer:
// the trimmed entries nobody read are lost, and a notice says the loss is
// by policy, with the number trimmed, which bounds the number lost.
func TestRedisMaxLen(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	code, res := runScenario(t, `name: redis-maxlen
duration: 4s
drain_timeout: 10s
broker:
  kind: redis
  target: exec
  redis: {maxlen: 1000, count: 20}
producers: {count: 1, rate: 2k/s, message_size: 256}
consumers: {count: 1}
claims: [at-least-once]
faults:
  - {kind: latency, at: 1s, for: 2s, latency: 20ms}
`)
	c := res.Counts
	trimmed, n := noticeCounts(res, "trimmed", "trimmed ")
	t.Logf("exit %d: acked %d, received %d, lost %d, trimmed %d", code, c.Acked, c.Unique, c.Lost, trimmed)
	if code != exitFail || claimOf(t, res, "at-least-once") != "fail" {
		t.Errorf("exit %d: want a fail", code)
	}
	if n != 1 || c.Lost == 0 || c.Lost > uint64(trimmed) || c.Lost != c.Acked-c.Unique || !res.Drain.Complete {
		t.Errorf("%d trimmed notices (%d trimmed), lost %d of %d acked, received %d: want one notice, and every acked entry not received lost, no more than were trimmed",
			n, trimmed, c.Lost, c.Acked, c.Unique)
	}
	for _, d := range notices(res, "trimmed") {
		if !strings.Contains(d, "lost by policy") {
			t.Errorf("notice %q does not say the loss is by policy", d)
		}
	}
}

// TestRedisRefused: bad input is a scenario error (exit 2) for validate and
// run alike, naming the field.
func TestRedisRefused(t *testing.T) {
	t.Parallel()
	const load = "duration: 1s\nproducers: {count: 1, rate: 100/s, message_size: 100}\nconsumers: {count: 1}\n"
	for _, tc := range []struct{ name, broker, want string }{
		{"appendfsync sometimes", "{kind: redis, redis: {appendonly: true, appendfsync: sometimes}}", "broker.redis.appendfsync"},
		{"min_idle 0 with autoclaim", "{kind: redis, redis: {autoclaim: true, min_idle: 0s}}", "broker.redis.min_idle"},
		{"negative maxlen", "{kind: redis, redis: {maxlen: -5}}", "broker.redis.maxlen"},
		{"count 0", "{kind: redis, redis: {count: 0}}", "broker.redis.count"},
		{"database on a cluster", "{kind: redis, url: 'redis://127.0.0.1:1/3', redis: {cluster: true}}", "broker.url"},
		{"persistence on miniredis", "{kind: redis, target: embedded, redis: {appendonly: true}}", "broker.redis.appendonly"},
		{"dead-letter", "{kind: redis}\nconsumers: {count: 1, fail_fraction: 0.1, fail_action: dead-letter}", "consumers.fail_action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := "broker: " + tc.broker + "\n" + load
			if strings.Contains(tc.broker, "consumers:") {
				body = strings.Replace(body, "consumers: {count: 1}\n", "", 1)
			}
			file := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "run")
			for _, cmd := range []string{"validate", "run"} {
				code, _, errOut := mqcheck(t, cmd, file, "--out", out, "-q")
				if cmd == "validate" {
					code, _, errOut = mqcheck(t, cmd, file)
				}
				if code != exitUsage || !strings.Contains(errOut, tc.want) {
					t.Errorf("%s: exit %d, %q: want exit %d naming %s", cmd, code, errOut, exitUsage, tc.want)
				}
			}
		})
	}
}

// The drain ends once the broker holds nothing; its timeout only bounds
// a slow machine (10 s ran out twice in CI on a loaded host).
const redisReplica = `name: redis-replica
duration: 6s
drain_timeout: 30s
broker:
  kind: redis
  target: exec
  redis: {count: 50, replicas: 1, %s}
producers: {count: 2, rate: 2k/s, message_size: 256}
consumers: {count: 1}
claims: [at-least-once]
faults:
  - {kind: latency, at: 1s, for: 2s, latency: 30ms}
  - {kind: restart, at: 2500ms, for: 500ms, node: 0}
`

// TestRedisReplica: a primary without persistence and one replica, the
// primary killed -9 under load. Without failover the primary comes back
// empty and the replica syncs from it: the replica saves nothing, every
// acked entry not consumed is lost. With failover and WAIT 1 the replica
// is promoted, clients follow it, and what WAIT confirmed survives: lost
// 0; the entries written while the new primary had no replica yet are
// indeterminate, not acked.
func TestRedisReplica(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	for _, tc := range []struct {
		name, settings string
		failover       bool
	}{
		{"no-failover", "failover: false", false},
		{"failover-wait", "failover: true, wait_replicas: 1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, res := runScenario(t, fmt.Sprintf(redisReplica, tc.settings))
			c := res.Counts
			t.Logf("%s: exit %d, acked %d, received %d, lost %d, indeterminate %d (recovered %d)", tc.name, code, c.Acked, c.Unique, c.Lost, c.Indeterminate, c.Recovered)
			if got := len(notices(res, "failover")); (got == 1) != tc.failover {
				t.Errorf("%d failover notices, want failover %v", got, tc.failover)
			}
			if !res.Drain.Complete {
				t.Errorf("drain %+v: want complete", res.Drain)
			}
			if tc.failover {
				if code != exitPass || c.Lost != 0 {
					t.Errorf("exit %d, lost %d: want a pass, nothing lost", code, c.Lost)
				}
				return
			}
			if code != exitFail || c.Lost == 0 || c.Lost != c.Acked-(c.Unique-c.Recovered) {
				t.Errorf("exit %d, lost %d of %d acked, %d received: want every acked entry not consumed lost", code, c.Lost, c.Acked, c.Unique)
			}
		})
	}
}

// TestRedisPubSub: mode pubsub is at most once. Two subscriptions of one
// subscriber each; subscriber 0 crashes under a network delay and
// subscribes again: what was published in between is lost to its
// subscription alone, in one run of sequence numbers, and nothing is
// received twice.
func TestRedisPubSub(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	code, res := runScenario(t, `name: redis-pubsub
duration: 4s
drain_timeout: 5s
broker:
  kind: redis
  target: exec
  redis: {mode: pubsub}
producers: {count: 1, rate: 2k/s, message_size: 256}
consumers: {count: 1, subscriptions: 2}
claims: [at-least-once, at-most-once]
faults:
  - {kind: latency, at: 1s, for: 2s, latency: 50ms}
  - {kind: consumer-crash, at: 2s, client: 0}
`)
	c := res.Counts
	t.Logf("exit %d: acked %d, received %d, lost %d", code, c.Acked, c.Received, c.Lost)
	if code != exitFail || claimOf(t, res, "at-least-once") != "fail" || claimOf(t, res, "at-most-once") != "pass" {
		t.Errorf("exit %d: want at-least-once to fail and at-most-once to pass", code)
	}
	if c.Lost == 0 || c.Duplicated != 0 || c.Received+c.Lost != 2*c.Acked || !res.Drain.Complete {
		t.Errorf("lost %d, duplicated %d, received %d of 2×%d: want a loss, no duplicate, every message received or lost", c.Lost, c.Duplicated, c.Received, c.Acked)
	}
	lost := res.Examples["lost"]
	if len(lost) != 1 || lost[0].Subscription != "sub-0" || lost[0].SeqEnd-lost[0].Seq+1 != c.Lost {
		t.Errorf("lost %d as %+v: want one run of sequence numbers, in sub-0 only", c.Lost, lost)
	}
}

// TestSIGKILLLeavesNoRedis: mqcheck killed with -9 in the middle of the
// load leaves neither its private redis-server nor the replica behind.
func TestSIGKILLLeavesNoRedis(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	file := writeScenario(t, `name: killed-redis
duration: 60s
broker: {kind: redis, target: exec, redis: {replicas: 1}}
producers: {count: 1, rate: 500/s, message_size: 100}
consumers: {count: 1}
`)
	out, state := t.TempDir(), t.TempDir()
	p := startMQCheckIn(t, "", []string{iproc.StateDirEnv + "=" + state}, "run", file, "--out", out)
	t.Cleanup(func() {
		for _, r := range append(processesUnder(out), carriers(t, state)...) {
			_ = syscall.Kill(r.pid, syscall.SIGKILL)
		}
	})
	p.waitLine(t, regexp.MustCompile(`^ +5s/60s`), time.Minute)
	before := processesUnder(out)
	if n := len(before); n != 2 {
		t.Fatalf("want the primary and the replica running before the kill, have %v", before)
	}
	p.signal(t, syscall.SIGKILL)
	p.wait(t, 10*time.Second)
	var left []running
	deadline := time.Now().Add(20 * time.Second)
	for {
		left = append(processesUnder(out), carriers(t, state)...)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("still running 20s after mqcheck was killed: %v", left)
	}
}
