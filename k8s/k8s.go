// Package k8s writes the Kubernetes manifests of a run split across
// workers: a ConfigMap with the scenario, an Indexed Job whose pods each run
// one worker's part (mqcheck run --workers N reads $JOB_COMPLETION_INDEX),
// and a Job that merges their run directories, in the form kubectl create
// --dry-run=client -o yaml prints.
package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// Spec is what the manifests are made of.
type Spec struct {
	// Name names the objects (mqcheck-NAME-...): a DNS label.
	Name     string
	Scenario []byte // the resolved scenario.yaml
	Workers  int
	Image    string
	RunID    string
	// StartAt, when set, is every worker's --start-at (RFC 3339).
	StartAt string
	// Claim is the PersistentVolumeClaim every pod mounts at RunsDir: the
	// workers write their run directories there and the merge reads them
	// (ReadWriteMany when pods run on several nodes).
	Claim     string
	Namespace string
}

// RunsDir is where the pods mount the shared volume.
const RunsDir = "/runs"

// scenarioDir is where the pods mount the ConfigMap.
const scenarioDir = "/scenario"

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Check refuses what Kubernetes would.
func (s *Spec) Check() error {
	var errs []error
	if s.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: at least one worker", s.Workers))
	}
	if !dnsLabel.MatchString(s.Name) || len(s.Name) > 40 {
		errs = append(errs, fmt.Errorf("name %q: the objects' names need a DNS label of at most 40 characters (lower case, digits, '-')", s.Name))
	}
	if s.Image == "" {
		errs = append(errs, errors.New("--image: the image with mqcheck in it is required"))
	}
	if s.Claim == "" {
		errs = append(errs, errors.New("--claim: the PersistentVolumeClaim the run directories go to is required"))
	}
	return errors.Join(errs...)
}

// WorkerDir is worker i's run directory on the shared volume.
func (s *Spec) WorkerDir(i int) string {
	return fmt.Sprintf("%s/%s/worker-%d", RunsDir, s.RunID, i)
}

// MergedDir is where the merge Job writes the merged run.
func (s *Spec) MergedDir() string { return fmt.Sprintf("%s/%s/merged", RunsDir, s.RunID) }

// The objects, as far as mqcheck fills them in: field names and nesting
// are Kubernetes' (the package's test decodes them strictly into
// k8s.io/api's types).
type object struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   metadata          `yaml:"metadata"`
	Data       map[string]string `yaml:"data,omitempty"`
	Spec       *jobSpec          `yaml:"spec,omitempty"`
}

type metadata struct {
	Name      string            `yaml:"name,omitempty"`
	Namespace string            `yaml:"namespace,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty"`
}

type jobSpec struct {
	CompletionMode string      `yaml:"completionMode,omitempty"`
	Completions    int         `yaml:"completions"`
	Parallelism    int         `yaml:"parallelism"`
	BackoffLimit   int         `yaml:"backoffLimit"`
	Template       podTemplate `yaml:"template"`
}

type podTemplate struct {
	Metadata metadata `yaml:"metadata"`
	Spec     podSpec  `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy string      `yaml:"restartPolicy"`
	Containers    []container `yaml:"containers"`
	Volumes       []volume    `yaml:"volumes"`
}

type container struct {
	Name         string        `yaml:"name"`
	Image        string        `yaml:"image"`
	Args         []string      `yaml:"args"`
	Env          []envVar      `yaml:"env,omitempty"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string        `yaml:"name"`
	Value     string        `yaml:"value,omitempty"`
	ValueFrom *envVarSource `yaml:"valueFrom,omitempty"`
}

type envVarSource struct {
	FieldRef fieldRef `yaml:"fieldRef"`
}

