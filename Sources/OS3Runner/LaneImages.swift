import Glibc
import OS3Core

extension Project {
    /// The path of an image a lane names (`[boot] kernel`, `initrd`, `esp`, `disk`, `cdrom`, and the
    /// UEFI firmware files): an `[images]` name of os3ctl.toml is that image; anything else is a
    /// path, absolute or relative to the project root (`resolveImage`).
    public func resolveLaneImage(_ nameOrPath: String, lane: Lane) throws -> String {
        Path.standardize(try resolveImage(nameOrPath))
    }
}

extension Path {
    /// Whether `path` is a directory (following symlinks).
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// Copies a file, the copy owner-only: a run's private UEFI variables store, made from the lane's
/// template before QEMU starts (the firmware writes to it; the template stays as it was).
func copyFile(_ source: String, to destination: String) throws {
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else {
        throw OS3Error(.notFound, "cannot read the UEFI variables template \(source): \(String(cString: strerror(errno)))",
                       fix: "install the firmware package (ovmf on x86_64, qemu-efi-aarch64 on aarch64) or correct [boot] firmware-vars")
    }
    defer { close(input) }
    let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard output >= 0 else { throw OS3Error(.io, "cannot create \(destination): \(String(cString: strerror(errno)))") }
    defer { close(output) }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if n == 0 { return }
        if n < 0 {
            if errno == EINTR { continue }
            throw OS3Error(.io, "cannot read \(source): \(String(cString: strerror(errno)))")
        }
        try buffer.withUnsafeBytes { try writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
}
