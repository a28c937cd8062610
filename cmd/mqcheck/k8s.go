package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mqcheck/mqcheck/k8s"
	"github.com/mqcheck/mqcheck/runner"
	"github.com/mqcheck/mqcheck/scenarios"
)

func newK8sCmd(ld scenarios.Loader) *cobra.Command {
	var sets []string
	spec := k8s.Spec{}
	cmd := &cobra.Command{
		Use:   "k8s SCENARIO --workers N",
		Short: "Print Kubernetes manifests that run a scenario split across N workers, and merge them",
		Long: `k8s prints, as kubectl create --dry-run=client -o yaml would, a ConfigMap
holding the resolved scenario, an Indexed Job of N pods each running one
worker's part (mqcheck run --workers N reads $JOB_COMPLETION_INDEX), and a
Job that merges the workers' run directories. Every pod mounts the
PersistentVolumeClaim --claim at /runs (ReadWriteMany when the pods run on
several nodes). Nothing is applied: pipe it to kubectl apply -f -.`,
		Example: `  mqcheck k8s big.yaml --workers 8 --image registry.example/mqcheck:1.4 --claim mqcheck-runs > run.yaml
  mqcheck k8s big.yaml --workers 8 --image registry.example/mqcheck:1.4 --claim mqcheck-runs \
      --run-id nightly-42 --start-at 2026-12-03T15:00:00Z --set producers.rate=400k/s | kubectl apply -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(ld, args[0], sets, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if spec.RunID == "" {
				spec.RunID = s.Name + "-" + time.Now().UTC().Format("20060102-150405")
			}
			if spec.Name == "" {
				spec.Name = strings.ToLower(s.Name)
			}
			w := &runner.Worker{Count: spec.Workers, RunID: spec.RunID}
			if spec.StartAt != "" {
				t, err := time.Parse(time.RFC3339, spec.StartAt)
				if err != nil {
					return usageError("--start-at %q: want an RFC 3339 time such as 2026-12-03T15:00:00Z", spec.StartAt)
				}
				w.StartAt = t
			}
			if err := checkWorker(s, w); err != nil {
				return err
			}
			if s.Broker.Target != "url" {
				return usageError("broker.target: %s starts a broker in each pod, which the other workers never reach: workers of a split run share a broker given by broker.url", s.Broker.Target)
			}
			if spec.Scenario, err = ld.Marshal(s); err != nil {
				return err
			}
			out, err := k8s.Manifests(spec)
			if err != nil {
				return usageError("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			if red, err := ld.Marshal(s.Redacted()); err == nil && string(red) != string(spec.Scenario) {
				fmt.Fprintln(cmd.ErrOrStderr(), "mqcheck: warning: the ConfigMap holds the scenario's secrets (broker.url password, broker.env): keep the manifests private")
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().IntVar(&spec.Workers, "workers", 0, "number of workers (pods of the Indexed Job)")
	cmd.Flags().StringVar(&spec.Image, "image", "mqcheck:"+version, "image with mqcheck as its entrypoint (the repository's Dockerfile builds one)")
	cmd.Flags().StringVar(&spec.Claim, "claim", "mqcheck-runs", "PersistentVolumeClaim mounted at /runs for the run directories")
	cmd.Flags().StringVar(&spec.RunID, "run-id", "", "the run's id (default NAME-TIMESTAMP)")
	cmd.Flags().StringVar(&spec.StartAt, "start-at", "", "every worker's start barrier (RFC 3339)")
	cmd.Flags().StringVar(&spec.Name, "name", "", "names the objects mqcheck-NAME-... (default the scenario's name)")
	cmd.Flags().StringVar(&spec.Namespace, "namespace", "", "namespace of the objects (default: kubectl's)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a scenario field: path=value (repeatable)")
	cmd.ValidArgsFunction = completeScenario
	return cmd
}
