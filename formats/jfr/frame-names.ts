/**
 * Frame names as Pyroscope's JFR converter writes them: `package/Class.method`, with the
 * names of JVM-generated classes and of native libraries unpacked under random names made
 * stable, so that every JVM run yields the same frames. The rewrites are applied to each
 * symbol of the constant pool, as Pyroscope does.
 */

interface Rewrite {
  /** Cheap test that rules the regex out for most symbols. */
  hint: string;
  re: RegExp;
  to: string;
}

const REWRITES: Rewrite[] = [
  // jdk/internal/reflect/GeneratedMethodAccessor31
  { hint: 'GeneratedMethodAccessor', re: /^(jdk\/internal\/reflect\/GeneratedMethodAccessor)(\d+)$/, to: '$1_' },
  // com/example/Service$$Lambda$669.0x0000000800fd7318, Fib$$Lambda.0x00007ffa600c4da0
  { hint: '$$Lambda', re: /^(.+\$\$Lambda)(\$?\d*[./](0x)?[\da-f]+|\d+)$/, to: '$1_' },
  // libzstd-jni-1.5.1-16931311898282279136.so
  { hint: 'libzstd-jni-', re: /^(\.?\/tmp\/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$/, to: 'libzstd-jni-_.so' },
  // ./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so
  {
    hint: 'amazonCorrettoCryptoProvider',
    re: /^(\.?\/tmp\/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?([0-9a-f]{16})(\/libcrypto|\/libamazonCorrettoCryptoProvider)?(\.so)( \(deleted\))?$/,
    to: 'libamazonCorrettoCryptoProvider_.so',
  },
  // the async-profiler library that pyroscope-java unpacks
  {
    hint: 'libasyncProfiler-',
    re: /^(\.?\/tmp\/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)-(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$/,
    to: 'libasyncProfiler-_.so',
  },
  // com/example/Service$$EnhancerBySpringCGLIB$$d2a3f1
  { hint: '$$EnhancerBySpringCGLIB$$', re: /^(.+\$\$EnhancerBySpringCGLIB\$\$)(.*)$/, to: '$1_' },
];

export function stableSymbol(symbol: string): string {
  let s = symbol;
  for (const w of REWRITES) if (s.includes(w.hint)) s = s.replace(w.re, w.to);
  return s;
}
