#!/usr/bin/env bash
# Builds the container image for real and checks it as a user would.
#
#   scripts/container-check.sh [--install] [--rebuild-base] [--no-cache] [--clean]
#
# No public base image can be pulled here, so the check first makes a local stand-in for
# node:22-slim: Debian bookworm (debootstrap --variant=minbase, from the machine's apt mirror)
# with Node 22 from the npm registry's node-linux-<arch> package, npm, and a `node` user (uid 1000),
# imported into podman. Then it builds the Dockerfile on that base (BASE_IMAGE build argument),
# runs the image the way deploy/kubernetes runs it (read-only root filesystem, the cache directory
# on a tmpfs, every capability dropped, the logging ConfigMap's YAML, a shared noise secret), and
# checks: /livez and /readyz, a chat completion (plain and streamed) on the embedded defaults, a
# non-root process, the HEALTHCHECK, production dependencies only, the read-only root, the preStop
# `sleep`, a clean exit (code 0) on `podman stop`, and what the image adds to its base (at most
# APP_LAYERS_MAX_MIB, 150). It prints the figures: image size, build times, start-up time, RSS.
#
# Needs root, podman, runc and debootstrap. --install apt-get installs the missing ones (only when
# asked). Podman runs with its own containers.conf (runc, no default ulimits: crun and the default
# ulimits are refused on these machines); builds use the host network to reach the npm registry,
# and where npm trusts an extra CA (a TLS-intercepting proxy: NODE_EXTRA_CA_CERTS or npm's cafile),
# that file is mounted into the build stages, never into the image.
# --rebuild-base makes the base again (it is kept between runs, tagged by Node version); --no-cache
# builds the image without podman's layer cache; --clean removes the image and the base afterwards.
#
# Environment: APP_LAYERS_MAX_MIB (150), NODE_MAJOR (22), NODE_VERSION (default: the newest 22.x of node-linux-<arch>),
# NPM_VERSION (default: the newest npm 10), SGP_DEBIAN_MIRROR (default: the first Debian URI in
# the machine's apt sources). Work files: .sgt-proxy/container-check/; the figures are printed and
# written to .sgt-proxy/container-check/report.json. Exit 0 when every check passed, 1 when one
# failed, 2 when it cannot run here (the reason on stderr).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/.sgt-proxy/container-check"
install=0 rebuild_base=0 no_cache=0 clean=0
for arg in "$@"; do
  case "$arg" in
    --install) install=1 ;;
    --rebuild-base) rebuild_base=1 ;;
    --no-cache) no_cache=1 ;;
    --clean) clean=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "container-check: unknown option $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

cannot_run() {
  echo "container-check: cannot run here: $*" >&2
  exit 2
}

[[ $(id -u) == 0 ]] || cannot_run "needs root (debootstrap and podman's root storage)"
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]} > 0)); then
  ((install)) || cannot_run "missing ${missing[*]} (apt-get install podman runc debootstrap, or pass --install)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null
fi

mkdir -p "$work"
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF

results=() # "name|pass|detail"
failed=0
check() {
  local name=$1 ok=$2 detail=$3
  if [[ $ok == 1 ]]; then
    printf '  pass  %-28s %s\n' "$name" "$detail"
    results+=("$name|true|$detail")
  else
    printf '  FAIL  %-28s %s\n' "$name" "$detail"
    results+=("$name|false|$detail")
    failed=1
  fi
}
now_ms() { date +%s%3N; }
seconds_since() { node -e 'process.stdout.write(((Date.now() - Number(process.argv[1])) / 1000).toFixed(1))' "$1"; }

# --- the base image: a local stand-in for node:22-slim -------------------------------------------
case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64) node_arch=arm64 ;;
  *) cannot_run "no node-linux package for $(uname -m)" ;;
esac
node_major=${NODE_MAJOR:-22}
node_version=${NODE_VERSION:-$(npm view "node-linux-$node_arch@$node_major" version --json | node -e \
  'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); process.stdout.write([v].flat().at(-1))')}
npm_version=${NPM_VERSION:-$(npm view npm@10 version --json | node -e \
  'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); process.stdout.write([v].flat().at(-1))')}
base_image="localhost/sgt-proxy-base:node-$node_version-bookworm"

debian_mirror() {
  if [[ -n ${SGP_DEBIAN_MIRROR:-} ]]; then
    echo "$SGP_DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n $uri ]] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n1 || true)
  [[ -n $uri ]] || cannot_run "no Debian mirror in the apt sources (set SGP_DEBIAN_MIRROR)"
  echo "$uri"
}

