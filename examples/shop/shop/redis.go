package shop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
)

// RedisCache is a Cache in Redis (go-redis); every command is a client
// span (redisotel) with db.system=redis.
type RedisCache struct {
	rdb *redis.Client
}

// NewRedisCache makes a client for addr, host:port or a redis:// URL. It
// connects lazily.
func NewRedisCache(addr string, opts ...Option) (*RedisCache, error) {
	o := buildOptions(opts)
	ro := &redis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		var err error
		if ro, err = redis.ParseURL(addr); err != nil {
			return nil, fmt.Errorf("shop: redis address: %w", err)
		}
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = 2*time.Second, time.Second, time.Second
	rdb := redis.NewClient(ro)
	if o.untraced {
		return &RedisCache{rdb: rdb}, nil
	}
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(o.tp)); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("shop: redis tracing: %w", err)
	}
	return &RedisCache{rdb: rdb}, nil
}

// Get reads key; found is false for a missing key.
func (c *RedisCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Set writes key with an expiry.
func (c *RedisCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return c.rdb.Set(ctx, key, value, ttl).Err()
}

// Close closes the client.
func (c *RedisCache) Close() error { return c.rdb.Close() }
