#!/usr/bin/env bash
# Builds the Java gRPC peer of the tests (tools/java-grpc: grpc-java with grpc-netty-shaded, whose
# netty-tcnative carries BoringSSL and is extracted, loaded and deleted at run time) with Maven
# from Maven Central, cached outside the clone:
#   $TLSOTEL_CACHE_DIR (default /var/cache/tlsotel as root, else ${XDG_CACHE_HOME:-~/.cache}/tlsotel)
#     /java-grpc-HASH/classpath   (HASH: of the pom and the source; one line: the java -cp value)
#
#   scripts/build-java-grpc.sh          build if missing; prints the classpath file's path
#   scripts/build-java-grpc.sh --path   prints the path only (builds nothing; it may not exist)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tools/java-grpc"
if [ -n "${TLSOTEL_CACHE_DIR:-}" ]; then cache=$TLSOTEL_CACHE_DIR
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tlsotel
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tlsotel
fi
hash=$(cat "$src/pom.xml" "$src"/src/main/java/tlsotel/*.java | sha256sum | cut -c1-12)
dir="$cache/java-grpc-$hash"
out="$dir/classpath"
if [ "${1:-}" = "--path" ]; then echo "$out"; exit 0; fi
# Built, and every jar it names still there (Maven's local repository may have been cleaned).
built() {
  [ -s "$out" ] || return 1
  local jar
  while IFS= read -r jar; do [ -f "$jar" ] || return 1; done < <(tr ':' '\n' < "$out")
}
if built; then echo "$out"; exit 0; fi

mkdir -p "$dir"
exec 9>"$dir/lock"
flock 9
if built; then echo "$out"; exit 0; fi
work="$dir/build"
rm -rf "$work"
cp -r "$src" "$work"
(cd "$work" && mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/deps.txt) >&2
echo "$work/target/java-grpc-peer-1.jar:$(cat "$work/target/deps.txt")" > "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
