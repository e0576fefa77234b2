package deploycheck_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// manifests holds every object of deploy/k8s, decoded strictly.
type manifests struct {
	namespaces  []corev1.Namespace
	configMaps  map[string]corev1.ConfigMap
	deployments map[string]appsv1.Deployment
	services    map[string]corev1.Service
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	pdbs        []policyv1.PodDisruptionBudget
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// strict decodes JSON into v refusing unknown fields, so a misspelt or
// misplaced key (which kubectl would reject or drop) fails the test.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "deploy", "k8s", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	m := manifests{configMaps: map[string]corev1.ConfigMap{}, deployments: map[string]appsv1.Deployment{}, services: map[string]corev1.Service{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, doc := range docSep.Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s document %d", filepath.Base(f), i)
			j, err := yaml.YAMLToJSONStrict([]byte(doc))
			require.NoError(t, err, where)
			var tm metav1.TypeMeta
			require.NoError(t, json.Unmarshal(j, &tm), where)
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 Namespace":
				var o corev1.Namespace
				require.NoError(t, strict(j, &o), where)
				m.namespaces = append(m.namespaces, o)
			case "v1 ConfigMap":
				var o corev1.ConfigMap
				require.NoError(t, strict(j, &o), where)
				m.configMaps[o.Name] = o
			case "apps/v1 Deployment":
				var o appsv1.Deployment
				require.NoError(t, strict(j, &o), where)
				m.deployments[o.Name] = o
			case "v1 Service":
				var o corev1.Service
				require.NoError(t, strict(j, &o), where)
				m.services[o.Name] = o
			case "autoscaling/v2 HorizontalPodAutoscaler":
				var o autoscalingv2.HorizontalPodAutoscaler
				require.NoError(t, strict(j, &o), where)
				m.hpas = append(m.hpas, o)
			case "policy/v1 PodDisruptionBudget":
				var o policyv1.PodDisruptionBudget
				require.NoError(t, strict(j, &o), where)
				m.pdbs = append(m.pdbs, o)
			default:
				t.Fatalf("%s: unexpected %s %s", where, tm.APIVersion, tm.Kind)
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestK8s_StrictDecode(t *testing.T) {
	t.Parallel()
	_ = loadManifests(t)
	// The decoder does refuse a misplaced field.
	j, err := yaml.YAMLToJSONStrict([]byte("apiVersion: v1\nkind: Service\nspec:\n  replicas: 2\n"))
	require.NoError(t, err)
	require.ErrorContains(t, strict(j, &corev1.Service{}), "unknown field")
}

func TestK8s_Deployments(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	require.Len(t, m.namespaces, 1)
	ns := m.namespaces[0].Name
	tests := []struct {
		name        string
		minReplicas int32
		port        int32
		// shutdown is the binary's shutdown-timeout from the ConfigMap.
	}{
		{"ingest", 2, 8081},
		{"edge", 2, 8080},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, ok := m.deployments[tt.name]
			require.True(t, ok)
			require.Equal(t, ns, d.Namespace)
			require.NotNil(t, d.Spec.Replicas)
			require.GreaterOrEqual(t, *d.Spec.Replicas, tt.minReplicas)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			require.NoError(t, err)
			require.True(t, sel.Matches(labels.Set(d.Spec.Template.Labels)), "the selector matches the pods")

			pod := d.Spec.Template.Spec
			require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
			require.True(t, *pod.SecurityContext.RunAsNonRoot)
			require.Len(t, pod.Containers, 1)
			c := pod.Containers[0]
			require.Contains(t, c.Image, "mongotron/"+tt.name)
			require.Len(t, c.Ports, 1)
			require.Equal(t, tt.port, c.Ports[0].ContainerPort)
			require.Contains(t, c.Args, fmt.Sprintf("--http.addr=:%d", tt.port))

			require.NotNil(t, c.ReadinessProbe)
			require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
			require.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port.String())
			require.NotNil(t, c.LivenessProbe)
			require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
			require.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port.String())
			require.False(t, c.Resources.Requests.Cpu().IsZero(), "a CPU request, which the HPA needs")

			// Environment: every key is a flag of the binary; secrets come
			// from the Secret.
			keys := envKeys[tt.name]
			env := map[string]string{}
			for _, from := range c.EnvFrom {
				require.NotNil(t, from.ConfigMapRef)
				cm, ok := m.configMaps[from.ConfigMapRef.Name]
				require.True(t, ok, "ConfigMap %s exists", from.ConfigMapRef.Name)
				for k, v := range cm.Data {
					require.True(t, keys[k], "%s: %s (ConfigMap %s) is no flag of %s", tt.name, k, cm.Name, tt.name)
					env[k] = v
				}
			}
			for _, e := range c.Env {
				require.True(t, keys[e.Name], "%s: %s is no flag of %s", tt.name, e.Name, tt.name)
				if e.ValueFrom != nil {
					require.NotNil(t, e.ValueFrom.SecretKeyRef, e.Name)
					env[e.Name] = "(secret)"
					continue
				}
				env[e.Name] = e.Value
			}
			require.Contains(t, env, "MONGOTRON_MONGO_URI")
			require.Contains(t, env, "MONGOTRON_NATS_URL")
			switch tt.name {
			case "edge":
				require.Equal(t, "(secret)", env["MONGOTRON_ADMIN_KEY"])
			case "ingest":
				require.Contains(t, env, "MONGOTRON_TRON_NODE_URL")
				require.Equal(t, "(secret)", env["MONGOTRON_TRON_API_KEY"])
			}

			// SIGTERM comes after preStop; the grace period must cover the
			// preStop sleep plus the binary's shutdown-timeout.
			require.NotNil(t, c.Lifecycle.PreStop.Exec)
			cmd := c.Lifecycle.PreStop.Exec.Command
			require.Equal(t, "sleep", cmd[0])
			sleep, err := time.ParseDuration(cmd[1] + "s")
			require.NoError(t, err)
			shutdown, err := time.ParseDuration(env["MONGOTRON_SHUTDOWN_TIMEOUT"])
			require.NoError(t, err, "shutdown-timeout is set explicitly")
			require.NotNil(t, pod.TerminationGracePeriodSeconds)
			grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
			require.Greater(t, grace, sleep+shutdown, "terminationGracePeriodSeconds covers preStop + shutdown-timeout")

			// A Service selects these pods on the named port.
			var found bool
			for _, s := range m.services {
				if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
					continue
				}
				found = true
				require.Equal(t, ns, s.Namespace)
				for _, p := range s.Spec.Ports {
					require.Equal(t, c.Ports[0].Name, p.TargetPort.String())
				}
			}
			require.True(t, found, "a Service selects the %s pods", tt.name)
		})
	}
}

