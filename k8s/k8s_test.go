package k8s

import (
	"fmt"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const testScenario = "name: big\nduration: 30s\nbroker:\n  kind: rabbitmq\n  url: amqp://rabbit:5672/\n"

// TestManifestsDecodeStrictly decodes every printed object strictly into
// k8s.io/api's types (an unknown or misplaced field fails) and checks what
// the run depends on: completions, the indexed mode, the index in the
// env, every worker's directory in the merge.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, workers := range []int{1, 3, 16} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			spec := Spec{Name: "big", Scenario: []byte(testScenario), Workers: workers, Image: "registry.example/mqcheck:1",
				RunID: "nightly-42", StartAt: "2026-12-03T15:00:00Z", Claim: "runs", Namespace: "load"}
			out, err := Manifests(spec)
			if err != nil {
				t.Fatal(err)
			}
			docs := strings.Split(string(out), "\n---\n")
			if len(docs) != 3 {
				t.Fatalf("%d documents, want 3 (ConfigMap, workers, merge)", len(docs))
			}
			var cm corev1.ConfigMap
			var job, merge batchv1.Job
			for i, dst := range []any{&cm, &job, &merge} {
				if err := yaml.UnmarshalStrict([]byte(docs[i]+"\n"), dst); err != nil {
					t.Fatalf("document %d: %v\n%s", i, err, docs[i])
				}
			}
			if cm.Kind != "ConfigMap" || cm.Data["scenario.yaml"] != testScenario {
				t.Errorf("configmap %s holds %q", cm.Kind, cm.Data["scenario.yaml"])
			}
			s := job.Spec
			if job.Kind != "Job" || job.APIVersion != "batch/v1" || s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
				t.Errorf("workers: %s %s, completion mode %v", job.APIVersion, job.Kind, s.CompletionMode)
			}
			if s.Completions == nil || *s.Completions != int32(workers) || s.Parallelism == nil || *s.Parallelism != int32(workers) {
				t.Errorf("completions %v, parallelism %v, want %d", s.Completions, s.Parallelism, workers)
			}
			if s.BackoffLimit == nil || *s.BackoffLimit != 0 {
				t.Errorf("backoffLimit %v: a retried worker would send its part twice", s.BackoffLimit)
			}
			c := s.Template.Spec.Containers[0]
			args := strings.Join(c.Args, " ")
			wantArgs := fmt.Sprintf("run /scenario/scenario.yaml --workers %d --run-id nightly-42 --out /runs/nightly-42/worker-$(JOB_COMPLETION_INDEX) --progress plain --start-at 2026-12-03T15:00:00Z", workers)
			if args != wantArgs {
				t.Errorf("worker args\n got %s\nwant %s", args, wantArgs)
			}
			if len(c.Env) != 1 || c.Env[0].Name != "JOB_COMPLETION_INDEX" || c.Env[0].ValueFrom == nil ||
				c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("env %+v: the index must come from the completion-index annotation", c.Env)
			}
			if s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || c.Image != spec.Image || job.Namespace != "load" {
				t.Errorf("restart %s, image %s, namespace %s", s.Template.Spec.RestartPolicy, c.Image, job.Namespace)
			}
			vols := map[string]corev1.Volume{}
			for _, v := range s.Template.Spec.Volumes {
				vols[v.Name] = v
			}
			if vols["scenario"].ConfigMap == nil || vols["scenario"].ConfigMap.Name != cm.Name ||
				vols["runs"].PersistentVolumeClaim == nil || vols["runs"].PersistentVolumeClaim.ClaimName != "runs" {
				t.Errorf("volumes %+v", s.Template.Spec.Volumes)
			}
			margs := merge.Spec.Template.Spec.Containers[0].Args
			if len(margs) != workers+3 || margs[0] != "merge" || margs[len(margs)-1] != "/runs/nightly-42/merged" {
				t.Errorf("merge args %v", margs)
			}
			for i := range workers {
				if margs[1+i] != spec.WorkerDir(i) {
					t.Errorf("merge arg %d = %s, want %s", i, margs[1+i], spec.WorkerDir(i))
				}
			}
			if merge.Spec.CompletionMode != nil && *merge.Spec.CompletionMode == batchv1.IndexedCompletion {
				t.Errorf("the merge is one pod, not indexed")
			}
		})
	}
}

func TestManifestsRefuse(t *testing.T) {
	ok := Spec{Name: "big", Scenario: []byte(testScenario), Workers: 2, Image: "i", RunID: "r", Claim: "c"}
	tests := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"no workers", func(s *Spec) { s.Workers = 0 }, "--workers 0"},
		{"bad name", func(s *Spec) { s.Name = "Big_Run" }, "DNS label"},
		{"no image", func(s *Spec) { s.Image = "" }, "--image"},
		{"no claim", func(s *Spec) { s.Claim = "" }, "--claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			_, err := Manifests(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one naming %q", err, tt.want)
			}
		})
	}
}
