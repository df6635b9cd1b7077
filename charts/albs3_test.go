package charts

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestALBS3Values: collector.albS3 passes the --alb-s3-* flags, and an
// IRSA role annotation reaches the collector's ServiceAccount, whose
// Kubernetes API token stays unmounted; off (the default), no flag.
func TestALBS3Values(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"default", nil, nil},
		{"s3 with sqs and irsa", []string{"--set", "collector.albS3.url=s3://alb-logs/AWSLogs/",
			"--set", "collector.albS3.region=eu-west-1", "--set", "collector.albS3.sqsQueueUrl=https://sqs.eu-west-1.amazonaws.com/123456789012/alb",
			"--set-string", `collector.serviceAccount.annotations.eks\.amazonaws\.com/role-arn=arn:aws:iam::123456789012:role/hopscope-alb`},
			[]string{"--alb-s3-url=s3://alb-logs/AWSLogs/", "--alb-s3-region=eu-west-1",
				"--alb-sqs-queue-url=https://sqs.eu-west-1.amazonaws.com/123456789012/alb"}},
		{"s3-compatible server", []string{"--set", "collector.albS3.url=s3://logs", "--set", "collector.albS3.endpoint=https://s3.internal:8333",
			"--set", "collector.albS3.pathStyle=true"},
			[]string{"--alb-s3-url=s3://logs", "--alb-s3-endpoint=https://s3.internal:8333", "--alb-s3-path-style=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, mustTemplate(t, tc.args...))
			col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
			args := container(t, col, "collector").Args
			wantArgs(t, "collector", args, tc.want...)
			if tc.want == nil {
				noArgPrefix(t, "collector", args, "--alb-s3", "--alb-sqs")
				return
			}
			if a := col.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
				t.Error("the collector mounts its Kubernetes API token; IRSA needs only the webhook's own token")
			}
			if len(tc.args) > 6 {
				sa := typed[*corev1.ServiceAccount](t, objs, "ServiceAccount", collectorName)
				if got := sa.Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/hopscope-alb" {
					t.Errorf("ServiceAccount annotations %v lack the IRSA role", sa.Annotations)
				}
			}
		})
	}
	if _, err := template(t, "--set", "collector.albS3.url=alb-logs/AWSLogs"); err == nil {
		t.Error("the schema accepts collector.albS3.url without s3://")
	}
}