type fieldRef struct {
	FieldPath string `yaml:"fieldPath"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type volume struct {
	Name                  string       `yaml:"name"`
	ConfigMap             *configMapVS `yaml:"configMap,omitempty"`
	PersistentVolumeClaim *claimVS     `yaml:"persistentVolumeClaim,omitempty"`
}

type configMapVS struct {
	Name string `yaml:"name"`
}

type claimVS struct {
	ClaimName string `yaml:"claimName"`
}

// Manifests returns the ConfigMap, the workers' Indexed Job and the merge
// Job as one YAML stream.
func Manifests(s Spec) ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	labels := map[string]string{"app.kubernetes.io/name": "mqcheck", "mqcheck.dev/run-id": labelValue(s.RunID)}
	cmName := "mqcheck-" + s.Name + "-scenario"
	cm := object{APIVersion: "v1", Kind: "ConfigMap", Metadata: metadata{Name: cmName, Namespace: s.Namespace, Labels: labels},
		Data: map[string]string{"scenario.yaml": string(s.Scenario)}}
	volumes := []volume{{Name: "scenario", ConfigMap: &configMapVS{Name: cmName}},
		{Name: "runs", PersistentVolumeClaim: &claimVS{ClaimName: s.Claim}}}
	mounts := []volumeMount{{Name: "scenario", MountPath: scenarioDir, ReadOnly: true}, {Name: "runs", MountPath: RunsDir}}
	args := []string{"run", scenarioDir + "/scenario.yaml", "--workers", strconv.Itoa(s.Workers), "--run-id", s.RunID,
		"--out", fmt.Sprintf("%s/%s/worker-$(JOB_COMPLETION_INDEX)", RunsDir, s.RunID), "--progress", "plain"}
	if s.StartAt != "" {
		args = append(args, "--start-at", s.StartAt)
	}
	workers := object{APIVersion: "batch/v1", Kind: "Job",
		Metadata: metadata{Name: "mqcheck-" + s.Name + "-workers", Namespace: s.Namespace, Labels: labels},
		Spec: &jobSpec{CompletionMode: "Indexed", Completions: s.Workers, Parallelism: s.Workers,
			// A worker tried again would run its part twice under the
			// same run id: its producers' sequence numbers again.
			BackoffLimit: 0,
			Template: podTemplate{Metadata: metadata{Labels: labels}, Spec: podSpec{RestartPolicy: "Never",
				Containers: []container{{Name: "worker", Image: s.Image, Args: args,
					// The Job controller sets it too; named here, $(...) in
					// args may refer to it.
					Env: []envVar{{Name: "JOB_COMPLETION_INDEX", ValueFrom: &envVarSource{FieldRef: fieldRef{
						FieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}},
					VolumeMounts: mounts}},
				Volumes: volumes}}}}
	margs := []string{"merge"}
	for i := range s.Workers {
		margs = append(margs, s.WorkerDir(i))
	}
	margs = append(margs, "--out", s.MergedDir())
	merger := object{APIVersion: "batch/v1", Kind: "Job",
		Metadata: metadata{Name: "mqcheck-" + s.Name + "-merge", Namespace: s.Namespace, Labels: labels},
		Spec: &jobSpec{Completions: 1, Parallelism: 1, BackoffLimit: 0,
			Template: podTemplate{Metadata: metadata{Labels: labels}, Spec: podSpec{RestartPolicy: "Never",
				Containers: []container{{Name: "merge", Image: s.Image, Args: margs,
					VolumeMounts: []volumeMount{{Name: "runs", MountPath: RunsDir}}}},
				Volumes: volumes[1:]}}}}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# mqcheck: %s split across %d workers, run id %s.\n", s.Name, s.Workers, s.RunID)
	fmt.Fprintf(&b, "# Apply the ConfigMap and the workers' Job, wait for them, then apply the merge Job:\n")
	fmt.Fprintf(&b, "#   kubectl wait --for=condition=complete job/mqcheck-%s-workers --timeout=1h\n", s.Name)
	for i, o := range []object{cm, workers, merger} {
		y, err := yaml.MarshalWithOptions(o, yaml.UseLiteralStyleIfMultiline(true))
		if err != nil {
			return nil, fmt.Errorf("writing the manifests: %w", err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// labelValue makes s a valid label value (63 characters of [-_.a-zA-Z0-9]).
func labelValue(s string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s)
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-_.")
}
