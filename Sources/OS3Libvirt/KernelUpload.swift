import CLibvirt
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

/// Puts the kernel image on a remote hypervisor's host: a storage volume in the pool `os3ctl`
/// (a directory pool, created transient at /var/lib/libvirt/images/os3ctl when the host has none),
/// named by the image's content, filled with `virStorageVolUpload`. An existing volume of that name
/// is reused only if its bytes are the image's (downloaded and compared), so a half-finished
/// upload of a killed run is replaced. Uploaded once per image per process.
final class KernelUploads: @unchecked Sendable {
    static let poolName = "os3ctl"
    /// QEMU's copy of a domain's console in the pool: `<domain>.console`.
    static let consoleSuffix = ".console"
    static let poolPath = "/var/lib/libvirt/images/os3ctl"

    private let lock = Lock()
    private var done: [String: String] = [:]

    struct Upload {
        var remotePath: String
        var uploaded: Bool
        var bytes: Int
    }

    /// The image's path on the hypervisor's host (uploading it if needed).
    func path(for localPath: String, connection conn: LibvirtConnection) throws -> Upload {
        guard let data = FileManager.default.contents(atPath: localPath) else {
            throw LibvirtError("cannot read the kernel image \(localPath)")
        }
        let bytes = [UInt8](data)
        let volume = Self.volumeName(bytes)
        // One upload at a time per hypervisor (boots in a pool share it).
        lock.lock()
        defer { lock.unlock() }
        if let known = done[volume] { return Upload(remotePath: known, uploaded: false, bytes: bytes.count) }
        let pool = try Self.pool(conn)
        defer { virStoragePoolFree(pool) }
        _ = virStoragePoolRefresh(pool, 0)
        var uploaded = false
        var vol = virStorageVolLookupByName(pool, volume)
        virResetLastError()
        if let existing = vol, (try? Self.download(existing, conn: conn, offset: 0, length: 0)) != bytes {
            _ = virStorageVolDelete(existing, 0)
            virStorageVolFree(existing)
            vol = nil
        }
        if vol == nil {
            let xml = """
            <volume><name>\(Reports.xml(volume))</name><capacity unit='bytes'>\(bytes.count)</capacity>\
            <target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>
            """
            guard let created = virStorageVolCreateXML(pool, xml, 0) else {
                throw LibvirtError("cannot create the volume \(volume) in pool \(Self.poolName) on \(conn.uri)")
            }
            vol = created
            do {
                try Self.upload(bytes, to: created, conn: conn)
            } catch {
                _ = virStorageVolDelete(created, 0)
                virStorageVolFree(created)
                throw error
            }
            uploaded = true
        }
        defer { virStorageVolFree(vol) }
        guard let cpath = virStorageVolGetPath(vol) else { throw LibvirtError("cannot get the path of volume \(volume)") }
        let path = String(cString: cpath)
        free(cpath)
        done[volume] = path
        return Upload(remotePath: path, uploaded: uploaded, bytes: bytes.count)
    }

    /// A volume of os3ctl's pool that QEMU keeps appending to (a console copy), read as it grows.
    final class GrowingVolume {
        let name: String
        private let conn: LibvirtConnection
        private var pool: OpaquePointer?
        private var vol: OpaquePointer?
        private var lastRefresh = 0.0

        init(name: String, connection: LibvirtConnection) {
            self.name = name
            self.conn = connection
        }

        deinit {
            if let vol { virStorageVolFree(vol) }
            if let pool { virStoragePoolFree(pool) }
        }

        /// The bytes after `offset` written so far (empty if none, or if the volume is not there yet).
        func read(from offset: Int) -> [UInt8] {
            guard let vol = lookUp() else { return [] }
            var info = virStorageVolInfo()
            guard virStorageVolGetInfo(vol, &info) == 0 else { virResetLastError(); return [] }
            let size = Int(info.capacity)
            guard size > offset else { return [] }
            return (try? KernelUploads.download(vol, conn: conn, offset: offset, length: size - offset)) ?? []
        }

        private func lookUp() -> OpaquePointer? {
            if let vol { return vol }
            if pool == nil {
                pool = virStoragePoolLookupByName(conn.ptr, KernelUploads.poolName)
                if pool == nil { virResetLastError(); return nil }
            }
            // A new file shows up as a volume once the pool is refreshed (at most every 0.2 s).
            guard Clock.now - lastRefresh > 0.2 else { return nil }
            lastRefresh = Clock.now
            _ = virStoragePoolRefresh(pool, 0)
            vol = virStorageVolLookupByName(pool, name)
            if vol == nil { virResetLastError() }
            return vol
        }
    }

