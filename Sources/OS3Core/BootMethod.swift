/// What a lane boots and how (the lane file's `[boot]` table): a pure value that renders to QEMU
/// arguments (`QemuInvocation`) and to libvirt domain XML (`DomainXML`). In a parsed lane the
/// images are as the lane wrote them (image names or paths); the runner resolves them to the
/// paths QEMU opens (`resolvingImages`).
public enum BootMethod: Sendable, Equatable, Codable {
    /// Direct kernel boot (`-kernel`): a PVH or Multiboot ELF, a Linux bzImage, an arm/riscv Image.
    /// `image` nil: the image os3ctl was given (`--kernel`, or the project's kernel). The command
    /// line is the lane's `append` (plus `--append`).
    case kernel(image: String?, initrd: String?)
    /// UEFI firmware as read-only pflash, a private writable copy of its variables store per run
    /// (made from `varsTemplate` by the runner), and the EFI system partition.
    case uefi(code: String, varsTemplate: String?, esp: ESP?)
    /// A disk image the firmware boots from (SeaBIOS: the first hard disk).
    case disk(image: String)
    /// An ISO the firmware boots from CD-ROM (SeaBIOS).
    case cdrom(image: String)

    /// The same method with `image` as the kernel a direct kernel boot loads (the lane's initrd
    /// kept); other methods boot their own images and are returned unchanged.
    public func withKernel(_ image: String) -> BootMethod {
        if case .kernel(_, let initrd) = self { return .kernel(image: image, initrd: initrd) }
        return self
    }

    /// The EFI system partition: a host directory (QEMU presents it as a FAT disk) or a disk image.
    public struct ESP: Sendable, Equatable, Codable {
        public var path: String
        public var isDirectory: Bool
        public init(path: String, isDirectory: Bool) {
            self.path = path
            self.isDirectory = isDirectory
        }
    }

    public enum Name: String, Sendable, CaseIterable { case kernel, uefi, disk, cdrom }

    public var name: Name {
        switch self {
        case .kernel: .kernel
        case .uefi: .uefi
        case .disk: .disk
        case .cdrom: .cdrom
        }
    }

    /// The image the run boots, for records: the kernel, the disk or ISO, the ESP (or the firmware).
    public var bootedImage: String? {
        switch self {
        case .kernel(let image, _): image
        case .uefi(let code, _, let esp): esp?.path ?? code
        case .disk(let image), .cdrom(let image): image
        }
    }

    /// Whether the guest needs files other than a kernel image (an initrd, firmware, a disk or ISO).
    public var needsFilesBesideTheKernel: Bool {
        if case .kernel(_, nil) = self { return false }
        return true
    }

    /// Whether QEMU needs a private copy of a UEFI variables store, made in the run directory before it starts.
    public var needsVarsCopy: Bool {
        if case .uefi(_, .some, _) = self { return true }
        return false
    }

    /// The same method with every image resolved by `resolve` (image name or path -> the path QEMU
    /// opens), the kernel defaulting to `defaultKernel`, and whether the ESP is a directory told by
    /// `isDirectory`. Firmware paths are resolved like images (a path relative to the project).
    public func resolvingImages(defaultKernel: String, overrideKernel: Bool = false, _ resolve: (String) throws -> String,
                                isDirectory: (String) -> Bool) rethrows -> BootMethod {
        switch self {
        case .kernel(let image, let initrd):
            let kernel = overrideKernel ? defaultKernel : try image.map(resolve) ?? defaultKernel
            return .kernel(image: kernel, initrd: try initrd.map(resolve))
        case .uefi(let code, let vars, let esp):
            let espPath = try esp.map { try resolve($0.path) }
            return .uefi(code: try resolve(code), varsTemplate: try vars.map(resolve),
                         esp: espPath.map { ESP(path: $0, isDirectory: isDirectory($0)) })
        case .disk(let image): return .disk(image: try resolve(image))
        case .cdrom(let image): return .cdrom(image: try resolve(image))
        }
    }

    /// The QEMU arguments of the method. `commandLine`: the kernel's (method kernel);
    /// `varsCopy`: the run's private copy of the variables store (method uefi).
    public func qemuArguments(profile: ArchProfile, commandLine: String, varsCopy: String?) -> [String] {
        switch self {
        case .kernel(let image, let initrd):
            var a = ["-kernel", image ?? ""]
            if let initrd { a += ["-initrd", initrd] }
            return a + ["-append", commandLine]
        case .uefi(let code, let vars, let esp):
            var a = ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(Self.driveValue(code))"]
            if vars != nil {
                a += ["-drive", "if=pflash,format=raw,unit=1,file=\(Self.driveValue(varsCopy ?? QemuInvocation.varsCopyPlaceholder))"]
            }
            if let esp {
                a += ["-drive", Self.drive(esp.isDirectory ? "fat:rw:\(esp.path)" : esp.path, profile: profile)]
            }
            return a
        case .disk(let image):
            return ["-drive", Self.drive(image, profile: profile)] + (profile.hasBIOSBootOrder ? ["-boot", "c"] : [])
        case .cdrom(let image):
            return ["-cdrom", image, "-boot", "d"]
        }
    }

    /// `file=PATH,format=raw` (+ `,if=` where the machine has no IDE bus).
    static func drive(_ file: String, profile: ArchProfile) -> String {
        "file=\(driveValue(file)),format=raw" + (profile.diskInterface.map { ",if=\($0)" } ?? "")
    }

    /// A value inside QEMU's comma-separated option syntax: a comma is written twice.
    static func driveValue(_ path: String) -> String { path.replacingAll(",", with: ",,") }
}
