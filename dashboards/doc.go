// Package dashboards holds hopscope's Grafana dashboards as code.
package dashboards

import _ "github.com/grafana/grafana-foundation-sdk/go/dashboard" // placeholder until the dashboards land
