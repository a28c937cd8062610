package processing

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mqcheck/mqcheck/internal/testenv"
)

// openFor opens a store of kind for a test, skipping (or failing where
// stores are required) when its server is unreachable, and closes it at
// the end.
func openFor(t *testing.T, kind string) Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, Options{Kind: kind, RunID: fmt.Sprintf("t%d", time.Now().UnixNano()), Consumers: 2, TTL: time.Minute})
	if errors.Is(err, ErrUnreachable) {
		testenv.Optional(t, kind+" store", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func effects(t *testing.T, s Store) []Key {
	t.Helper()
	var out []Key
	if err := s.Effects(context.Background(), func(es []Effect) {
		for _, e := range es {
			if e.At != int64(e.Seq)*10 {
				t.Errorf("effect %v dated %d, want %d", e.Key, e.At, e.Seq*10)
			}
			out = append(out, e.Key)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStores: each store's answer to a repeat, to a repeat seen by another
// consumer, to a crash after the dedupe step, and what reads back.
func TestStores(t *testing.T) {
	a, b, c := Key{0, 1, 5}, Key{0, 1, 6}, Key{1, 1, 5}
	for _, tc := range []struct {
		kind string
		// outcomes of: a by consumer 0, a again by 0, a by consumer 1,
		// b stopped after dedupe by 0, b again by 0, c by 0
		want    []Outcome
		effects []Key
	}{
		{Postgres, []Outcome{Applied, Skipped, Skipped, Stopped, Applied, Applied}, []Key{a, b, c}},
		{Redis, []Outcome{Applied, Skipped, Skipped, Stopped, Skipped, Applied}, []Key{a, c}},
		{Memory, []Outcome{Applied, Skipped, Applied, Stopped, Skipped, Applied}, []Key{a, a, c}},
		{None, []Outcome{Applied, Applied, Applied, Stopped, Applied, Applied}, []Key{a, a, a, b, c}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := openFor(t, tc.kind)
			ctx := context.Background()
			p0, err := s.Open(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			p1, _ := s.Open(ctx, 1)
			steps := []struct {
				p    Processor
				k    Key
				stop Point
			}{{p0, a, NoCrash}, {p0, a, NoCrash}, {p1, a, NoCrash}, {p0, b, AfterDedupe}, {p0, b, NoCrash}, {p0, c, NoCrash}}
			var got []Outcome
			for _, st := range steps {
				o, err := st.p.Process(ctx, st.k, int64(st.k.Seq)*10, st.stop)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, o)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("outcomes %v, want %v", got, tc.want)
			}
			eff := effects(t, s)
			slices.SortFunc(eff, func(x, y Key) int { return cmpKey(x, y) })
			if !slices.Equal(eff, tc.effects) {
				t.Errorf("effects read back %v, want %v", eff, tc.effects)
			}
		})
	}
}

func cmpKey(x, y Key) int {
	switch {
	case x.Sub != y.Sub:
		return int(x.Sub) - int(y.Sub)
	case x.Producer != y.Producer:
		return int(x.Producer) - int(y.Producer)
	case x.Seq < y.Seq:
		return -1
	case x.Seq > y.Seq:
		return 1
	}
	return 0
}

// TestMemoryCrash: a new process of a crashed consumer knows nothing.
func TestMemoryCrash(t *testing.T) {
	s := openFor(t, Memory)
	ctx := context.Background()
	p, _ := s.Open(ctx, 0)
	k := Key{0, 0, 1}
	if o, _ := p.Process(ctx, k, 10, NoCrash); o != Applied {
		t.Fatalf("first: %v", o)
	}
	_ = p.Close()
	p, _ = s.Open(ctx, 0)
	if o, _ := p.Process(ctx, k, 10, NoCrash); o != Applied {
		t.Fatalf("after the crash: %v, want applied again", o)
	}
	if n := len(effects(t, s)); n != 2 {
		t.Fatalf("%d effects, want 2", n)
	}
}

// TestPostgresDropped: the run's database is gone after Close, and an
// unreachable server is ErrUnreachable, fast.
func TestPostgresDropped(t *testing.T) {
	ctx := context.Background()
	s := openFor(t, Postgres).(*pgStore)
	db := s.Database()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, DefaultPostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still there after Close", db)
	}
	s.keep = true // closed already: the cleanup's Close must not drop again
	start := time.Now()
	_, err = Open(ctx, Options{Kind: Postgres, URL: "postgres://postgres@127.0.0.1:1/postgres", RunID: "x"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("port 1: %v, want ErrUnreachable", err)
	}
	if time.Since(start) > 2*connectTimeout {
		t.Fatalf("took %s", time.Since(start))
	}
}

func TestParsePoint(t *testing.T) {
	for in, want := range map[string]Point{"": AfterEffect, "after-effect": AfterEffect, "after-dedupe": AfterDedupe} {
		if got, err := ParsePoint(in); err != nil || got != want {
			t.Errorf("ParsePoint(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePoint("before"); err == nil {
		t.Error("before: no error")
	}
}

func FuzzParseEffect(f *testing.F) {
	f.Add("0/1/2/3")
	f.Add("65535/4294967295/18446744073709551615/-9223372036854775808")
	f.Add("a/b")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEffect(s)
		if err != nil {
			return
		}
		if back, err := parseEffect(effectString(e)); err != nil || back != e {
			t.Fatalf("%q → %v → %q → %v, %v", s, e, effectString(e), back, err)
		}
	})
}
