package main

import (
	"strings"
	"testing"
)

// FuzzWorkerFlag: --worker takes any string without panicking, and what it
// accepts is an index within the count.
func FuzzWorkerFlag(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "3/2", "0/0", "-1/2", "1/", "/2", "a/b", "1/2/3", " 1/2", "99999999999999999999/1"} {
		f.Add(s, "")
	}
	f.Add("", "2")
	f.Fuzz(func(t *testing.T, worker, env string) {
		wf := workerFlags{worker: worker, runID: "r"}
		if worker == "" {
			wf.workers = 3
		}
		w, err := wf.parse(func(string) string { return env })
		if err != nil {
			if !strings.Contains(err.Error(), "worker") && !strings.Contains(err.Error(), jobIndexEnv) {
				t.Errorf("error %q names neither the flag nor the variable", err)
			}
			return
		}
		if w == nil || w.Count < 1 || w.Index < 0 || w.Index >= w.Count {
			t.Fatalf("accepted %q (env %q) as %+v", worker, env, w)
		}
	})
}
