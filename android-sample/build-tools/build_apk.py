#!/usr/bin/env python3
"""Builds a signed debug APK of each flavor of the sample without Gradle or an Android SDK.

    python3 android-sample/build-tools/build_apk.py [--out DIR] [--flavor anbox|emulator ...]
    (npm run build:android)

The steps AGP's assembleDebug takes, with tools Debian and Maven Central serve:

  1. manifest   app/src/main/AndroidManifest.xml merged with app/src/<flavor>/AndroidManifest.xml
                (attributes of its <manifest> element; nothing else is used by this sample), plus
                package, versionCode/versionName and <uses-sdk> from app/build.gradle
  2. resources  aapt2 compile + aapt2 link against Debian's framework-res.apk (android-framework-res),
                which also writes R.java; applicationIdSuffix by --rename-manifest-package
  3. Java       javac -source 8 -target 8 with the boot class path Robolectric's android-all (API 34)
                + Java 8's java.base (from the JDK's ct.sym), as AGP uses android.jar; every
                lint warning in our sources an error
  4. dex        dx 9.0.0_r3 (AOSP's, repackaged on Maven Central) --min-sdk-version=<minSdk>
  5. package    classes.dex added to the linked APK, zipalign -p 4, apksigner sign (v2 + v3: apksigner and AGP skip v1 from minSdk 24) with a
                debug key made with keytool in the output directory, apksigner verify

The jars come from android-sample/build-tools/pom.xml (`mvn initialize`), run here when missing.
Output: <out>/app-<flavor>-debug.apk (default out: android-sample/build/apk).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.dirname(HERE)
APP = os.path.join(SAMPLE, 'app')
TOOLS_DIR = os.path.join(SAMPLE, 'build', 'tools')
ANDROID_NS = 'http://schemas.android.com/apk/res/android'
FLAVORS = ('anbox', 'emulator')

# Pinned in pom.xml; the file names are what maven-dependency-plugin's copy goal writes.
ANDROID_ALL_JAR = 'android-all-14-robolectric-10818077.jar'
DX_JAR = 'dalvik-dx-9.0.0_r3.jar'
FRAMEWORK_RES_CANDIDATES = (
    os.environ.get('ANDROID_FRAMEWORK_RES', ''),
    '/usr/share/android-framework-res/framework-res.apk',
)

DEBUG_KEY_ALIAS = 'androiddebugkey'
DEBUG_KEY_PASSWORD = 'android'


class BuildError(Exception):
    pass


def run(args, cwd=None):
    result = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise BuildError('%s failed (exit %d):\n%s' % (' '.join(args[:4]) + ' ...', result.returncode, result.stdout))
    return result.stdout


def require_tool(name, package):
    path = shutil.which(name)
    if not path:
        raise BuildError('`%s` is not on PATH: install it (Debian: `apt-get install %s`)' % (name, package))
    return path


def framework_res():
    for path in FRAMEWORK_RES_CANDIDATES:
        if path and os.path.isfile(path):
            return path
    raise BuildError('framework-res.apk not found: install Debian\'s android-framework-res '
                     '(`apt-get install android-framework-res`) or set ANDROID_FRAMEWORK_RES')


def maven_tools():
    """The jars of pom.xml's copy step; runs `mvn initialize` (normal Maven, ~/.m2) when one is missing."""
    jars = [os.path.join(TOOLS_DIR, name) for name in (ANDROID_ALL_JAR, DX_JAR)]
    if not all(os.path.isfile(jar) for jar in jars):
        require_tool('mvn', 'maven')
        print('fetching android-all and dx with Maven (android-sample/build-tools/pom.xml) ...', flush=True)
        run(['mvn', '-B', '-q', '-f', os.path.join(HERE, 'pom.xml'), 'initialize'])
    for jar in jars:
        if not os.path.isfile(jar):
            raise BuildError('%s is missing after `mvn initialize`' % jar)
    return jars


def gradle_config():
    """The values of app/build.gradle the manifest needs (one source of truth for Gradle and this script)."""
    with open(os.path.join(APP, 'build.gradle'), encoding='utf-8') as f:
        text = f.read()

    def value(name, block=text):
        m = re.search(r'\b%s\s+[\'"]?([^\'"\s]+)[\'"]?' % name, block)
        if not m:
            raise BuildError('app/build.gradle has no %s' % name)
        return m.group(1)

    flavors = {}
    for flavor in FLAVORS:
        m = re.search(r'\b%s\s*\{([^{}]*)\}' % flavor, text)
        if not m:
            raise BuildError('app/build.gradle has no product flavor %s' % flavor)
        body = m.group(1)
        suffix = re.search(r'applicationIdSuffix\s+[\'"]([^\'"]*)[\'"]', body)
        name_suffix = re.search(r'versionNameSuffix\s+[\'"]([^\'"]*)[\'"]', body)
        flavors[flavor] = {
            'applicationIdSuffix': suffix.group(1) if suffix else '',
            'versionNameSuffix': name_suffix.group(1) if name_suffix else '',
        }
    return {
        'namespace': value('namespace'),
        'applicationId': value('applicationId'),
        'minSdk': value('minSdk'),
        'targetSdk': value('targetSdk'),
        'versionCode': value('versionCode'),
        'versionName': value('versionName'),
        'flavors': flavors,
    }