    /// Deletes a volume of os3ctl's pool if it is there.
    func deleteVolume(named volume: String, connection conn: LibvirtConnection) {
        guard let pool = virStoragePoolLookupByName(conn.ptr, Self.poolName) else { virResetLastError(); return }
        defer { virStoragePoolFree(pool) }
        _ = virStoragePoolRefresh(pool, 0)
        guard let vol = virStorageVolLookupByName(pool, volume) else { virResetLastError(); return }
        if virStorageVolDelete(vol, 0) != 0 { virResetLastError() }
        virStorageVolFree(vol)
    }

    /// Console copies of domains that no longer run (their os3ctl was killed): deleted.
    func sweepConsoleCopies(connection conn: LibvirtConnection, running: Set<String>, log: (String) -> Void) {
        guard let pool = virStoragePoolLookupByName(conn.ptr, Self.poolName) else { virResetLastError(); return }
        defer { virStoragePoolFree(pool) }
        _ = virStoragePoolRefresh(pool, 0)
        var vols: UnsafeMutablePointer<OpaquePointer?>?
        let n = virStoragePoolListAllVolumes(pool, &vols, 0)
        guard n > 0, let vols else { return }
        defer { free(vols) }
        for i in 0..<Int(n) {
            guard let vol = vols[i] else { continue }
            defer { virStorageVolFree(vol) }
            guard let cname = virStorageVolGetName(vol) else { continue }
            let name = String(cString: cname)
            guard name.hasPrefix(DomainSpec.namePrefix), name.hasSuffix(Self.consoleSuffix) else { continue }
            let domain = String(name.dropLast(Self.consoleSuffix.count))
            if !running.contains(domain) && virStorageVolDelete(vol, 0) == 0 {
                log("libvirt: deleted the console copy of leftover domain \(domain) on \(conn.uri)")
            }
        }
    }

    /// `os3-<FNV-1a 64 of the bytes>-<size>.elf`.
    static func volumeName(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "os3-\(String(repeating: "0", count: 16 - hex.count))\(hex)-\(bytes.count).elf"
    }

    private static func pool(_ conn: LibvirtConnection) throws -> OpaquePointer {
        if let pool = virStoragePoolLookupByName(conn.ptr, poolName) {
            if virStoragePoolIsActive(pool) != 1 && virStoragePoolCreate(pool, 0) != 0 {
                let e = LibvirtError("the storage pool \(poolName) on \(conn.uri) is inactive and cannot be started")
                virStoragePoolFree(pool)
                throw e
            }
            return pool
        }
        virResetLastError()
        let xml = "<pool type='dir'><name>\(poolName)</name><target><path>\(poolPath)</path></target></pool>"
        if let pool = virStoragePoolCreateXML(conn.ptr, xml, UInt32(VIR_STORAGE_POOL_CREATE_WITH_BUILD.rawValue)) {
            return pool
        }
        let e = LibvirtError("cannot create the storage pool \(poolName) (\(poolPath)) on \(conn.uri)")
        // Another os3ctl may have created it meanwhile.
        if let pool = virStoragePoolLookupByName(conn.ptr, poolName) { return pool }
        throw e
    }

    private static func upload(_ bytes: [UInt8], to vol: OpaquePointer, conn: LibvirtConnection) throws {
        guard let stream = virStreamNew(conn.ptr, 0) else { throw LibvirtError("cannot create an upload stream") }
        defer { virStreamFree(stream) }
        guard virStorageVolUpload(vol, stream, 0, UInt64(bytes.count), 0) == 0 else {
            throw LibvirtError("cannot start uploading the kernel image to \(conn.uri)")
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) {
                    virStreamSend(stream, $0 + offset, min(256 * 1024, bytes.count - offset))
                }
            }
            if n < 0 {
                let e = LibvirtError("uploading the kernel image to \(conn.uri) failed")
                _ = virStreamAbort(stream)
                throw e
            }
            offset += Int(n)
        }
        guard virStreamFinish(stream) == 0 else { throw LibvirtError("finishing the upload to \(conn.uri) failed") }
    }

    /// `length` bytes from `offset` (0 = to the end).
    static func download(_ vol: OpaquePointer, conn: LibvirtConnection, offset: Int, length: Int) throws -> [UInt8] {
        guard let stream = virStreamNew(conn.ptr, 0) else { throw LibvirtError("cannot create a download stream") }
        defer { virStreamFree(stream) }
        guard virStorageVolDownload(vol, stream, UInt64(offset), UInt64(length), 0) == 0 else { throw LibvirtError("cannot download the volume") }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { virStreamRecv(stream, $0, b.count) }
            }
            if n == 0 { break }
            if n < 0 { _ = virStreamAbort(stream); throw LibvirtError("downloading the volume failed") }
            out += buffer[0..<Int(n)]
        }
        _ = virStreamFinish(stream)
        return out
    }
}
