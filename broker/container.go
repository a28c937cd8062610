package broker

import "time"

// TargetContainer: a container mqcheck starts from Spec.Container.Image
// on a Docker-compatible engine (Docker, Podman's API socket), and removes
// at the end of the run.
const TargetContainer = "container"

// ContainerSpec is what a container target starts: the scenario's
// broker.image, broker.env, broker.command, broker.ports and
// broker.mounts.
type ContainerSpec struct {
	Image string
	Env   map[string]string
	// Command replaces the image's command; nil keeps it.
	Command []string
	// Ports the broker listens on inside the container ("5672/tcp"), in
	// the order its kind names them; nil: the kind's usual ports.
	Ports []string
	// Mounts are bind mounts, "host-path:container-path[:ro]".
	Mounts []string
}

// ContainerInfo is what a container target reports about the container it
// started, for results.json.
type ContainerInfo struct {
	Image   string `json:"image"`
	ImageID string `json:"image_id"`
	// Digest is the image's repository digest; "" for an image built
	// locally and never pushed or pulled.
	Digest string `json:"digest,omitempty"`
	ID     string `json:"id"`
	// StartedNS is when mqcheck asked the engine for the container (unix
	// ns), ReadyMS how long until the broker answered its protocol.
	StartedNS int64 `json:"started_unix_ns"`
	// Started is StartedNS on the monotonic clock, for durations.
	Started time.Time `json:"-"`
	ReadyMS int64     `json:"ready_ms"`
	// FirstAckMS is from StartedNS to the run's first acknowledged
	// publish; 0 when nothing was acknowledged.
	FirstAckMS int64 `json:"first_ack_ms,omitempty"`
}
