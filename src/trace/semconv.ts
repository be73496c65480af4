// Incubating OpenTelemetry semantic-convention keys we use. The package's "./incubating" entry
// point is not reachable with this project's module resolution, and the OTel guidance is to
// copy incubating names rather than depend on them.
export const ATTR_PROCESS_PID = 'process.pid';
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name';
export const ATTR_PROCESS_EXECUTABLE_PATH = 'process.executable.path';
export const ATTR_HOST_NAME = 'host.name';
export const ATTR_CONTAINER_ID = 'container.id';
export const ATTR_K8S_POD_UID = 'k8s.pod.uid';
