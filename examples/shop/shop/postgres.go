package shop

import (
	"context"
	"errors"
	"fmt"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOrders reads orders from PostgreSQL with pgx; every query is a
// client span (otelpgx) with db.system.name=postgresql.
type PostgresOrders struct {
	pool *pgxpool.Pool
}

// NewPostgresOrders makes a connection pool for url. It connects lazily:
// a wrong address shows on the first query, not here.
func NewPostgresOrders(ctx context.Context, url string, opts ...Option) (*PostgresOrders, error) {
	o := buildOptions(opts)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("shop: database URL: %w", err)
	}
	if !o.untraced {
		cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithTracerProvider(o.tp))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("shop: postgres pool: %w", err)
	}
	return &PostgresOrders{pool: pool}, nil
}

// Pool is the connection pool, for Migrate.
func (p *PostgresOrders) Pool() *pgxpool.Pool { return p.pool }

// Close closes the pool.
func (p *PostgresOrders) Close() { p.pool.Close() }

// Get reads one order. A requested SQL delay is spent by pg_sleep inside
// the same query, so it shows in the query's span and in the database.
func (p *PostgresOrders) Get(ctx context.Context, id int) (Order, error) {
	var o Order
	var err error
	if d := DelaysFrom(ctx).SQL; d > 0 {
		// pg_sleep runs once per returned row: id is the primary key.
		err = p.pool.QueryRow(ctx,
			`SELECT id, item, amount_cents, pg_sleep($2) FROM orders WHERE id = $1`, id, d.Seconds(),
		).Scan(&o.ID, &o.Item, &o.AmountCents, nil)
	} else {
		err = p.pool.QueryRow(ctx,
			`SELECT id, item, amount_cents FROM orders WHERE id = $1`, id,
		).Scan(&o.ID, &o.Item, &o.AmountCents)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, fmt.Errorf("order %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Order{}, fmt.Errorf("order %d: %w", id, err)
	}
	return o, nil
}

// migrateLock is the advisory lock that serializes Migrate across replicas.
const migrateLock = 0x73686f70 // "shop"

// Migrate creates the orders table and seeds it with orders 1 to 10. It is
// idempotent and safe to run from several replicas at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			`SELECT pg_advisory_xact_lock(` + fmt.Sprint(migrateLock) + `)`,
			`CREATE TABLE IF NOT EXISTS orders (
				id           integer PRIMARY KEY,
				item         text    NOT NULL,
				amount_cents integer NOT NULL CHECK (amount_cents >= 0)
			)`,
			`INSERT INTO orders (id, item, amount_cents) VALUES
				(1, 'espresso beans, 1 kg', 2490),
				(2, 'pour-over kettle', 5900),
				(3, 'ceramic dripper', 2200),
				(4, 'paper filters, 100', 650),
				(5, 'hand grinder', 8900),
				(6, 'milk jug', 1800),
				(7, 'cold brew bottle', 2750),
				(8, 'scale, 0.1 g', 3400),
				(9, 'tamper', 2100),
				(10, 'cleaning tablets', 990)
			ON CONFLICT (id) DO NOTHING`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("shop: migrate: %w", err)
			}
		}
		return nil
	})
}
