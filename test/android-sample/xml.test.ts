// Every XML file of android-sample parsed by a real XML parser (Python's xml.etree, expat), and the
// manifests checked on the parsed tree rather than with regular expressions: a comment holding
// "--" (once in the anbox flavor's manifest, which AGP's manifest merger rejects) fails here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHANNEL_STATUS_ACTION } from '../../src/broadcast/types.js';
import { ANDROID_SAMPLE } from './java-toolchain.js';

const ANDROID = '{http://schemas.android.com/apk/res/android}';

interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

type ParseResult = { ok: true; root: XmlElement } | { ok: false; error: string };

/** Parses with python3's xml.etree: each file's tree as JSON, or its parse error. */
const PARSER = `
import json, sys
import xml.etree.ElementTree as ET
def tree(e):
    return {"tag": e.tag, "attrs": dict(e.attrib), "children": [tree(c) for c in e]}
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = {"ok": True, "root": tree(ET.parse(path).getroot())}
    except ET.ParseError as err:
        out[path] = {"ok": False, "error": str(err)}
json.dump(out, sys.stdout)
`;

function parseXml(paths: string[]): Record<string, ParseResult> {
  const result = spawnSync('python3', ['-c', PARSER, ...paths], { encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`python3 could not run (Debian: apt-get install python3): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`the XML parser failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, ParseResult>;
}

function xmlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) {
      if (entry !== 'build' && entry !== '.gradle') out.push(...xmlFiles(path));
    } else if (entry.endsWith('.xml')) out.push(path);
  }
  return out.sort();
}

function find(root: XmlElement, tag: string, name?: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.tag === tag && (name === undefined || e.attrs[`${ANDROID}name`] === name)) out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}

function parsedRoot(path: string): XmlElement {
  const result = parseXml([path])[path];
  if (!result.ok) throw new Error(`${relative(ANDROID_SAMPLE, path)}: ${result.error}`);
  return result.root;
}

describe('android-sample: every XML file is well-formed', () => {
  it('parses all of them (manifests, resources, the Maven build)', () => {
    const files = xmlFiles(ANDROID_SAMPLE);
    const names = files.map((f) => relative(ANDROID_SAMPLE, f));
    expect(names).toEqual(expect.arrayContaining(['app/src/main/AndroidManifest.xml', 'app/src/anbox/AndroidManifest.xml', 'app/src/main/res/layout/activity_main.xml', 'app/src/main/res/values/strings.xml', 'build-tools/pom.xml']));
    const results = parseXml(files);
    const errors = Object.entries(results).filter(([, r]) => !r.ok).map(([path, r]) => `${relative(ANDROID_SAMPLE, path)}: ${(r as { error: string }).error}`);
    expect(errors).toEqual([]);
  });

  it('the parser is strict: "--" inside a comment is rejected (the anbox manifest once had it)', () => {
    const result = spawnSync('python3', ['-c', 'import sys, xml.etree.ElementTree as ET; ET.fromstring(sys.argv[1])', '<!-- aam --access-hidden-api --><manifest/>'], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/ParseError/);
  });
});

describe('android-sample: manifests, read from the parsed tree', () => {
  // Parsed inside each test, so that a malformed manifest fails the tests rather than the file.
  const mainManifest = () => parsedRoot(join(ANDROID_SAMPLE, 'app', 'src', 'main', 'AndroidManifest.xml'));
  const anboxManifest = () => parsedRoot(join(ANDROID_SAMPLE, 'app', 'src', 'anbox', 'AndroidManifest.xml'));

  it("declares DataChannelEventReceiver, exported, for the daemon's action only", () => {
    const [receiver] = find(mainManifest(), 'receiver', '.DataChannelEventReceiver');
    expect(receiver).toBeDefined();
    expect(receiver.attrs[`${ANDROID}exported`]).toBe('true');
    const actions = find(receiver, 'action').map((a) => a.attrs[`${ANDROID}name`]);
    expect(actions).toEqual([CHANNEL_STATUS_ACTION]);
  });

  it('the launcher activity handles the configuration changes a resize on Anbox makes', () => {
    const [activity] = find(mainManifest(), 'activity', '.MainActivity');
    expect(activity).toBeDefined();
    expect(find(activity, 'action').map((a) => a.attrs[`${ANDROID}name`])).toContain('android.intent.action.MAIN');
    expect(find(activity, 'category').map((a) => a.attrs[`${ANDROID}name`])).toContain('android.intent.category.LAUNCHER');
    const changes = activity.attrs[`${ANDROID}configChanges`].split('|');
    for (const change of ['orientation', 'screenSize', 'smallestScreenSize', 'screenLayout', 'density', 'uiMode']) expect(changes).toContain(change);
  });

  it('the anbox overlay only adds android:sharedUserId="android.uid.system" to <manifest>', () => {
    const anbox = anboxManifest();
    expect(anbox.tag).toBe('manifest');
    expect(anbox.attrs).toEqual({ [`${ANDROID}sharedUserId`]: 'android.uid.system' });
    expect(anbox.children).toEqual([]);
    expect(mainManifest().attrs[`${ANDROID}sharedUserId`]).toBeUndefined();
  });
});