def merge_manifest(flavor, config, out_path):
    """main + flavor manifest, as AGP's merger does for what this sample uses.

    The flavor overlay may only add attributes to <manifest> (android:sharedUserId for anbox);
    anything else in it is refused rather than silently dropped.
    """
    ET.register_namespace('android', ANDROID_NS)
    main = ET.parse(os.path.join(APP, 'src', 'main', 'AndroidManifest.xml')).getroot()
    overlay_path = os.path.join(APP, 'src', flavor, 'AndroidManifest.xml')
    if os.path.exists(overlay_path):
        overlay = ET.parse(overlay_path).getroot()
        if len(overlay):
            raise BuildError('%s: only attributes of <manifest> are merged by this script; '
                             'it has child elements (build with Gradle)' % overlay_path)
        for key, val in overlay.attrib.items():
            if key in main.attrib and main.attrib[key] != val:
                raise BuildError('%s: %s conflicts with src/main' % (overlay_path, key))
            main.set(key, val)
    flavor_config = config['flavors'][flavor]
    main.set('package', config['namespace'])
    main.set('{%s}versionCode' % ANDROID_NS, config['versionCode'])
    main.set('{%s}versionName' % ANDROID_NS, config['versionName'] + flavor_config['versionNameSuffix'])
    uses_sdk = ET.Element('uses-sdk')
    uses_sdk.set('{%s}minSdkVersion' % ANDROID_NS, config['minSdk'])
    uses_sdk.set('{%s}targetSdkVersion' % ANDROID_NS, config['targetSdk'])
    main.insert(0, uses_sdk)
    ET.ElementTree(main).write(out_path, encoding='utf-8', xml_declaration=True)


def java8_base(work):
    """Java 8's java.base API (class signatures from the JDK's lib/ct.sym, release "8").

    android-all holds android.*, not java.*; android.jar holds both. With this and android-all
    as the boot class path, javac sees a Java 8 class library plus the Android framework.
    """
    java_home = os.path.dirname(os.path.dirname(os.path.realpath(require_tool('javac', 'default-jdk-headless'))))
    ct_sym = os.path.join(java_home, 'lib', 'ct.sym')
    if not os.path.isfile(ct_sym):
        raise BuildError('%s is missing: a JDK 9+ is needed' % ct_sym)
    out = os.path.join(work, 'java8-base')
    with zipfile.ZipFile(ct_sym) as z:
        for name in z.namelist():
            parts = name.split('/')
            # <releases>/java.base/<package path>/<Class>.sig; <releases> lists every release the
            # signature is valid for ("879A" = 8, 7, 9, 10).
            if len(parts) < 3 or '8' not in parts[0] or parts[1] != 'java.base' or not name.endswith('.sig'):
                continue
            target = os.path.join(out, *parts[2:])[:-len('.sig')] + '.class'
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'wb') as f:
                f.write(z.read(name))
    return out


def java_sources(*dirs):
    out = []
    for d in dirs:
        for root, _, files in os.walk(d):
            out.extend(os.path.join(root, f) for f in files if f.endswith('.java'))
    return sorted(out)


def debug_keystore(out_dir):
    path = os.path.join(out_dir, 'debug.keystore')
    if not os.path.exists(path):
        run([require_tool('keytool', 'default-jdk-headless'), '-genkeypair', '-keystore', path, '-storetype', 'PKCS12',
             '-storepass', DEBUG_KEY_PASSWORD, '-keypass', DEBUG_KEY_PASSWORD, '-alias', DEBUG_KEY_ALIAS,
             '-keyalg', 'RSA', '-keysize', '2048', '-validity', '10000', '-dname', 'CN=Android Debug,O=Android,C=US'])
    return path


