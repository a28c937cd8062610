package processing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStore dedupes with SET key NX EX ttl before the side effect, which
// is an entry pushed onto a list of the same server: two commands, not
// one transaction, so a process that dies between them leaves the key set
// and the effect never made.
type redisStore struct {
	url    string
	prefix string
	ttl    time.Duration
	keep   bool
	c      *redis.Client
	// server is the private redis-server of target exec (nil: URL's).
	server *privateServer
}

// DefaultTTL is how long a redis dedupe key lives by default.
const DefaultTTL = time.Hour

func openRedis(ctx context.Context, o Options) (Store, error) {
	url := o.URL
	var server *privateServer
	if o.Exec {
		var err error
		if server, err = startRedisServer(ctx, o.Dir); err != nil {
			return nil, err
		}
		url = "redis://" + server.addr + "/0"
	}
	if url == "" {
		url = DefaultRedisURL
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("redis at %s: %w", url, err), server.stopIf())
	}
	opt.PoolSize = max(2, o.Consumers+1)
	c := redis.NewClient(opt)
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := c.Ping(cctx).Err(); err != nil {
		_ = c.Close()
		return nil, errors.Join(fmt.Errorf("%w: redis at %s: %w", ErrUnreachable, url, err), server.stopIf())
	}
	ttl := o.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &redisStore{url: url, prefix: "mqcheck:" + o.RunID + ":", ttl: ttl, keep: o.Keep, c: c, server: server}, nil
}

// stopIf stops s, if there is one.
func (s *privateServer) stopIf() error {
	if s == nil {
		return nil
	}
	return s.stop()
}

var _ Pauser = (*redisStore)(nil)

// Pause freezes the private server (target exec only).
func (s *redisStore) Pause(context.Context) error {
	if s.server == nil {
		return errors.New("pausing the redis store: mqcheck did not start its server (target exec)")
	}
	return s.server.pause()
}

// Resume lets the private server go on.
func (s *redisStore) Resume(context.Context) error {
	if s.server == nil {
		return errors.New("resuming the redis store: mqcheck did not start its server (target exec)")
	}
	return s.server.resume()
}

func (s *redisStore) Kind() string { return Redis }

func (s *redisStore) effects() string { return s.prefix + "effects" }

func (s *redisStore) Open(context.Context, int) (Processor, error) { return &redisProc{s: s}, nil }

func (s *redisStore) Effects(ctx context.Context, fn func([]Effect)) error {
	const chunk = 4096
	batch := make([]Effect, 0, chunk)
	for start := int64(0); ; start += chunk {
		vals, err := s.c.LRange(ctx, s.effects(), start, start+chunk-1).Result()
		if err != nil {
			return fmt.Errorf("reading effects back from %s: %w", s.effects(), err)
		}
		batch = batch[:0]
		for _, v := range vals {
			e, err := parseEffect(v)
			if err != nil {
				return fmt.Errorf("reading effects back from %s: %w", s.effects(), err)
			}
			batch = append(batch, e)
		}
		if len(batch) > 0 {
			fn(batch)
		}
		if len(vals) < chunk {
			return nil
		}
	}
}

// effectString is how an effect is pushed: "sub/producer/seq/at".
func effectString(e Effect) string { return e.Key.String() + "/" + strconv.FormatInt(e.At, 10) }

// parseEffect reads effectString's form.
func parseEffect(v string) (Effect, error) {
	parts := strings.Split(v, "/")
	if len(parts) != 4 {
		return Effect{}, fmt.Errorf("effect %q is not sub/producer/seq/at", v)
	}
	sub, err1 := strconv.ParseUint(parts[0], 10, 16)
	p, err2 := strconv.ParseUint(parts[1], 10, 32)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	at, err4 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return Effect{}, fmt.Errorf("effect %q is not sub/producer/seq/at", v)
	}
	return Effect{Key: Key{Sub: uint16(sub), Producer: uint32(p), Seq: seq}, At: at}, nil
}

// Close deletes the run's keys: the effects list, and the dedupe keys
// that have not expired yet.
func (s *redisStore) Close(ctx context.Context) error {
	defer s.c.Close()
	if s.server != nil {
		// A private server goes with its keys (SIGKILL works on a
		// paused one too).
		return s.server.stop()
	}
	if s.keep {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	iter := s.c.Scan(cctx, 0, s.prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		err := s.c.Unlink(cctx, keys...).Err()
		keys = keys[:0]
		return err
	}
	for iter.Next(cctx) {
		if keys = append(keys, iter.Val()); len(keys) >= 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("deleting the run's keys %s*: %w", s.prefix, err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("deleting the run's keys %s*: %w", s.prefix, err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("deleting the run's keys %s*: %w", s.prefix, err)
	}
	return nil
}

type redisProc struct{ s *redisStore }

func (p *redisProc) Process(ctx context.Context, k Key, at int64, stop Point) (Outcome, error) {
	ks := k.String()
	fresh, err := p.s.c.SetNX(ctx, p.s.prefix+"done:"+ks, 1, p.s.ttl).Result()
	if err != nil {
		return 0, fmt.Errorf("processing %s: %w", ks, err)
	}
	switch {
	case !fresh:
		return Skipped, nil
	case stop == AfterDedupe:
		return Stopped, nil
	}
	if err := p.s.c.RPush(ctx, p.s.effects(), effectString(Effect{Key: k, At: at})).Err(); err != nil {
		return 0, fmt.Errorf("processing %s: %w", ks, err)
	}
	return Applied, nil
}

func (p *redisProc) Close() error { return nil }

func pingRedis(ctx context.Context, url string) error {
	s, err := openRedis(ctx, Options{URL: url, Keep: true})
	if err != nil {
		return err
	}
	return s.(*redisStore).c.Close()
}
