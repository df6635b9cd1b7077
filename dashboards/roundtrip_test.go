package dashboards

import (
	"errors"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// TestJSONReadsBackStrictly reads each dashboard back into the SDK's
// model, strictly: no unknown field, no field of the wrong type, no
// required field missing.
func TestJSONReadsBackStrictly(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, d := range built(t) {
		var m dashboard.Dashboard
		err := m.UnmarshalJSONStrict(d.JSON)
		// The SDK returns an empty cog.BuildErrors for no error.
		var be cog.BuildErrors
		if errors.As(err, &be) && len(be) == 0 {
			err = nil
		}
		if err != nil {
			t.Errorf("%s: %v", d.UID, err)
		}
	}
}
