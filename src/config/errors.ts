// The one error for a configuration that cannot work: a bad flag, an unknown flag, an endpoint
// that cannot be used. main.ts prints its message as one line and exits 2.
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