def link_resources(flavor, config, fdir):
    """Steps 1 and 2: the merged manifest, the linked resource APK and R.java (in fdir/gen)."""
    aapt2 = require_tool('aapt2', 'aapt')
    manifest = os.path.join(fdir, 'AndroidManifest.xml')
    merge_manifest(flavor, config, manifest)
    compiled = os.path.join(fdir, 'compiled-res.zip')
    run([aapt2, 'compile', '--dir', os.path.join(APP, 'src', 'main', 'res'), '-o', compiled])
    gen = os.path.join(fdir, 'gen')
    linked = os.path.join(fdir, 'linked.apk')
    application_id = config['applicationId'] + config['flavors'][flavor]['applicationIdSuffix']
    link = [aapt2, 'link', '-I', framework_res(), '--manifest', manifest, '--java', gen, '-o', linked,
            '--auto-add-overlay', '--warn-manifest-validation']
    if application_id != config['namespace']:
        link += ['--rename-manifest-package', application_id]
    run(link + [compiled])
    return manifest, linked, gen


def robolectric_resources(flavor, config, out_dir):
    """What AGP hands Robolectric with unitTests.includeAndroidResources: the merged manifest, the
    linked resources and R.java, and com/android/tools/test_config.properties pointing at them."""
    fdir = os.path.abspath(out_dir)
    if os.path.isdir(fdir):
        shutil.rmtree(fdir)
    os.makedirs(fdir)
    manifest, linked, _ = link_resources(flavor, config, fdir)
    props_dir = os.path.join(fdir, 'test-config', 'com', 'android', 'tools')
    os.makedirs(props_dir)
    with open(os.path.join(props_dir, 'test_config.properties'), 'w', encoding='utf-8') as f:
        f.write('android_merged_manifest=%s\n' % manifest)
        f.write('android_resource_apk=%s\n' % linked)
        f.write('android_custom_package=%s\n' % config['namespace'])


def build_flavor(flavor, config, tools, out_dir, work):
    android_all, dx, java8 = tools
    zipalign = require_tool('zipalign', 'zipalign')
    apksigner = require_tool('apksigner', 'apksigner')
    fdir = os.path.join(work, flavor)
    os.makedirs(fdir)

    _, linked, gen = link_resources(flavor, config, fdir)

    classes = os.path.join(fdir, 'classes')
    sources = java_sources(os.path.join(SAMPLE, 'protocol', 'src', 'main', 'java'),
                           os.path.join(APP, 'src', 'main', 'java'),
                           os.path.join(APP, 'src', flavor, 'java'), gen)
    boot = os.pathsep.join([android_all, java8])
    # -classfile: android-all's classes carry @UnsupportedAppUsage, whose class it does not ship
    # (android.jar strips it); javac would warn about the framework's class files, not ours.
    run(['javac', '-source', '8', '-target', '8', '-bootclasspath', boot, '-encoding', 'UTF-8',
         '-Xlint:all,-options,-classfile', '-Werror', '-d', classes] + sources)

    dex_dir = os.path.join(fdir, 'dex')
    os.makedirs(dex_dir)
    run(['java', '-cp', dx, 'com.android.dx.command.Main', '--dex', '--min-sdk-version=' + config['minSdk'],
         '--output=' + os.path.join(dex_dir, 'classes.dex'), classes])

    unaligned = os.path.join(fdir, 'unaligned.apk')
    shutil.copyfile(linked, unaligned)
    with zipfile.ZipFile(unaligned, 'a', compression=zipfile.ZIP_DEFLATED) as z:
        z.write(os.path.join(dex_dir, 'classes.dex'), 'classes.dex')
    aligned = os.path.join(fdir, 'aligned.apk')
    run([zipalign, '-p', '-f', '4', unaligned, aligned])

    apk = os.path.join(out_dir, 'app-%s-debug.apk' % flavor)
    run([apksigner, 'sign', '--ks', debug_keystore(out_dir), '--ks-key-alias', DEBUG_KEY_ALIAS,
         '--ks-pass', 'pass:' + DEBUG_KEY_PASSWORD, '--key-pass', 'pass:' + DEBUG_KEY_PASSWORD,
         '--min-sdk-version', config['minSdk'], '--v4-signing-enabled', 'false', '--out', apk, aligned])
    run([apksigner, 'verify', '--min-sdk-version', config['minSdk'], apk])
    return apk


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=os.path.join(SAMPLE, 'build', 'apk'), help='output directory')
    parser.add_argument('--flavor', action='append', choices=FLAVORS, help='flavor to build (default: both)')
    parser.add_argument('--robolectric-resources', metavar='DIR',
                        help='only link the anbox flavor\'s resources for the Robolectric tests into DIR (pom.xml)')
    args = parser.parse_args()
    try:
        config = gradle_config()
        if args.robolectric_resources:
            robolectric_resources('anbox', config, args.robolectric_resources)
            return 0
        tools = maven_tools()
        os.makedirs(args.out, exist_ok=True)
        work = tempfile.mkdtemp(prefix='aoob-apk-')
        try:
            tools = tools + [java8_base(work)]
            for flavor in args.flavor or FLAVORS:
                print(build_flavor(flavor, config, tools, os.path.abspath(args.out), work), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except BuildError as e:
        print('build_apk: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
