package deploycheck_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
	namespaces   []corev1.Namespace
	configMaps   map[string]corev1.ConfigMap
	deployments  map[string]appsv1.Deployment
	statefulSets map[string]appsv1.StatefulSet
	services     map[string]corev1.Service
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	pdbs         []policyv1.PodDisruptionBudget
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
	m := manifests{
		configMaps:   map[string]corev1.ConfigMap{},
		deployments:  map[string]appsv1.Deployment{},
		statefulSets: map[string]appsv1.StatefulSet{},
		services:     map[string]corev1.Service{},
	}
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
			case "apps/v1 StatefulSet":
				var o appsv1.StatefulSet
				require.NoError(t, strict(j, &o), where)
				m.statefulSets[o.Name] = o
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
			checkNATSClient(t, m, tt.name, env)
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

	p := pdbOf(t, m, edge.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	require.NoError(t, err)
	require.False(t, sel.Matches(labels.Set(m.deployments["ingest"].Spec.Template.Labels)))
	require.NotNil(t, p.Spec.MaxUnavailable)
	require.Equal(t, 1, p.Spec.MaxUnavailable.IntValue(), "one edge at a time, so clients always have one to reconnect to")
}

// pdbOf returns the one PodDisruptionBudget that covers pods labelled
// podLabels.
func pdbOf(t *testing.T, m manifests, podLabels map[string]string) policyv1.PodDisruptionBudget {
	t.Helper()
	var found []policyv1.PodDisruptionBudget
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		require.NoError(t, err, p.Name)
		if sel.Matches(labels.Set(podLabels)) {
			found = append(found, p)
		}
	}
	require.Len(t, found, 1, "one PodDisruptionBudget covers the pods labelled %v", podLabels)
	return found[0]
}

// natsCluster is the NATS StatefulSet of deploy/k8s with what its pods
// run.
type natsCluster struct {
	sts appsv1.StatefulSet
	// hosts are the pods' DNS names through the headless Service
	// (nats-0.nats-headless.mongotron.svc, ...), sorted.
	hosts []string
	// opts are the options each pod's nats-server reads, by pod name.
	opts map[string]*server.Options
}

// loadNATS finds the NATS StatefulSet and reads, for each of its pods,
// the configuration file its container is given with --config, with
// nats-server's own parser and the pod's environment.
func loadNATS(t *testing.T, m manifests) natsCluster {
	t.Helper()
	sts, ok := m.statefulSets["nats"]
	require.True(t, ok, "a nats StatefulSet")
	require.NotNil(t, sts.Spec.Replicas)
	pod := sts.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	if len(c.Command) == 0 {
		require.True(t, strings.HasPrefix(c.Args[0], "-"), "the image runs nats-server only for arguments that start with a flag")
	}
	i := slices.Index(c.Args, "--config")
	require.GreaterOrEqual(t, i, 0, "nats-server --config FILE")
	require.Less(t, i+1, len(c.Args))
	confPath := c.Args[i+1]

	// The file is a key of a ConfigMap mounted in its directory.
	var conf string
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(confPath) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name {
				continue
			}
			require.NotNil(t, v.ConfigMap, "%s is mounted from a ConfigMap", confPath)
			cm, ok := m.configMaps[v.ConfigMap.Name]
			require.True(t, ok, "ConfigMap %s exists", v.ConfigMap.Name)
			conf, ok = cm.Data[path.Base(confPath)]
			require.True(t, ok, "ConfigMap %s has %s", cm.Name, path.Base(confPath))
		}
	}
	require.NotEmpty(t, conf, "%s is mounted", confPath)

	// The environment the configuration reads: plain values, and the
	// pod's own name.
	env := func(podName string) map[string]string {
		vars := map[string]string{}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				vars[e.Name] = e.Value
			case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
				vars[e.Name] = podName
			}
		}
		return vars
	}
	n := natsCluster{sts: sts, opts: map[string]*server.Options{}}
	for i := range int(*sts.Spec.Replicas) {
		name := fmt.Sprintf("%s-%d", sts.Name, i)
		n.hosts = append(n.hosts, fmt.Sprintf("%s.%s.%s.svc", name, sts.Spec.ServiceName, sts.Namespace))
		n.opts[name] = natsFromConfig(t, conf, env(name))
	}
	slices.Sort(n.hosts)
	return n
}

// checkNATSClient: a binary's MONGOTRON_NATS_URL lists every pod of the
// NATS StatefulSet on its client port, and MONGOTRON_NATS_REPLICAS is 3,
// no more than the pods.
func checkNATSClient(t *testing.T, m manifests, bin string, env map[string]string) {
	t.Helper()
	n := loadNATS(t, m)
	var listed []string
	for _, u := range natsURLs(t, env["MONGOTRON_NATS_URL"]) {
		listed = append(listed, u.Hostname())
		podName, _, _ := strings.Cut(u.Hostname(), ".")
		if o, ok := n.opts[podName]; ok {
			require.Equal(t, strconv.Itoa(natsClientPort(o)), u.Port(), "%s: %s on its client port", bin, u.Host)
		}
	}
	slices.Sort(listed)
	require.Equal(t, n.hosts, listed, "%s: MONGOTRON_NATS_URL lists every NATS pod, once", bin)

	r, err := strconv.Atoi(env["MONGOTRON_NATS_REPLICAS"])
	require.NoError(t, err, "%s: MONGOTRON_NATS_REPLICAS=%q", bin, env["MONGOTRON_NATS_REPLICAS"])
	require.Equal(t, 3, r, "%s: a replica on each server", bin)
	require.LessOrEqual(t, r, int(*n.sts.Spec.Replicas), "%s: no more replicas than NATS pods", bin)
}

