#!/usr/bin/env bash
# Fetches Beam's Flink job server for the pinned Beam version from Maven Central
# and prints the path of a jar that `java -jar` runs (what --flink_job_server_jar
# takes).
#
#   scripts/get_flink_job_server.sh
#     -> ~/.cache/newsbeam/flink/beam-runners-flink-2.2-job-server-2.77.0.jar
#
# 1. The published job server: org.apache.beam:beam-runners-flink-<F>-job-server
#    at the pinned Beam version, for the newest Flink version <F> with one.
#    Candidate Flink versions come from the installed SDK's
#    FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS, newest first; the first whose
#    POM Maven Central serves wins; `mvn dependency:copy` fetches its jar.
# 2. If Maven Central serves none (a mirror that lacks the job-server
#    artifacts, or a Beam release whose Java side is not out yet), the job
#    server is assembled from the runner's own artifact instead:
#    `mvn dependency:copy-dependencies` of beam-runners-flink-<F>:<V> (which holds
#    FlinkJobServerDriver) into lib/, plus a launcher jar whose manifest names
#    the main class and lib/*.jar. <F>:<V> come from NEWSBEAM_FLINK_FALLBACK
#    (default below: the newest pair whose dependencies resolved on the project's
#    machines). The Python SDK and that job server then differ in version: the
#    portable job API and Fn API allow it, and tests/test_runners.py checks the
#    golden ingest on it.
#
# Idempotent: what was fetched once is reused (delete the cache folder to look
# again, e.g. once Maven Central serves the published job server). Environment:
#   NEWSBEAM_FLINK_DIR       cache folder (default $HOME/.cache/newsbeam/flink)
#   NEWSBEAM_BEAM_VERSION    Beam version (default: the apache-beam pin of pyproject.toml)
#   NEWSBEAM_FLINK_VERSIONS  candidate Flink versions, newest first (space separated)
#   NEWSBEAM_FLINK_FALLBACK  "<flink>:<beam java version>" to assemble, or "none"
#   PYTHON                   interpreter with apache_beam (default .venv/bin/python)
# Needs Maven, and Java 11+ to run the job server (Java 17 for Flink 2.x).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

beam_version="${NEWSBEAM_BEAM_VERSION:-}"
if [[ -z "$beam_version" ]]; then
  beam_version="$(sed -n 's/.*"apache-beam\(\[[a-z,]*\]\)\?==\([0-9.]*\)".*/\2/p' "$repo/pyproject.toml" | head -n1)"
fi
[[ -n "$beam_version" ]] || { echo "get_flink_job_server: cannot read the apache-beam pin" >&2; exit 2; }
fallback="${NEWSBEAM_FLINK_FALLBACK:-1.19:2.62.0}"

cache="${NEWSBEAM_FLINK_DIR:-${HOME}/.cache/newsbeam/flink}"
mkdir -p "$cache"
# Records which jar serves this Beam version, so later runs ask Maven nothing.
choice="$cache/job-server-for-beam-${beam_version}.path"
if [[ -s "$choice" ]] && [[ -f "$(cat "$choice")" ]]; then
  cat "$choice"
  exit 0
fi

command -v mvn >/dev/null || { echo "get_flink_job_server: Maven (mvn) is not installed" >&2; exit 3; }
mvn_q=(mvn --batch-mode --quiet --no-transfer-progress -Dstyle.color=never)

tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

remember() {
  echo "$1" > "$choice.tmp" && mv -f "$choice.tmp" "$choice"
  echo "$1"
}

# 1. The published job server at the pinned Beam version.
candidates="${NEWSBEAM_FLINK_VERSIONS:-}"
if [[ -z "$candidates" ]]; then
  python="${PYTHON:-$repo/.venv/bin/python}"
  [[ -x "$python" ]] || python="$(command -v python3)"
  candidates="$("$python" -c 'from apache_beam.options.pipeline_options import FlinkRunnerOptions as o; print(" ".join(reversed(o.PUBLISHED_FLINK_VERSIONS)))' 2>/dev/null || true)"
fi
candidates="${candidates:-2.2 2.1 2.0 1.20 1.19}"

for flink in $candidates; do
  artifact="org.apache.beam:beam-runners-flink-${flink}-job-server:${beam_version}"
  if "${mvn_q[@]}" -U dependency:get -Dartifact="${artifact}:pom" -Dtransitive=false >/dev/null 2>&1; then
    echo "get_flink_job_server: fetching ${artifact} (first run only)" >&2
    "${mvn_q[@]}" dependency:copy -Dartifact="${artifact}:jar" -DoutputDirectory="$tmp" >&2
    jar="$(ls -1 "$tmp"/*.jar)"
    mv -f "$jar" "$cache/"
    remember "$cache/$(basename "$jar")"
    exit 0
  fi
  echo "get_flink_job_server: Maven Central has no ${artifact}" >&2
done

# 2. Assemble a job server from the runner artifact and its dependencies.
if [[ "$fallback" == "none" ]]; then
  echo "get_flink_job_server: no Flink job server for Beam ${beam_version} (tried Flink ${candidates})" >&2
  exit 4
fi
flink="${fallback%%:*}"
java_beam="${fallback#*:}"
name="beam-runners-flink-${flink}-job-server-${java_beam}"
dest="$cache/assembled/$name"
echo "get_flink_job_server: assembling ${name} from org.apache.beam:beam-runners-flink-${flink}:${java_beam} (first run only)" >&2
cat > "$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.newsbeam</groupId>
  <artifactId>flink-job-server</artifactId>
  <version>${java_beam}</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.beam</groupId>
      <artifactId>beam-runners-flink-${flink}</artifactId>
      <version>${java_beam}</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>1.7.30</version>
    </dependency>
  </dependencies>
</project>
POM
(cd "$tmp" && "${mvn_q[@]}" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/out/lib" >&2)
{
  echo "Main-Class: org.apache.beam.runners.flink.FlinkJobServerDriver"
  printf "Class-Path:"
  # A manifest continuation line starts with one space; the second separates entries.
  for lib in "$tmp"/out/lib/*.jar; do printf "  lib/%s\n" "$(basename "$lib")"; done
} > "$tmp/manifest.txt"
mkdir -p "$tmp/empty"
jar --create --file "$tmp/out/$name.jar" --manifest "$tmp/manifest.txt" -C "$tmp/empty" .
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/out" "$dest"
remember "$dest/$name.jar"
