import COS3Sys
import Glibc

// Locks, threads and path helpers for os3ctl's modules. They import FoundationEssentials, not
// Foundation: full Foundation brings ICU (≈ 60 MB of the binary), and os3ctl's start-up time —
// which every `boot` pays on the critical path — grows with the binary.

/// A mutex (what NSLock was): `lock()`/`unlock()`, or `withLock`.
public final class Lock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()

    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }

    public func lock() { pthread_mutex_lock(&mutex) }
    public func unlock() { pthread_mutex_unlock(&mutex) }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex with a condition variable (what NSCondition was).
public final class Condition: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()

    public init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
    }
    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }

    public func lock() { pthread_mutex_lock(&mutex) }
    public func unlock() { pthread_mutex_unlock(&mutex) }
    /// Waits for `signal()`; call with the lock held.
    public func wait() { pthread_cond_wait(&cond, &mutex) }
    public func signal() { pthread_cond_signal(&cond) }
    public func broadcast() { pthread_cond_broadcast(&cond) }
}

/// Starts a detached thread running `body` (what `Thread { }.start()` was), named `name` (its first
/// 15 bytes, the kernel's limit) as `ps -L`, `top -H` and `perf` show it.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let name: String, body: @Sendable () -> Void
        init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b }
    }
    let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attributes) }
    var thread = pthread_t()
    let r = pthread_create(&thread, &attributes, { context in
        let box = Unmanaged<AnyObject>.fromOpaque(context!).takeRetainedValue() as! Box
        os3_name_thread(box.name)
        box.body()
        return nil
    }, context)
    precondition(r == 0, "pthread_create failed: \(r)")
}

extension String {
    /// The text a C function left in `buffer`, up to its NUL (or the whole buffer if it has none).
    public init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One environment variable (getenv): ProcessInfo's `environment` builds a dictionary of all of
/// them at every call, which several calls on `boot`'s critical path paid for.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}

/// Path helpers (what NSString's path methods were), on plain strings.
public enum Path {
    /// "/a/b/c" → "/a/b"; "/a" → "/"; "a" → "".
    public static func directory(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        return String(p[..<slash])
    }

    /// An absolute path with `.`, `..` and repeated slashes removed (no symlinks resolved).
    public static func standardize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return path.hasPrefix("/") ? "/" + parts.joined(separator: "/") : parts.joined(separator: "/")
    }

    /// Whether something exists at `path` (following symlinks). Plain POSIX: setting up
    /// FileManager costs more than a whole `boot` spends on these checks.
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Whether this process may read `path`.
    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// The current directory ("/" if it cannot be found).
    public static var currentDirectory: String {
        guard let cwd = getcwd(nil, 0) else { return "/" }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    /// An absolute `path` as the user can open it from where they stand (for messages): relative
    /// to the current directory when it is under it, else absolute.
    public static func shown(_ path: String) -> String {
        let cwd = currentDirectory
        guard path.hasPrefix("/"), cwd != "/" else { return path }
        return path.hasPrefix(cwd + "/") ? String(path.dropFirst(cwd.count + 1)) : path
    }

    /// The path with every symlink resolved (realpath), or the path itself if that fails.
    public static func resolvingSymlinks(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The names in the directory `path` (without "." and ".."), or nil when it cannot be opened
    /// (errno says why). readdir directly: FileManager's listing cost a third of a no-op build's CPU.
    public static func entries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        return entries(of: dir)
    }

    /// The names in the directory open as `fd` (a duplicate is read, so `fd` stays open), or nil.
    public static func entries(ofDescriptor fd: Int32) -> [String]? {
        let copy = dup(fd)
        guard copy >= 0 else { return nil }
        guard let dir = fdopendir(copy) else {
            let why = errno
            close(copy)
            errno = why  // the caller's message says why fdopendir failed, not close
            return nil
        }
        return entries(of: dir)
    }

    /// Reads and closes `dir`.
    private static func entries(of dir: OpaquePointer) -> [String] {
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The directory for temporary files: $TMPDIR, else /tmp (with a trailing slash).
    public static var temporaryDirectory: String {
        let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return dir.hasSuffix("/") ? dir : dir + "/"
    }
}
