package contract

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	semconvold "go.opentelemetry.io/otel/semconv/v1.20.0"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"google.golang.org/grpc/codes"
)

func TestSemconvNames(t *testing.T) {
	for _, tc := range semconvNames {
		if tc.ours != tc.semconv {
			t.Errorf("%q: the semantic conventions spell it %q", tc.ours, tc.semconv)
		}
	}
}

// semconvNames are the contract's names of the semantic conventions and
// the conventions' own spelling.
var semconvNames = []struct{ ours, semconv string }{
	{AttrServiceName, string(semconv.ServiceNameKey)},
	{AttrK8sNamespaceName, string(semconv.K8SNamespaceNameKey)},
	{AttrK8sDeploymentName, string(semconv.K8SDeploymentNameKey)},
	{AttrHTTPRequestMethod, string(semconv.HTTPRequestMethodKey)},
	{AttrHTTPRequestMethodOrig, string(semconv.HTTPRequestMethodOriginalKey)},
	{AttrHTTPRoute, string(semconv.HTTPRouteKey)},
	{AttrHTTPResponseStatusCode, string(semconv.HTTPResponseStatusCodeKey)},
	{AttrHTTPResponseBodySize, string(semconv.HTTPResponseBodySizeKey)},
	{AttrURLPath, string(semconv.URLPathKey)},
	{AttrURLQuery, string(semconv.URLQueryKey)},
	{AttrURLScheme, string(semconv.URLSchemeKey)},
	{AttrURLFull, string(semconv.URLFullKey)},
	{AttrClientAddress, string(semconv.ClientAddressKey)},
	{AttrUserAgentOriginal, string(semconv.UserAgentOriginalKey)},
	{AttrServerAddress, string(semconv.ServerAddressKey)},
	{AttrServerPort, string(semconv.ServerPortKey)},
	{AttrNetworkPeerAddress, string(semconv.NetworkPeerAddressKey)},
	{AttrNetworkProtocolVersion, string(semconv.NetworkProtocolVersionKey)},
	{AttrErrorType, string(semconv.ErrorTypeKey)},
	{AttrTLSProtocolVersion, string(semconv.TLSProtocolVersionKey)},
	{AttrDBSystemName, string(semconv.DBSystemNameKey)},
	{AttrDBOperationName, string(semconv.DBOperationNameKey)},
	{AttrDBQueryText, string(semconv.DBQueryTextKey)},
	{AttrDBOperationBatchSize, string(semconv.DBOperationBatchSizeKey)},
	{AttrDBNamespace, string(semconv.DBNamespaceKey)},
	{AttrDBQuerySummary, string(semconv.DBQuerySummaryKey)},
	{AttrDBResponseStatusCode, string(semconv.DBResponseStatusCodeKey)},
	{AttrRPCSystem, string(semconv.RPCSystemKey)},
	{AttrRPCMethod, string(semconv.RPCMethodKey)},
	{AttrRPCGRPCStatusCode, string(semconv.RPCGRPCStatusCodeKey)},
	{DBSystemPostgreSQL, semconv.DBSystemNamePostgreSQL.Value.AsString()},
	{DBSystemRedis, semconv.DBSystemNameRedis.Value.AsString()},

	{AttrHTTPMethodOld, string(semconvold.HTTPMethodKey)},
	{AttrHTTPStatusCodeOld, string(semconvold.HTTPStatusCodeKey)},
	{AttrHTTPURLOld, string(semconvold.HTTPURLKey)},
	{AttrNetPeerNameOld, string(semconvold.NetPeerNameKey)},
	{AttrNetPeerPortOld, string(semconvold.NetPeerPortKey)},
	{AttrDBSystemOld, string(semconvold.DBSystemKey)},
	{AttrDBOperationOld, string(semconvold.DBOperationKey)},
	{AttrDBStatementOld, string(semconvold.DBStatementKey)},
}

// TestAttributesInRegistryOrNamespaced: every span attribute key of the
// contract (its Attr… constants, read from attributes.go) is one of the
// semantic conventions' (checked above against the registry's Go
// package), or hopscope's own under hopscope.*; a name from before a move
// under hopscope.* ends in Old (issue 12: network.io.*_bytes and
// db.postgresql.error.severity were neither).
func TestAttributesInRegistryOrNamespaced(t *testing.T) {
	inRegistry := map[string]bool{}
	for _, tc := range semconvNames {
		inRegistry[tc.semconv] = true
	}
	f, err := parser.ParseFile(token.NewFileSet(), "attributes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Attr") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, _ := strconv.Unquote(lit.Value)
				n++
				switch {
				case strings.HasSuffix(name.Name, "Old"):
				case inRegistry[key]:
				case strings.HasPrefix(key, "hopscope."):
				default:
					t.Errorf("%s = %q: neither in the semantic conventions' registry nor under hopscope.*", name.Name, key)
				}
			}
		}
	}
	if n < 40 {
		t.Errorf("read %d attribute keys from attributes.go; the parse missed some", n)
	}
}