build_base() {
  local rootfs="$work/rootfs" pkgs="$work/packages"
  rm -rf "$rootfs" "$pkgs"
  mkdir -p "$pkgs/node" "$pkgs/npm"
  echo "base: debootstrap --variant=minbase bookworm ($(debian_mirror))"
  debootstrap --variant=minbase bookworm "$rootfs" "$(debian_mirror)" >"$work/debootstrap.log" 2>&1 ||
    {
      tail -n 20 "$work/debootstrap.log" >&2
      cannot_run "debootstrap failed (log: $work/debootstrap.log)"
    }
  # What debian:bookworm-slim leaves out: package lists and caches, manuals, translations.
  rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
  find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
  echo "base: node-linux-$node_arch@$node_version and npm@$npm_version from the npm registry"
  (cd "$pkgs" && npm pack --silent "node-linux-$node_arch@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$pkgs/node-linux-$node_arch-$node_version.tgz" -C "$pkgs/node" --strip-components=1
  tar -xzf "$pkgs/npm-$npm_version.tgz" -C "$pkgs/npm" --strip-components=1
  install -D -m 0755 "$pkgs/node/bin/node" "$rootfs/usr/local/bin/node"
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$pkgs/npm" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # node:22-slim's user: uid and gid 1000, home /home/node.
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'CMD ["node"]' - "$base_image" >/dev/null
  rm -rf "$rootfs" "$pkgs"
}

echo "container-check: podman $(podman version --format '{{.Client.Version}}'), runtime runc"
base_seconds=null
if ((rebuild_base)) || ! podman image exists "$base_image"; then
  started=$(now_ms)
  build_base
  base_seconds=$(seconds_since "$started")
  echo "base: $base_image built in $base_seconds s"
else
  echo "base: $base_image (kept from an earlier run; --rebuild-base makes it again)"
fi
base_node=$(podman run --rm --no-healthcheck --network none "$base_image" node --version)
check "base: node $node_major" "$([[ $base_node == v$node_major.* ]] && echo 1 || echo 0)" "$base_node"

# --- the image --------------------------------------------------------------------------------------
image="localhost/sgt-proxy:container-check"
build_args=(--format docker --network host --pull=never --build-arg "BASE_IMAGE=$base_image" -t "$image")
((no_cache)) && build_args+=(--no-cache)
# Where this machine reaches the registry through a TLS-intercepting proxy, npm in the build stages
# needs its CA (the host's npm cafile / NODE_EXTRA_CA_CERTS); it is mounted for the build only.
build_ca=${NODE_EXTRA_CA_CERTS:-$(npm config get cafile 2>/dev/null || true)}
if [[ -n $build_ca && $build_ca != null && $build_ca != undefined && -f $build_ca ]]; then
  build_args+=(--volume "$build_ca:/run/build-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/build-ca.pem)
fi
echo "image: podman build ${build_args[*]} ."
started=$(now_ms)
podman build "${build_args[@]}" -f "$repo/Dockerfile" "$repo" >"$work/build.log" 2>&1 || {
  tail -n 30 "$work/build.log" >&2
  echo "container-check: the image build failed (log: $work/build.log)" >&2
  exit 1
}
build_seconds=$(seconds_since "$started")
echo "image: built in $build_seconds s"

image_bytes=$(podman image inspect --format '{{.Size}}' "$image")
base_bytes=$(podman image inspect --format '{{.Size}}' "$base_image")
mib() { node -e 'process.stdout.write((Number(process.argv[1]) / 2 ** 20).toFixed(0))' "$1"; }
user=$(podman image inspect --format '{{.Config.User}}' "$image")
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$image")
app_mib=$(mib $((image_bytes - base_bytes)))
app_max=${APP_LAYERS_MAX_MIB:-150}
check "image: size over the base" "$((app_mib <= app_max))" "$app_mib MiB (at most $app_max)"
check "image: non-root USER" "$([[ -n $user && $user != root && $user != 0 && $user != 0:* ]] && echo 1 || echo 0)" "USER $user"
check "image: HEALTHCHECK kept" "$([[ $healthcheck == *livez* ]] && echo 1 || echo 0)" "on /livez"

# Production dependencies only: every package in the image's node_modules is a non-dev entry of the
# lockfile, and every non-optional one of those is there.
installed=$(podman run --rm --no-healthcheck --network none --entrypoint node "$image" -e '
  const fs = require("fs"), path = require("path");
  const found = [];
  const walk = (dir) => {
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(".")) continue;
      const names = name.startsWith("@") ? fs.readdirSync(path.join(dir, name)).map((n) => name + "/" + n) : [name];
      for (const n of names) {
        const p = path.join(dir, n);
        if (!fs.existsSync(path.join(p, "package.json"))) continue;
        found.push(path.relative("/app", p));
        walk(path.join(p, "node_modules"));
      }
    }
  };
  walk("/app/node_modules");
  process.stdout.write(JSON.stringify(found));')
deps_verdict=$(node -e '
  const lock = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).packages;
  const installed = new Set(JSON.parse(process.argv[2]));
  const entries = Object.entries(lock).filter(([p]) => p.startsWith("node_modules/"));
  const dev = entries.filter(([p, e]) => e.dev && installed.has(p)).map(([p]) => p);
  const allowed = new Set(entries.filter(([, e]) => !e.dev).map(([p]) => p));
  const unknown = [...installed].filter((p) => !allowed.has(p));
  const absent = entries.filter(([p, e]) => !e.dev && !e.optional && !e.devOptional && !installed.has(p)).map(([p]) => p);
  const ok = dev.length === 0 && unknown.length === 0 && absent.length === 0;
  const detail = ok ? `${installed.size} packages, none of them dev` :
    `dev: ${dev.slice(0, 5).join(",") || "-"}; not in the lockfile: ${unknown.slice(0, 5).join(",") || "-"}; missing: ${absent.slice(0, 5).join(",") || "-"}`;
  process.stdout.write((ok ? "1" : "0") + "|" + detail);' "$repo/package-lock.json" "$installed")
check "image: production deps only" "${deps_verdict%%|*}" "${deps_verdict#*|}"
modules_mib=$(podman run --rm --no-healthcheck --network none --entrypoint du "$image" -sm /app/node_modules | awk '{print $1}')

# --- run it as deploy/kubernetes does --------------------------------------------------------------
ctr="sgt-proxy-container-check-$$"
cleanup() { podman rm -f "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); })')
noise_secret=$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex"))')
started=$(now_ms)
# The HEALTHCHECK runs on demand below: podman's timer for it needs systemd, which is not here.
podman run -d --name "$ctr" --network host --health-interval disable \
  --read-only --read-only-tmpfs=false --tmpfs /var/cache/sgt-proxy:rw,size=256m,mode=1777 \
  --cap-drop ALL --security-opt no-new-privileges \
  -v "$repo/deploy/kubernetes/logging.yaml:/etc/sgt-proxy/logging.yaml:ro" \
  -e SGP_HOST=127.0.0.1 -e "SGP_PORT=$port" -e SGP_CACHE_DIR=/var/cache/sgt-proxy \
  -e SGP_LOGGING_CONFIG_FILE=/etc/sgt-proxy/logging.yaml -e "SGP_NOISE_SECRET=$noise_secret" \
  "$image" >/dev/null
base_url="http://127.0.0.1:$port"
live=0
for _ in $(seq 1 600); do
  if curl -sf "$base_url/livez" >/dev/null 2>&1; then
    live=1
    break
  fi
  [[ $(podman inspect --format '{{.State.Running}}' "$ctr") == true ]] || break
  sleep 0.2
done
startup_seconds=$(seconds_since "$started")
if ((!live)); then
  podman logs "$ctr" 2>&1 | tail -n 20 >&2
  check "run: /livez" 0 "not answering after $startup_seconds s"
else
  check "run: /livez" 1 "$(curl -s "$base_url/livez"), $startup_seconds s after podman run"
  readyz=$(curl -s -o /dev/null -w '%{http_code}' "$base_url/readyz")
  check "run: /readyz" "$([[ $readyz == 200 ]] && echo 1 || echo 0)" "HTTP $readyz (embedded upstream)"

  model=$(curl -s "$base_url/v1/models" | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).data[0].id)')
  body=$(node -e 'process.stdout.write(JSON.stringify({ model: process.argv[1], max_tokens: 16,
    messages: [{ role: "user", content: "Hello from the container check" }] }))' "$model")
  answer=$(curl -s -H 'content-type: application/json' -d "$body" "$base_url/v1/chat/completions")
  verdict=$(node -e '
    try {
      const a = JSON.parse(process.argv[1]), c = a.choices[0];
      const ok = a.object === "chat.completion" && c.message.content.length > 0 && c.finish_reason !== null;
      process.stdout.write((ok ? "1" : "0") + `|${a.model}: ${c.message.content.length} characters, finish_reason ${c.finish_reason}`);
    } catch { process.stdout.write("0|" + process.argv[1].slice(0, 200)); }' "$answer")
  check "run: chat completion" "${verdict%%|*}" "${verdict#*|}"
  stream_body=$(node -e 'const b = JSON.parse(process.argv[1]); b.stream = true; process.stdout.write(JSON.stringify(b))' "$body")
  stream=$(curl -sN -H 'content-type: application/json' -d "$stream_body" "$base_url/v1/chat/completions")
  chunks=$(grep -c '^data: {' <<<"$stream" || true)
  last=$(grep '^data: ' <<<"$stream" | tail -n1)
  check "run: streamed completion" "$([[ $last == 'data: [DONE]' && $chunks -gt 1 ]] && echo 1 || echo 0)" "$chunks chunks, then ${last:-nothing}"

  uid=$(podman exec "$ctr" node -e 'process.stdout.write(String(process.getuid()))')
  pid1_uid=$(podman exec "$ctr" awk '/^Uid:/ {print $2}' /proc/1/status)
  check "run: non-root process" "$([[ $uid != 0 && $pid1_uid != 0 ]] && echo 1 || echo 0)" "uid $pid1_uid (pid 1), $uid (exec)"
  health=0
  podman healthcheck run "$ctr" >/dev/null 2>&1 && health=1
  check "run: HEALTHCHECK" "$health" "podman healthcheck run: $([[ $health == 1 ]] && echo healthy || echo unhealthy)"
  writable=0
  podman exec "$ctr" sh -c ': > /app/probe' 2>/dev/null && writable=1
  check "run: read-only root" "$((1 - writable))" "writing /app fails; the cache is a tmpfs"
  has_sleep=0
  podman exec "$ctr" sleep 0 && has_sleep=1
  check "run: preStop sleep exists" "$has_sleep" "sleep 0"
  rss_kib=$(podman exec "$ctr" awk '/^VmRSS:/ {print $2}' /proc/1/status)

  started=$(now_ms)
  # (podman reports, on stderr, that it has no systemd timer to remove for the disabled HEALTHCHECK.)
  podman stop --time 30 "$ctr" >/dev/null 2>>"$work/podman.log"
  stop_seconds=$(seconds_since "$started")
  exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$ctr")
  check "run: SIGTERM exit" "$([[ $exit_code == 0 ]] && echo 1 || echo 0)" "exit code $exit_code after $stop_seconds s"
fi

base_figure=$([[ $base_seconds == null ]] && echo "kept" || echo "built in $base_seconds s")
echo "figures: image $(mib "$image_bytes") MiB (base $(mib "$base_bytes") MiB, $base_figure; node_modules $modules_mib MiB);" \
  "image build $build_seconds s; podman run to /livez $startup_seconds s; RSS $((${rss_kib:-0} / 1024)) MiB"

printf '%s\n' "${results[@]}" | REPORT="$work/report.json" node -e '
  const [image, base, app, modules, build, baseBuild, startup, rss, node, npm] = process.argv.slice(1);
  const checks = require("fs").readFileSync(0, "utf8").trim().split("\n").map((line) => {
    const [name, pass, ...detail] = line.split("|");
    return { name, pass: pass === "true", detail: detail.join("|") };
  });
  const report = {
    image_bytes: Number(image), base_bytes: Number(base), app_layers_mib: Number(app), node_modules_mib: Number(modules),
    build_seconds: Number(build), base_build_seconds: baseBuild === "null" ? null : Number(baseBuild),
    startup_seconds: Number(startup), rss_kib: rss === "" ? null : Number(rss),
    node_version: node, npm_version: npm, checks,
  };
  require("fs").writeFileSync(process.env.REPORT, JSON.stringify(report, null, 2) + "\n");' \
  "$image_bytes" "$base_bytes" "$app_mib" "$modules_mib" "$build_seconds" "$base_seconds" "$startup_seconds" "${rss_kib:-}" \
  "$node_version" "$npm_version"

if ((clean)); then
  podman rmi -f "$image" "$base_image" >/dev/null
fi
passed=$(printf '%s\n' "${results[@]}" | grep -c '|true|' || true)
echo "container-check: $passed of ${#results[@]} checks passed (report: $work/report.json)"
exit "$failed"
