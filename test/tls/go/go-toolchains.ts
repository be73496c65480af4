// Real Go binaries for the tests: the fixture programs of test/fixtures/go/ built by each Go
// toolchain the project supports, in every way a user may link them (PIE, stripped, externally
// linked). A missing toolchain is an error, not a skip: scripts/install-test-deps.sh installs
// Debian's golang-go (1.19); /usr/local/go is the current release.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../../../../test/fixtures/go');

export interface Toolchain {
  /** What the test calls it, and the release it must be (GOVERSION prefix). */
  release: string;
  go: string;
}

export const TOOLCHAINS: readonly Toolchain[] = [
  { release: 'go1.19', go: '/usr/lib/go-1.19/bin/go' },
  { release: 'go1.26', go: '/usr/local/go/bin/go' },
];

/** How a binary is linked: each changes where the analysis finds things. */
export const LINK_MODES = {
  normal: [],
  pie: ['-buildmode=pie'],
  stripped: ['-ldflags=-s -w'],
  'stripped-pie': ['-buildmode=pie', '-ldflags=-s -w'],
  // The C linker puts its start-up code before Go's: runtime.text is not the start of .text.
  'external-pie': ['-buildmode=pie', '-ldflags=-linkmode=external'],
  'external-stripped-pie': ['-buildmode=pie', '-ldflags=-linkmode=external -s -w'],
  // CGO_ENABLED=0 (below): fully static, no dynamic section, the usual binary in a container.
  static: [],
  'static-stripped': ['-ldflags=-s -w'],
} as const;
export type LinkMode = keyof typeof LINK_MODES;

// The build cache outlives one run (it only speeds up builds); the binaries don't.
const GOCACHE = path.join(os.tmpdir(), 'tlsotel-test-gocache');
const OUT = mkdtempSync(path.join(os.tmpdir(), 'tlsotel-go-bin-'));

function env(): NodeJS.ProcessEnv {
  mkdirSync(GOCACHE, { recursive: true });
  return {
    PATH: process.env.PATH,
    HOME: os.tmpdir(),
    GOCACHE,
    GOPATH: path.join(GOCACHE, 'gopath'),
    GOTOOLCHAIN: 'local',
    GOENV: 'off',
    GOFLAGS: '',
    // Fixtures with module dependencies (grpc-pair) download them once into GOPATH above; a
    // machine that reaches the module proxy through a mirror says so in GOPROXY.
    ...(process.env.GOPROXY ? { GOPROXY: process.env.GOPROXY } : {}),
  };
}

/** The toolchain's GOVERSION (e.g. "go1.26.8"); throws, saying how to fix it, if it is missing or not the release expected. */
export function toolchainVersion(tc: Toolchain): string {
  if (!existsSync(tc.go)) throw new Error(`${tc.release} toolchain missing: ${tc.go} (run scripts/install-test-deps.sh)`);
  const version = execFileSync(tc.go, ['env', 'GOVERSION'], { env: env(), encoding: 'utf8' }).trim();
  if (!version.startsWith(`${tc.release}.`) && version !== tc.release) throw new Error(`${tc.go} is ${version}, expected ${tc.release}`);
  return version;
}

/** Builds fixture `program` (a folder of test/fixtures/go/) with a toolchain and link mode; returns the binary's path. */
export function buildFixture(tc: Toolchain, program: string, mode: LinkMode): string {
  const out = path.join(OUT, `${program}-${tc.release}-${mode}`);
  if (existsSync(out)) return out;
  execFileSync(tc.go, ['build', ...LINK_MODES[mode], '-o', out, '.'], {
    cwd: path.join(FIXTURES, program),
    env: { ...env(), CGO_ENABLED: mode.startsWith('static') ? '0' : '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out;
}

/** The unstripped build of the same program that a stripped link mode is compared with. */
export const UNSTRIPPED_TWIN: Partial<Record<LinkMode, LinkMode>> = {
  stripped: 'normal',
  'stripped-pie': 'pie',
  'external-stripped-pie': 'external-pie',
  'static-stripped': 'static',
};

/** The directory of this run's binaries (removed by the caller's `after`). */
export const BUILD_DIR = OUT;