func TestOwnAttributesAreNamespaced(t *testing.T) {
	for _, k := range []string{AttrNetworkIOSentBytes, AttrNetworkIOReceivedBytes, AttrPostgreSQLSeverity, AttrDBAuthMethod, AttrDBConnectionSetup, AttrComponent, AttrVersion, AttrRequestID, AttrXRayRoot, AttrQueueTimeMS,
		AttrAppDurationMS, AttrOverheadMS, AttrAppStartMS, AttrPropagation, AttrBackend, AttrAttribution,
		AttrHTTPDNSMS, AttrHTTPConnectMS, AttrHTTPTLSMS, AttrHTTPTTFBMS, AttrHTTPBodyMS, AttrHTTPAttempts,
		AttrHTTPConnReused, AttrHTTPTunnelMS, AttrSynthetic, AttrHop, AttrSource, AttrDurationMS} {
		if !strings.HasPrefix(k, "hopscope.") {
			t.Errorf("%q: hopscope's own attributes start with hopscope.", k)
		}
	}
}

// promName is Prometheus's metric and label name syntax.
var promName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func TestMetricNames(t *testing.T) {
	seen := map[string]bool{}
	parts := map[Part]int{}
	for _, m := range Metrics() {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		parts[m.Part]++
		for _, l := range m.Labels {
			if !promName.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" || l == "quantile" {
				t.Errorf("%s: label %q", m.Name, l)
			}
		}
		if !promName.MatchString(m.Name) || !strings.HasPrefix(m.Name, "hopscope_") {
			t.Errorf("%s: not a hopscope_ metric name", m.Name)
		}
		// Prometheus's naming conventions: counters end in _total, a
		// histogram's name carries its unit.
		switch m.Type {
		case Counter:
			if !strings.HasSuffix(m.Name, "_total") {
				t.Errorf("counter %s does not end in _total", m.Name)
			}
		case Histogram:
			if !strings.HasSuffix(m.Name, "_seconds") {
				t.Errorf("histogram %s does not end in _seconds", m.Name)
			}
		case Gauge:
			if strings.HasSuffix(m.Name, "_total") {
				t.Errorf("gauge %s ends in _total", m.Name)
			}
		default:
			t.Errorf("%s: type %q", m.Name, m.Type)
		}
	}
	for _, p := range []Part{PartSidecar, PartBackend, PartCollector} {
		if parts[p] == 0 {
			t.Errorf("no metric of part %s", p)
		}
		for _, m := range MetricsOf(p) {
			if m.Part != p {
				t.Errorf("MetricsOf(%s) has %s of %s", p, m.Name, m.Part)
			}
		}
	}
	if len(MetricsOf(PartSidecar, PartBackend)) != parts[PartSidecar]+parts[PartBackend] {
		t.Error("MetricsOf(sidecar, backend) is not both parts' metrics")
	}
	if got := (Metric{Name: MetricHopDuration, Type: Histogram}).Series(); strings.Join(got, " ") !=
		"hopscope_hop_duration_seconds_bucket hopscope_hop_duration_seconds_sum hopscope_hop_duration_seconds_count" {
		t.Errorf("histogram series %v", got)
	}
	if got := (Metric{Name: MetricRequests, Type: Counter}).Series(); len(got) != 1 || got[0] != MetricRequests {
		t.Errorf("counter series %v", got)
	}
}

func TestLabelNames(t *testing.T) {
	for _, l := range []string{LabelService, LabelDirection, LabelMethod, LabelRoute, LabelCode, LabelSink,
		LabelProbe, LabelReason, LabelBackend, LabelKind, LabelOperation, LabelOutcome, LabelState,
		LabelTarget, LabelAttribution, LabelSource, LabelLimit, LabelLabel, LabelHop} {
		if !promName.MatchString(l) || strings.HasPrefix(l, "__") {
			t.Errorf("%q is not a label name", l)
		}
	}
}

func TestGRPCCodes(t *testing.T) {
	for i, name := range GRPCCodes {
		if want := codes.Code(i).String(); name != want {
			t.Errorf("GRPCCodes[%d] = %q, grpc-go names it %q", i, name, want)
		}
	}
	if len(GRPCCodes) != int(codes.Unauthenticated)+1 {
		t.Errorf("%d gRPC codes, want %d", len(GRPCCodes), codes.Unauthenticated+1)
	}
	// The semantic conventions' server errors for gRPC server spans.
	want := []codes.Code{codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented, codes.Internal, codes.Unavailable, codes.DataLoss}
	if len(GRPCServerErrors) != len(want) {
		t.Fatalf("GRPCServerErrors = %v, want the names of %v", GRPCServerErrors, want)
	}
	for i, c := range want {
		if GRPCServerErrors[i] != c.String() {
			t.Errorf("GRPCServerErrors[%d] = %q, want %q", i, GRPCServerErrors[i], c.String())
		}
	}
}
