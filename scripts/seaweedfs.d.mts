// Types of scripts/seaweedfs.mjs, for the test helpers that start the built server.
export function seaweedVersion(): string;
export function cachedWeedPath(version?: string): string;
export function isPinnedBuild(bin: string, version?: string): boolean;
export function ensureWeed(log?: (msg: string) => void): string;
