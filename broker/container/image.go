package container

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"github.com/mqcheck/mqcheck/broker"
)

// pullTimeout bounds the one pull of an image the engine lacks:
// testcontainers-go would retry a registry that cannot be reached for
// many minutes.
const pullTimeout = 90 * time.Second

// CheckImage reports an image name that is empty or that no engine could
// parse, as a *broker.FieldError of field.
func CheckImage(field, image string) error {
	if image == "" {
		return broker.Problem(field, "is required when broker.target is container (an image such as rabbitmq:4)")
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return broker.Problem(field, "%q is not an image reference (%v)", image, err)
	}
	return nil
}

// CheckPorts reports broker.ports that do not fit a kind listening on
// want ports ("5672/tcp", in order): their count, or a port that is not
// one. fixed: the kind sets its listeners itself and takes no ports.
func CheckPorts(field string, ports []string, want []string, fixed bool) error {
	if len(ports) == 0 {
		return nil
	}
	if fixed {
		return broker.Problem(field, "the kind sets its listeners itself; remove broker.ports")
	}
	if len(ports) != len(want) {
		return broker.Problem(field, "names %d ports; the kind listens on %d (%s), give them in that order", len(ports), len(want), strings.Join(want, ", "))
	}
	for _, p := range ports {
		num, proto, _ := strings.Cut(p, "/")
		if proto != "" && proto != "tcp" {
			return broker.Problem(field, "%q: only tcp ports are mapped", p)
		}
		if err := broker.CheckPort(field, num); err != nil {
			return err
		}
	}
	return nil
}

// ensureImage makes sure the engine has image, pulling it once when it
// does not, and returns its id and repository digest.
func ensureImage(ctx context.Context, cli client.APIClient, image string) (id, digest string, err error) {
	ins, err := cli.ImageInspect(ctx, image)
	if err != nil {
		pctx, cancel := context.WithTimeout(ctx, pullTimeout)
		defer cancel()
		rc, perr := cli.ImagePull(pctx, image, client.ImagePullOptions{})
		if perr == nil {
			// Pull errors come in the stream, after a 200.
			perr = rc.Wait(pctx)
			_ = rc.Close()
		}
		if perr != nil {
			return "", "", fmt.Errorf("%w: image %s is not present locally (%v) and pulling it failed: %w", broker.ErrUnreachable, image, err, perr)
		}
		if ins, err = cli.ImageInspect(ctx, image); err != nil {
			return "", "", fmt.Errorf("%w: image %s: pulled, yet the engine does not show it: %w", broker.ErrUnreachable, image, err)
		}
	}
	if len(ins.RepoDigests) > 0 {
		digest = ins.RepoDigests[0]
	}
	return ins.ID, digest, nil
}
