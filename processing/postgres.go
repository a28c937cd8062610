package processing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgStore keeps a run's processed keys and side effects in a database of
// their own on a PostgreSQL server, created at Open and dropped at Close.
type pgStore struct {
	url  string // the server, as given: the admin connection's database
	db   string
	keep bool
	pool *pgxpool.Pool
}

// pgSchema: processed has the unique key; effects is the side effect, one
// row per time it was made (no unique key: a second row is the business
// duplicate the checker counts).
const pgSchema = `
CREATE TABLE processed (sub integer NOT NULL, producer bigint NOT NULL, seq bigint NOT NULL,
  PRIMARY KEY (sub, producer, seq));
CREATE TABLE effects (id bigserial PRIMARY KEY, sub integer NOT NULL, producer bigint NOT NULL,
  seq bigint NOT NULL, consumer integer NOT NULL, at_ns bigint NOT NULL);`

// pgProcess records the key and makes the side effect in one statement,
// so one transaction: the effect row is written only when the key was
// new, and a crash before the commit leaves neither.
const pgProcess = `WITH p AS (INSERT INTO processed (sub, producer, seq) VALUES ($1, $2, $3)
  ON CONFLICT DO NOTHING RETURNING 1)
INSERT INTO effects (sub, producer, seq, consumer, at_ns) SELECT $1, $2, $3, $4, $5 FROM p`

// connectAdmin connects to the server at url ("" for the default) within
// connectTimeout; a server that does not answer is ErrUnreachable.
func connectAdmin(ctx context.Context, url string) (*pgx.Conn, string, error) {
	if url == "" {
		url = DefaultPostgresURL
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := pgx.Connect(cctx, url)
	if err != nil {
		return nil, url, fmt.Errorf("%w: postgres at %s: %w", ErrUnreachable, url, err)
	}
	return c, url, nil
}

func openPostgres(ctx context.Context, o Options) (Store, error) {
	admin, url, err := connectAdmin(ctx, o.URL)
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s := &pgStore{url: url, db: "mqcheck_" + sanitizeName(o.RunID), keep: o.Keep}
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{s.db}.Sanitize()); err != nil {
		return nil, fmt.Errorf("postgres at %s: creating database %s: %w", url, s.db, err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("postgres at %s: %w", url, err), s.drop(ctx))
	}
	cfg.ConnConfig.Database = s.db
	cfg.MaxConns = int32(max(2, o.Consumers+1))
	if s.pool, err = pgxpool.NewWithConfig(cctx, cfg); err == nil {
		_, err = s.pool.Exec(cctx, pgSchema)
	}
	if err != nil {
		if s.pool != nil {
			s.pool.Close()
		}
		return nil, errors.Join(fmt.Errorf("postgres at %s: creating tables in %s: %w", url, s.db, err), s.drop(ctx))
	}
	return s, nil
}

// sanitizeName keeps what a database name may hold unquoted.
func sanitizeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}

func (s *pgStore) Kind() string { return Postgres }

// Database names the run's database, for the report.
func (s *pgStore) Database() string { return s.db }

func (s *pgStore) Open(_ context.Context, consumer int) (Processor, error) {
	return &pgProc{s: s, consumer: int32(consumer)}, nil
}

func (s *pgStore) Effects(ctx context.Context, fn func([]Effect)) error {
	rows, err := s.pool.Query(ctx, "SELECT sub, producer, seq, at_ns FROM effects ORDER BY id")
	if err != nil {
		return fmt.Errorf("reading effects back from %s: %w", s.db, err)
	}
	defer rows.Close()
	const chunk = 4096
	batch := make([]Effect, 0, chunk)
	var sub int32
	var producer, seq, at int64
	for rows.Next() {
		if err := rows.Scan(&sub, &producer, &seq, &at); err != nil {
			return fmt.Errorf("reading effects back from %s: %w", s.db, err)
		}
		batch = append(batch, Effect{Key: Key{Sub: uint16(sub), Producer: uint32(producer), Seq: uint64(seq)}, At: at})
		if len(batch) == chunk {
			fn(batch)
			batch = batch[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading effects back from %s: %w", s.db, err)
	}
	if len(batch) > 0 {
		fn(batch)
	}
	return nil
}

func (s *pgStore) Close(ctx context.Context) error {
	s.pool.Close()
	if s.keep {
		return nil
	}
	return s.drop(ctx)
}

// drop removes the run's database, closing what is still connected to it.
func (s *pgStore) drop(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), connectTimeout)
	defer cancel()
	admin, _, err := connectAdmin(cctx, s.url)
	if err != nil {
		return fmt.Errorf("dropping database %s: %w", s.db, err)
	}
	defer admin.Close(cctx)
	if _, err := admin.Exec(cctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.db}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %s: %w", s.db, err)
	}
	return nil
}

type pgProc struct {
	s        *pgStore
	consumer int32
}

func (p *pgProc) Process(ctx context.Context, k Key, at int64, stop Point) (Outcome, error) {
	args := []any{int32(k.Sub), int64(k.Producer), int64(k.Seq)}
	if stop == AfterDedupe {
		// The key is written inside a transaction that dies with the
		// process: the server rolls it back, as if nothing happened.
		tx, err := p.s.pool.Begin(ctx)
		if err != nil {
			return 0, fmt.Errorf("processing %s: %w", k, err)
		}
		_, err = tx.Exec(ctx, "INSERT INTO processed (sub, producer, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", args...)
		return Stopped, errors.Join(err, tx.Rollback(ctx))
	}
	tag, err := p.s.pool.Exec(ctx, pgProcess, append(args, p.consumer, at)...)
	if err != nil {
		return 0, fmt.Errorf("processing %s: %w", k, err)
	}
	if tag.RowsAffected() == 0 {
		return Skipped, nil
	}
	return Applied, nil
}

func (p *pgProc) Close() error { return nil }

func pingPostgres(ctx context.Context, url string) error {
	c, _, err := connectAdmin(ctx, url)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}
