package k8smeta

import (
	"errors"
	"fmt"
	"time"
)

// Config says what the cache watches and how much it keeps.
type Config struct {
	// Namespaces are the namespaces whose EndpointSlices and Pods are
	// watched (--kube-metadata-namespaces); empty = all. Nodes are
	// cluster-wide.
	Namespaces []string
	// History is how long the state of an address is remembered after it
	// changed or went away (--kube-metadata-history): a log line timed
	// within it gets the state at its time.
	History time.Duration
	// MaxAddresses bounds the addresses tracked; past it new addresses
	// are not tracked and are counted (--kube-metadata-max-addresses).
	MaxAddresses int
	// MaxChanges bounds the changes remembered per address (the oldest
	// go first).
	MaxChanges int
	// Resync is the informers' resync period; 0 = none.
	Resync time.Duration
	// SyncTimeout bounds Start's wait for the first lists: an API server
	// out of reach or RBAC missing fails the start instead of hanging it.
	SyncTimeout time.Duration
}

// DefaultConfig watches all namespaces and remembers 10 minutes (the
// collector's --window) of at most 200,000 addresses.
func DefaultConfig() Config {
	return Config{History: 10 * time.Minute, MaxAddresses: 200_000, MaxChanges: 8, SyncTimeout: time.Minute}
}

// Validate names the flag of each bad field.
func (c Config) Validate() error {
	var errs []error
	if c.History <= 0 {
		errs = append(errs, fmt.Errorf("--kube-metadata-history: must be positive, got %s", c.History))
	}
	if c.MaxAddresses <= 0 {
		errs = append(errs, fmt.Errorf("--kube-metadata-max-addresses: must be positive, got %d", c.MaxAddresses))
	}
	if c.MaxChanges <= 0 {
		errs = append(errs, fmt.Errorf("k8smeta MaxChanges: must be positive, got %d", c.MaxChanges))
	}
	if c.SyncTimeout <= 0 {
		errs = append(errs, fmt.Errorf("k8smeta SyncTimeout: must be positive, got %s", c.SyncTimeout))
	}
	for _, ns := range c.Namespaces {
		if ns == "" {
			errs = append(errs, errors.New("--kube-metadata-namespaces: empty namespace name"))
		}
	}
	return errors.Join(errs...)
}
