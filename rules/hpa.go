package rules

import (
	"fmt"
	"regexp"

	"github.com/hopscope/hopscope/internal/contract"
)

// Replica bounds of ExampleHPA.
const (
	exampleMinReplicas = 2
	exampleMaxReplicas = 10
)

// quantity is the syntax of a Kubernetes resource.Quantity: a decimal
// number with an optional SI, binary or exponent suffix.
var quantity = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)([numkMGTPE]|[KMGTPE]i|[eE][+-]?\d+)?$`)

// ExampleHPA returns an autoscaling/v2 HorizontalPodAutoscaler for the
// Deployment deployment in namespace that keeps the average inbound request
// rate per pod, read through prometheus-adapter as the Pods metric
// hopscope_requests_per_second, at target (a Kubernetes quantity: "50",
// "500m") with 2 to 10 replicas.
func ExampleHPA(namespace, deployment string, target string) ([]byte, error) {
	if namespace == "" || deployment == "" {
		return nil, fmt.Errorf("ExampleHPA: namespace and deployment must not be empty")
	}
	if !quantity.MatchString(target) {
		return nil, fmt.Errorf("ExampleHPA: target %q is not a Kubernetes quantity (e.g. \"50\" or \"500m\")", target)
	}
	return marshal(manifest[hpaSpec]{
		APIVersion: "autoscaling/v2",
		Kind:       "HorizontalPodAutoscaler",
		Metadata:   objectMeta{Name: deployment, Namespace: namespace},
		Spec: hpaSpec{
			ScaleTargetRef: crossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: deployment},
			MinReplicas:    exampleMinReplicas,
			MaxReplicas:    exampleMaxReplicas,
			Metrics: []metricSpec{{
				Type: "Pods",
				Pods: &podsMetricSource{
					Metric: metricIdentifier{Name: contract.AdapterRequestsPerSecond},
					Target: metricTarget{Type: "AverageValue", AverageValue: target},
				},
			}},
		},
	})
}

// hpaSpec is the part of autoscaling/v2 HorizontalPodAutoscalerSpec that
// ExampleHPA writes, with the API's field names.
type hpaSpec struct {
	ScaleTargetRef crossVersionObjectReference `yaml:"scaleTargetRef"`
	MinReplicas    int                         `yaml:"minReplicas"`
	MaxReplicas    int                         `yaml:"maxReplicas"`
	Metrics        []metricSpec                `yaml:"metrics"`
}

// crossVersionObjectReference names the scaled workload.
type crossVersionObjectReference struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Name       string `yaml:"name"`
}

// metricSpec is one metric the HPA scales on.
type metricSpec struct {
	Type string            `yaml:"type"`
	Pods *podsMetricSource `yaml:"pods,omitempty"`
}

// podsMetricSource is a per-pod custom metric, averaged over the pods.
type podsMetricSource struct {
	Metric metricIdentifier `yaml:"metric"`
	Target metricTarget     `yaml:"target"`
}

// metricIdentifier names a custom metric.
type metricIdentifier struct {
	Name string `yaml:"name"`
}

// metricTarget is the value the HPA aims at; AverageValue is a quantity.
type metricTarget struct {
	Type         string `yaml:"type"`
	AverageValue string `yaml:"averageValue,omitempty"`
}
