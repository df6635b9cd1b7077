package collector

import (
	"fmt"

	"github.com/hopscope/hopscope/collector/relay"
)

// relayedSources are the sources a relayed record may name: the
// receivers that take records in (not otlp, whose spans the gateway
// routes itself); any other is refused, so that a sender cannot add
// label values.
var relayedSources = map[string]bool{SrcForward: true, SrcALB: true, SrcIngress: true, SrcHAProxy: true, SrcRUM: true}

// addRelayed joins the records another replica relayed to this one, the
// owner of their trace, through the scale-out gateway (collector/relay),
// each under the source that took it in, as if this replica had read it.
// Spans named as relayed records that are not, or that name a source that
// does not relay, are refused and counted (source otlp, reason
// malformed), with the first reason in the rejection log.
func (c *Collector) addRelayed(items []relay.Item, bad int, firstErr error) {
	for _, it := range items {
		if !relayedSources[it.Source] {
			bad++
			if firstErr == nil {
				firstErr = fmt.Errorf("relayed record from source %q: not a source that relays", it.Source)
			}
			continue
		}
		c.addRecord(it.Source, it.Where, it.Record)
	}
	if bad > 0 {
		c.reject(SrcOTLP, "malformed", "relayed records", bad, firstErr)
	}
}