func TestK8s_NATSCluster(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	require.Len(t, m.namespaces, 1)
	ns := m.namespaces[0].Name
	n := loadNATS(t, m)
	sts := n.sts
	require.Equal(t, ns, sts.Namespace)
	require.Equal(t, int32(3), *sts.Spec.Replicas, "three NATS servers")
	require.Equal(t, appsv1.ParallelPodManagement, sts.Spec.PodManagementPolicy, "the pods start together, to elect a meta leader")
	podLabels := labels.Set(sts.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(podLabels), "the selector matches the pods")

	pod := sts.Spec.Template.Spec
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	c := pod.Containers[0]
	require.True(t, strings.HasPrefix(c.Image, "nats:"), "the official image")
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}

	// A volume per pod, where the JetStream store is, and larger than it.
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	pvc := sts.Spec.VolumeClaimTemplates[0]
	size := pvc.Spec.Resources.Requests.Storage()
	require.False(t, size.IsZero(), "the volume's size")
	var store string
	for _, vm := range c.VolumeMounts {
		if vm.Name == pvc.Name {
			store = vm.MountPath
		}
	}
	require.NotEmpty(t, store, "the volume %s is mounted", pvc.Name)

	// Each pod: JetStream on its volume, its own server name, the cluster's
	// name, and a route to every pod, itself included (the server drops
	// that one), since the three share one file.
	var cluster string
	for name, o := range n.opts {
		require.True(t, o.JetStream, "%s: JetStream", name)
		require.Equal(t, name, o.ServerName, "%s: its own server name", name)
		require.Equal(t, store, o.StoreDir, "%s: the JetStream store is on the volume", name)
		require.Positive(t, o.JetStreamMaxStore, "%s: a limit on the store", name)
		require.Less(t, o.JetStreamMaxStore, size.Value(), "%s: the store fits its volume", name)
		require.NotEmpty(t, o.Cluster.Name, name)
		if cluster == "" {
			cluster = o.Cluster.Name
		}
		require.Equal(t, cluster, o.Cluster.Name, "%s: one cluster", name)
		require.Equal(t, ports["client"], int32(natsClientPort(o)), "%s: the client port", name)
		require.Equal(t, ports["cluster"], int32(o.Cluster.Port), "%s: the route port", name)
		require.Equal(t, ports["monitor"], int32(o.HTTPPort), "%s: the monitoring port", name)
		var routed []string
		for _, r := range o.Routes {
			require.Equal(t, strconv.Itoa(o.Cluster.Port), r.Port(), "%s: route %s on the route port", name, r)
			routed = append(routed, r.Hostname())
		}
		slices.Sort(routed)
		require.Equal(t, n.hosts, routed, "%s: routes name every pod, once", name)
	}

	// The headless Service publishes the pods' names, before they are
	// ready too: a pod is ready only once the routes have formed the
	// cluster.
	hs, ok := m.services[sts.Spec.ServiceName]
	require.True(t, ok, "the headless Service %s", sts.Spec.ServiceName)
	require.Equal(t, ns, hs.Namespace)
	require.Equal(t, corev1.ClusterIPNone, hs.Spec.ClusterIP)
	require.True(t, hs.Spec.PublishNotReadyAddresses)
	require.True(t, labels.SelectorFromSet(hs.Spec.Selector).Matches(podLabels))
	// A client Service.
	var client bool
	for _, s := range m.services {
		if s.Spec.ClusterIP == corev1.ClusterIPNone || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			continue
		}
		for _, p := range s.Spec.Ports {
			client = client || p.TargetPort.String() == "client"
		}
	}
	require.True(t, client, "a Service for the NATS clients")

	// Probes ask the monitoring port's health endpoint.
	for what, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		require.NotNil(t, p, "a %s probe", what)
		require.NotNil(t, p.HTTPGet, what)
		require.Equal(t, "monitor", p.HTTPGet.Port.String(), what)
		require.True(t, strings.HasPrefix(p.HTTPGet.Path, "/healthz"), what)
	}

	// Before SIGTERM, preStop puts the server in lame duck mode through
	// the pid file, on a writable volume; the grace period covers it.
	for name, o := range n.opts {
		require.NotNil(t, c.Lifecycle.PreStop.Exec)
		require.Equal(t, []string{"nats-server", "--signal", "ldm=" + o.PidFile}, c.Lifecycle.PreStop.Exec.Command, name)
		var writable bool
		for _, vm := range c.VolumeMounts {
			writable = writable || (!vm.ReadOnly && strings.HasPrefix(o.PidFile, vm.MountPath+"/"))
		}
		require.True(t, writable, "%s: the pid file %s is on a writable volume", name, o.PidFile)
		require.Positive(t, o.LameDuckDuration, name)
		require.Positive(t, o.LameDuckGracePeriod, name)
		require.NotNil(t, pod.TerminationGracePeriodSeconds)
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		require.Greater(t, grace, o.LameDuckGracePeriod+o.LameDuckDuration, "%s: terminationGracePeriodSeconds covers lame duck mode", name)
	}

	// One server down at a time: the others keep the quorum.
	p := pdbOf(t, m, sts.Spec.Template.Labels)
	require.NotNil(t, p.Spec.MaxUnavailable)
	require.Equal(t, 1, p.Spec.MaxUnavailable.IntValue(), "one NATS server down at a time")
	for _, d := range m.deployments {
		pdbSel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		require.NoError(t, err)
		require.False(t, pdbSel.Matches(labels.Set(d.Spec.Template.Labels)), "the NATS PDB covers no %s pod", d.Name)
	}
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
