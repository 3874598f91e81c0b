import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import { packageRoot } from '../config/package-root.js';

/** Where the page's files are: not compiled, so `<package root>/src/web` from src/ and from dist/ alike. */
export function defaultWebDir(): string {
  return join(packageRoot(), 'src', 'web');
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
};

export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

export interface StaticFile {
  path: string;
  contentType: string;
  body: Buffer;
}

/** A file request that is malformed (bad percent-encoding), as opposed to one that finds nothing. */
export class BadPathError extends Error {
  override readonly name = 'BadPathError';
}

const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Read-only files under one directory. A request path is percent-decoded once and split into
 * segments; `..`, `.`, empty-after-decoding tricks, hidden names (leading "."), backslashes and NUL
 * are refused, and the resolved real path (symlinks followed) must still be inside the directory.
 * Anything refused is reported as "not found", so nothing about the file system leaks.
 */
export class StaticFiles {
  private realRoot: string | undefined;

  constructor(readonly root: string) {}

  /** The file for a URL path (without query), or undefined when there is none that may be served. */
  async lookup(urlPath: string): Promise<StaticFile | undefined> {
    const segments = decodeSegments(urlPath);
    if (segments === undefined) return undefined;
    const root = await this.resolveRoot();
    if (root === undefined) return undefined;
    let candidate = join(root, ...segments);
    if (urlPath.endsWith('/')) candidate = join(candidate, 'index.html');
    let real = await safeRealpath(candidate);
    if (real === undefined) return undefined;
    let info = await stat(real);
    if (info.isDirectory()) {
      real = await safeRealpath(join(real, 'index.html'));
      if (real === undefined) return undefined;
      info = await stat(real);
    }
    if (!info.isFile() || info.size > MAX_FILE_BYTES) return undefined;
    if (real !== root && !real.startsWith(root + sep)) return undefined;
    return { path: real, contentType: contentTypeOf(real), body: await readFile(real) };
  }

  /** The directory's real path; looked up again until it exists (the page may be added later). */
  private async resolveRoot(): Promise<string | undefined> {
    this.realRoot ??= await safeRealpath(this.root);
    return this.realRoot;
  }
}

function decodeSegments(urlPath: string): string[] | undefined {
  if (!urlPath.startsWith('/')) return undefined;
  const segments: string[] = [];
  for (const raw of urlPath.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new BadPathError('malformed percent-encoding in the path');
    }
    if (segment.startsWith('.') || segment.includes('/') || segment.includes('\\') || segment.includes('\0')) return undefined;
    segments.push(segment);
  }
  return segments;
}

async function safeRealpath(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch {
    return undefined;
  }
}
