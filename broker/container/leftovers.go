package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/mqcheck/mqcheck/internal/proc"
)

// The owner labels name the mqcheck process that started a container (as
// internal/proc's records do for processes): a container whose owner is
// gone was left by an mqcheck that was killed, and the next one removes
// it. A container without them (broker.keep, older mqcheck, anything
// else) is never touched.
const (
	labelOwnerPID   = "org.mqcheck.owner.pid"
	labelOwnerStart = "org.mqcheck.owner.start_ticks"
	labelOwnerBoot  = "org.mqcheck.owner.boot_id"
	labelOwnerPIDNS = "org.mqcheck.owner.pid_ns"
)

func ownerLabels(o proc.Owner) map[string]string {
	return map[string]string{
		labelOwnerPID:   strconv.Itoa(o.PID),
		labelOwnerStart: strconv.FormatUint(o.Start, 10),
		labelOwnerBoot:  o.BootID,
		labelOwnerPIDNS: o.PIDNS,
	}
}

// parseOwner reads the owner labels; ok is false unless all of them are
// there and well formed.
func parseOwner(labels map[string]string) (o proc.Owner, ok bool) {
	pid, err := strconv.Atoi(labels[labelOwnerPID])
	if err != nil || pid <= 0 {
		return o, false
	}
	start, err := strconv.ParseUint(labels[labelOwnerStart], 10, 64)
	if err != nil {
		return o, false
	}
	o = proc.Owner{PID: pid, Start: start, BootID: labels[labelOwnerBoot], PIDNS: labels[labelOwnerPIDNS]}
	if o.BootID == "" || o.PIDNS == "" {
		return proc.Owner{}, false
	}
	return o, true
}

// leftover reports whether a container with labels was left by an mqcheck
// that is gone, as seen from self.
func leftover(labels map[string]string, self proc.Owner) bool {
	o, ok := parseOwner(labels)
	return ok && o.Gone(self)
}

// removedContainer is a leftover container a sweep removed.
type removedContainer struct {
	ID, Image, Kind, Run, Dir string
	OwnerPID                  int
}

var sweepOnce sync.Once

// sweepTimeout bounds a sweep: an engine that hangs on a removal must not
// hold the run up for ever.
const sweepTimeout = time.Minute

// sweepLeftovers removes leftovers once per process, before its first
// container starts, and logs what it removed. A failed sweep does not
// fail the run: it only leaves what was left already.
func sweepLeftovers(ctx context.Context, cli client.APIClient, self proc.Owner, log *slog.Logger) {
	sweepOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		defer cancel()
		removed, err := sweep(ctx, cli, self)
		if log == nil {
			return
		}
		for _, r := range removed {
			log.Warn("removed a container left running by an earlier mqcheck that was killed", "id", short(r.ID),
				"image", r.Image, "kind", r.Kind, "run", r.Run, "dir", r.Dir, "owner_pid", r.OwnerPID)
		}
		if err != nil {
			log.Warn("removing containers left by an earlier mqcheck", "err", err)
		}
	})
}

// sweep removes (kills, then removes with its anonymous volumes) every
// container whose owner labels name a process that is gone, as seen from
// self. Containers without owner labels, or whose owner lives (another
// mqcheck running now), are left alone.
func sweep(ctx context.Context, cli client.APIClient, self proc.Owner) ([]removedContainer, error) {
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", labelOwnerPID)})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var removed []removedContainer
	var errs []error
	for _, c := range list.Items {
		if !leftover(c.Labels, self) {
			continue
		}
		o, _ := parseOwner(c.Labels)
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil {
			// Another mqcheck starting now may have swept it first.
			if gone, lerr := absent(ctx, cli, c.ID); lerr != nil || !gone {
				errs = append(errs, fmt.Errorf("removing container %s: %w", short(c.ID), err))
			}
			continue
		}
		removed = append(removed, removedContainer{ID: c.ID, Image: c.Image, Kind: c.Labels[labelKind], Run: c.Labels[labelRun],
			Dir: c.Labels[labelDir], OwnerPID: o.PID})
	}
	return removed, errors.Join(errs...)
}

// absent reports whether the engine no longer has container id.
func absent(ctx context.Context, cli client.APIClient, id string) (bool, error) {
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("id", id)})
	if err != nil {
		return false, err
	}
	return len(list.Items) == 0, nil
}
