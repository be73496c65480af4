# The tlsotel agent image. Build it from a checkout after `npm run build` (dist/src is the compiled
# agent; the BPF object bpf/tlsotel.bpf.o is committed, so no clang is needed):
#   npm ci && npm run build && docker build -t tlsotel/agent:0.1.0 .
# Run it with the pod security context of deploy/kubernetes/daemonset.yaml: the three
# capabilities, user nobody, hostPID. test/deploy/dockerfile.test.ts replays these steps in a
# Debian root (no Docker engine needed) and runs the agent from it.
FROM node:20-bookworm-slim

# libbpf.so.1, which the agent loads through koffi. The image runs as nobody and Kubernetes gives
# a non-root container no capabilities of its own (no ambient capabilities): node carries the
# agent's three as file capabilities, bounded by what the pod grants (README "Deployment").
# setcap comes from libcap2-bin, removed again once used.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 libcap2-bin \
 && setcap cap_sys_admin,cap_sys_ptrace,cap_dac_read_search+ep /usr/local/bin/node \
 && apt-get purge -y libcap2-bin \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tlsotel
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY dist/src ./dist/src
COPY bpf/tlsotel.bpf.o ./bpf/tlsotel.bpf.o

USER 65534:65534
ENTRYPOINT ["node", "/opt/tlsotel/dist/src/cli/main.js"]
CMD ["run"]
