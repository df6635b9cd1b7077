package charts

import (
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// TestKubeMetadataRBAC: collector.kubeMetadata.enabled renders a
// read-only ClusterRole (get, list, watch on EndpointSlices, Pods and
// Nodes) bound to the collector's ServiceAccount, mounts its token and
// passes the flags; off (the default), none of it.
func TestKubeMetadataRBAC(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		on   bool
		want []string
	}{
		{"default", nil, false, nil},
		{"enabled", []string{"--set", "collector.kubeMetadata.enabled=true", "--set", "collector.kubeMetadata.ingressZone=eu-west-1a",
			"--set", "collector.kubeMetadata.namespaces={shop,pay}"}, true,
			[]string{"--kube-metadata=true", "--ingress-zone=eu-west-1a", "--kube-metadata-namespaces=shop,pay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := decodeAll(t, mustTemplate(t, tc.args...))
			if got := has(objs, "ClusterRole", collectorName) || has(objs, "ClusterRoleBinding", collectorName); got != tc.on {
				t.Fatalf("collector ClusterRole/Binding rendered: %v, want %v", got, tc.on)
			}
			col := typed[*appsv1.Deployment](t, objs, "Deployment", collectorName)
			if a := col.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a != tc.on {
				t.Errorf("collector automountServiceAccountToken = %v, want %v", a, tc.on)
			}
			args := container(t, col, "collector").Args
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("collector args %v lack %s", args, w)
				}
			}
			if !tc.on {
				if slices.ContainsFunc(args, func(a string) bool { return a == "--kube-metadata=true" }) {
					t.Errorf("collector args %v: --kube-metadata on by default", args)
				}
				return
			}
			cr := typed[*rbacv1.ClusterRole](t, objs, "ClusterRole", collectorName)
			want := []rbacv1.PolicyRule{
				{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
			}
			if !reflect.DeepEqual(cr.Rules, want) {
				t.Errorf("ClusterRole rules = %+v, want read-only %+v", cr.Rules, want)
			}
			for _, r := range cr.Rules {
				for _, v := range r.Verbs {
					if v != "get" && v != "list" && v != "watch" {
						t.Errorf("ClusterRole verb %q is not read-only", v)
					}
				}
			}
			b := typed[*rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding", collectorName)
			wantSub := []rbacv1.Subject{{Kind: "ServiceAccount", Name: collectorName, Namespace: releaseNamespace}}
			if !reflect.DeepEqual(b.Subjects, wantSub) || b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != collectorName {
				t.Errorf("ClusterRoleBinding subjects %+v roleRef %+v", b.Subjects, b.RoleRef)
			}
		})
	}
}
