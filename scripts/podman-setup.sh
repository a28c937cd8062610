#!/usr/bin/env bash
# Makes this machine able to run mqcheck's container targets and tests with
# Podman instead of a Docker daemon (issue 18), and builds the local test
# images. Idempotent: run it again and it only does what is missing.
# Nothing is downloaded but Debian packages: no registry is used, the
# images are built from a tiny root that runs the host's broker servers
# from a read-only bind mount of the host's /usr.
#
# Afterwards, for testcontainers-go (and mqcheck's container target):
#   export DOCKER_HOST=unix:///run/podman/podman.sock
#   export TESTCONTAINERS_RYUK_DISABLED=true       # the reaper image cannot be pulled
#   export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1  # keep traffic on loopback
set -euo pipefail

sock=/run/podman/podman.sock

need=()
command -v podman >/dev/null || need+=(podman)
command -v curl >/dev/null || need+=(curl)
command -v runc >/dev/null || need+=(runc)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}"
fi

# crun fails on this host's hybrid cgroups; the sandbox cannot raise limits
# to Podman's defaults.
conf=/etc/containers/containers.conf.d/mqcheck.conf
want='[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
fi

# The Docker-compatible API socket.
ping() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
if ! ping; then
  mkdir -p /run/podman
  rm -f "$sock"
  # From /: the service outlives this checkout, and conmon fails every
  # container start ("Failed to get working directory") once its working
  # directory is deleted.
  (cd / && setsid nohup podman system service --time=0 "unix://$sock" >/run/podman/service.log 2>&1 </dev/null &)
  for _ in $(seq 100); do ping && break; sleep 0.1; done
  ping || { echo "podman-setup: the API socket $sock does not answer; see /run/podman/service.log" >&2; exit 1; }
fi

# The host-root base: merged-/usr symlinks, a few /etc files, and an empty
# /usr that containers bind-mount from the host (broker.mounts: /usr:/usr:ro).
base=localhost/mqcheck-test/hostroot:2
if ! podman image exists "$base"; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{usr,etc,tmp,run,var/lib,var/log,root,data}
  chmod 1777 "$root/tmp"
  for l in bin sbin lib lib64; do ln -s "usr/$l" "$root/$l"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  tar -C "$root" -c . | podman import -q --change 'WORKDIR /data' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$base" >/dev/null
fi

# One image per broker: the command runs the host's server in the
# foreground, listening on every interface of the container.
# An image is rebuilt when its recipe changed (a label holds its hash).
build() { # name, then Containerfile lines
  local name=$1; shift
  local recipe; recipe=$({ echo "FROM $base"; printf '%s\n' "$@"; } | sha256sum | cut -c1-16)
  [ "$(podman image inspect --format '{{index .Labels "org.mqcheck.recipe"}}' "$name" 2>/dev/null)" = "$recipe" ] && return
  local dir; dir=$(mktemp -d)
  { echo "FROM $base"; printf '%s\n' "$@"; echo "LABEL org.mqcheck.recipe=$recipe"; } >"$dir/Containerfile"
  podman build -q --network none --volume /usr:/usr:ro -t "$name" "$dir" >/dev/null
  rm -rf "$dir"
}
build localhost/mqcheck-test/redis:7.0 \
  'CMD ["/usr/bin/redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data", "--save", "", "--appendonly", "no"]'
# Laid out as eclipse-mosquitto: configuration in /mosquitto/config, data
# in /mosquitto/data (mqcheck mounts its own configuration there).
build localhost/mqcheck-test/mosquitto:2.0 \
  'RUN ["/usr/bin/sh", "-c", "mkdir -p /mosquitto/config /mosquitto/data && printf \"listener 1883\\nallow_anonymous true\\npersistence true\\npersistence_location /mosquitto/data/\\n\" >/mosquitto/config/mosquitto.conf"]' \
  'CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]'
# Laid out as the nats image: the server is the entrypoint.
build localhost/mqcheck-test/nats:2.9 \
  'ENTRYPOINT ["/usr/sbin/nats-server"]' \
  'CMD ["-js", "-sd", "/data"]'
build localhost/mqcheck-test/rabbitmq:3.10 \
  'ENV HOME=/data/home RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_MNESIA_BASE=/data/mnesia RABBITMQ_LOG_BASE=/data/log RABBITMQ_ENABLED_PLUGINS_FILE=/data/enabled_plugins RABBITMQ_PID_FILE=/data/pid RABBITMQ_CONFIG_FILE=/data/rabbitmq.conf ERL_EPMD_ADDRESS=127.0.0.1' \
  'CMD ["/usr/bin/sh", "-c", "mkdir -p /data/home && echo \"[].\" >/data/enabled_plugins && echo \"loopback_users.guest = false\" >/data/rabbitmq.conf && exec /usr/lib/rabbitmq/bin/rabbitmq-server"]'
# fauxqs (the exec target's SQS emulator) on Node.js, both the host's: the
# test mounts the npm package's directory (.ci/run installs it in
# ~/.cache/mqcheck/fauxqs-1.9.2) on /fauxqs, read-only. It listens on
# every interface, on elasticmq's port. Node as pid 1 ignores SIGTERM: a
# graceful stop takes the engine's 10 s, then SIGKILL.
build localhost/mqcheck-test/fauxqs:1.9 \
  'CMD ["/usr/bin/node", "--input-type=module", "-e", "const { buildApp } = await import(`/fauxqs/node_modules/fauxqs/dist/app.js`); const app = buildApp({ logger: false }); await app.listen({ port: 9324, host: `0.0.0.0` }); console.log(`fauxqs listening on 0.0.0.0:9324`);"]'
# Earlier builds of these images, untagged by the rebuilds above.
podman image prune -f --filter label=org.mqcheck.recipe >/dev/null
podman images --filter reference='localhost/mqcheck-test/*' --format '{{.Repository}}:{{.Tag}} {{.ID}}'