func TestK8s_EdgeScaling(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	edge := m.deployments["edge"]
	require.Len(t, m.hpas, 1)
	h := m.hpas[0]
	require.Equal(t, "Deployment", h.Spec.ScaleTargetRef.Kind)
	require.Equal(t, "apps/v1", h.Spec.ScaleTargetRef.APIVersion)
	require.Equal(t, edge.Name, h.Spec.ScaleTargetRef.Name)
	require.NotNil(t, h.Spec.MinReplicas)
	require.GreaterOrEqual(t, *h.Spec.MinReplicas, int32(2))
	require.Greater(t, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
	require.Len(t, h.Spec.Metrics, 1)
	require.Equal(t, corev1.ResourceCPU, h.Spec.Metrics[0].Resource.Name)
	require.Equal(t, autoscalingv2.UtilizationMetricType, h.Spec.Metrics[0].Resource.Target.Type)

	require.Len(t, m.pdbs, 1)
	p := m.pdbs[0]
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(edge.Spec.Template.Labels)), "the PDB covers the edges")
	require.False(t, sel.Matches(labels.Set(m.deployments["ingest"].Spec.Template.Labels)))
	require.NotNil(t, p.Spec.MaxUnavailable)
	require.Equal(t, 1, p.Spec.MaxUnavailable.IntValue(), "one edge at a time, so clients always have one to reconnect to")
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "deploy", "Dockerfile"))
	require.NoError(t, err)
	s := string(b)
	require.Regexp(t, `(?m)^FROM golang:\$\{GO_VERSION\}\S* AS build$`, s, "a Go builder stage")
	gw, err := os.ReadFile(filepath.Join(root, "go.work"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gw))[1]
	require.Contains(t, s, "ARG GO_VERSION="+goVersion, "the builder's Go is the workspace's")
	require.Regexp(t, `(?m)^USER 65532:65532$`, s, "non-root")
	require.Regexp(t, `(?m)^HEALTHCHECK `, s)
	require.Regexp(t, `(?m)^EXPOSE \$\{PORT\}$`, s)
	require.Contains(t, s, "CGO_ENABLED=0", "a static binary for the small runtime image")
	// Every module's go.mod is copied before the download, since go.work
	// names them all.
	uses := regexp.MustCompile(`(?m)^\s+\./(\S+)$`).FindAllStringSubmatch(string(gw), -1)
	require.NotEmpty(t, uses)
	for _, u := range uses {
		require.Contains(t, s, "COPY "+u[1]+"/go.mod "+u[1]+"/go.sum "+u[1]+"/", "deploy/Dockerfile copies %s's module files", u[1])
	}
}
