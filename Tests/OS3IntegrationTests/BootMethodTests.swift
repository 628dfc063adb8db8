import Foundation
import Testing
import OS3Core
import OS3Runner

/// Tiny guests for each boot method and architecture, made once by Tests/Fixtures/boot-images.sh
/// from Debian packages (GRUB) and the toolchain's clang, in a scratch project's `images/`.
enum BootImages {
    static let project: Result<Project, Error> = Result {
        let dir = try Fixture.scratchProject()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["\(Fixture.root)/Tests/Fixtures/boot-images.sh", "\(dir)/images"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw OS3Error(.io, "Tests/Fixtures/boot-images.sh failed (\(p.terminationStatus))") }
        for (name, text) in [("bios", "os3test: bios up"), ("uefi", "os3test: uefi up"), ("aarch64", "os3test: aarch64 up"),
                             ("riscv64", "os3test: riscv64 up")] {
            try "[[marker]]\nid = \"up\"\ntext = \"\(text)\"\n".write(toFile: "\(dir)/markers/\(name).toml", atomically: true, encoding: .utf8)
        }
        return Project(root: dir)
    }

    /// nil when the image and what boots it are here; else why the test is skipped.
    static func missing(_ image: String, needs files: [String] = []) -> String? {
        guard let project = try? project.get() else { return "skipped: the boot images could not be made (\(String(describing: project)))" }
        let path = "\(project.root)/images/\(image)"
        if !FileManager.default.fileExists(atPath: path) {
            return "skipped: \(image) was not made (install grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools: .ci/setup --tests)"
        }
        for file in files where !FileManager.default.fileExists(atPath: file) && resolveExecutable(file) == nil {
            return "skipped: \(file) is missing (.ci/setup --tests installs it)"
        }
        return nil
    }

    /// Boots a lane written into the scratch project (its markers file named by `markers`).
    static func boot(_ name: String, markers: String, on backend: any BootBackend = QemuBackend(), _ body: String) throws -> RunRecord {
        let project = try project.get()
        let file = "\(project.lanesDirectory)/\(name).toml"
        try """
        accelerator = "tcg"
        memory = "128M"
        cpus = 1
        markers = ["\(markers)"]
        \(body)
        [timeouts]
        total = 120
        idle = 60
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let lane = try project.loadLane(name)
        // No kernel of os3ctl's: each lane names what it boots (method kernel: its [boot] kernel).
        let runner = LaneRunner(project: project, state: Fixture.state, kernel: "/nonexistent/os3.elf", backend: backend)
        return try runner.run(lane, markers: try project.markers(for: lane))
    }
}

@Suite("Booting each boot method and architecture in real QEMU (TCG)", .tags(.integration), .serialized)
struct BootMethodTests {
    /// The argv as the lane's method renders it: without the QMP socket os3ctl appends (tested elsewhere).
    static func withoutQMP(_ argv: [String]) -> [String] {
        let qmp = QemuInvocation.qmpArgs
        guard let i = argv.indices.first(where: { Array(argv[$0...].prefix(qmp.count)) == qmp }) else { return argv }
        return Array(argv[..<i]) + argv[(i + qmp.count)...]
    }

    static let ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    static let ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"

    @Test("cdrom: SeaBIOS boots GRUB from an ISO on the CD-ROM, which exits 33 through isa-debug-exit",
          .enabled(if: BootImages.missing("cd.iso") == nil, "\(BootImages.missing("cd.iso") ?? "")"))
    func cdrom() throws {
        let r = try BootImages.boot("m-cdrom", markers: "bios", """
            machine = "pc"
            cpu = "qemu64"
            [boot]
            method = "cdrom"
            cdrom = "images/cd.iso"
            """)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.serialLog)")
        #expect(r.end == .exited(33))
        let iso = "\(try BootImages.project.get().root)/images/cd.iso"
        #expect(Array(Self.withoutQMP(r.argv).suffix(4)) == ["-cdrom", iso, "-boot", "d"])
        #expect(r.kernel == iso)
        #expect(!r.argv.contains("-kernel"))
    }

    @Test("disk: SeaBIOS boots the first hard disk (the hybrid ISO as a raw disk) on q35",
          .enabled(if: BootImages.missing("disk.img") == nil, "\(BootImages.missing("disk.img") ?? "")"))
    func disk() throws {
        let r = try BootImages.boot("m-disk", markers: "bios", """
            machine = "q35"
            cpu = "qemu64"
            [boot]
            method = "disk"
            disk = "images/disk.img"
            """)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.serialLog)")
        #expect(r.end == .exited(33))
        let disk = "\(try BootImages.project.get().root)/images/disk.img"
        #expect(Array(Self.withoutQMP(r.argv).suffix(4)) == ["-drive", "file=\(disk),format=raw", "-boot", "c"])
    }

    @Test("uefi: OVMF from read-only pflash, a private copy of its variables in the run directory, GRUB from an ESP directory",
          .enabled(if: BootImages.missing("esp/EFI/BOOT/BOOTX64.EFI", needs: [ovmfCode, ovmfVars]) == nil,
                   "\(BootImages.missing("esp/EFI/BOOT/BOOTX64.EFI", needs: [ovmfCode, ovmfVars]) ?? "")"))
    func uefi() throws {
        let template = try Data(contentsOf: URL(fileURLWithPath: Self.ovmfVars))
        let r = try BootImages.boot("m-uefi", markers: "uefi", """
            machine = "q35"
            cpu = "qemu64"
            [boot]
            method = "uefi"
            firmware-code = "\(Self.ovmfCode)"
            firmware-vars = "\(Self.ovmfVars)"
            esp = "images/esp"
            """)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.serialLog)")
        #expect(r.end == .exited(33))
        let esp = "\(try BootImages.project.get().root)/images/esp"
        let copy = "\(r.runDirectory)/efivars.fd"
        #expect(Array(Self.withoutQMP(r.argv).suffix(6)) == [
            "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(Self.ovmfCode)",
            "-drive", "if=pflash,format=raw,unit=1,file=\(copy)",
            "-drive", "file=fat:rw:\(esp),format=raw",
        ])
        // The copy is the run's own (the firmware may write to it); the template is untouched.
        #expect(FileManager.default.fileExists(atPath: copy))
        #expect(try Data(contentsOf: URL(fileURLWithPath: Self.ovmfVars)) == template)
        #expect(try String(contentsOfFile: "\(r.runDirectory)/argv.txt", encoding: .utf8).contains("file=\(copy)"))
    }

    @Test("aarch64: a bare-metal ELF on -M virt (the default machine and CPU), exiting 33 through semihosting",
          .enabled(if: BootImages.missing("a64.elf", needs: ["qemu-system-aarch64"]) == nil,
                   "\(BootImages.missing("a64.elf", needs: ["qemu-system-aarch64"]) ?? "")"))
    func aarch64() throws {
        let r = try BootImages.boot("m-aarch64", markers: "aarch64", """
            arch = "aarch64"
            [boot]
            kernel = "images/a64.elf"
            exit-device = "semihosting"
            """)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.serialLog)")
        #expect(r.end == .exited(33))
        #expect(r.argv.first == "qemu-system-aarch64")
        #expect(r.argv.contains("-semihosting-config"))
        #expect(!r.argv.contains { $0.hasPrefix("isa-debug-exit") })
    }

    @Test("riscv64: a bare-metal ELF after OpenSBI on -M virt, exiting 33 through the machine's sifive_test device",
          .enabled(if: BootImages.missing("rv.elf", needs: ["qemu-system-riscv64"]) == nil,
                   "\(BootImages.missing("rv.elf", needs: ["qemu-system-riscv64"]) ?? "")"))
    func riscv64() throws {
        let r = try BootImages.boot("m-riscv64", markers: "riscv64", """
            arch = "riscv64"
            [boot]
            kernel = "images/rv.elf"
            exit-device = "sifive-test"
            """)
        #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.serialLog)")
        #expect(r.end == .exited(33))
        #expect(r.argv.first == "qemu-system-riscv64")
        #expect(!r.argv.contains("-device"))
    }
}

extension Lane {
    func with(_ edit: (inout Lane) -> Void) -> Lane {
        var copy = self
        edit(&copy)
        return copy
    }
}

@Suite("The runner chooses each lane's QEMU binary and image")
struct LaneImageChoiceTests {
    /// A lane passing by poweroff: these tests choose binaries and images, not how the guest ends
    /// (and an aarch64 or riscv64 lane waiting for an exit code would need an exit device).
    static func lane(_ text: String) throws -> Lane {
        try Lane.parse(name: "c", file: "lanes/c.toml", text: """
            accelerator = "tcg"
            memory = "64M"
            cpus = 1
            markers = ["boot"]
            success = "poweroff"
            \(text)
            [timeouts]
            total = 10
            idle = 5
            """)
    }

    static let project = Project(root: "/p")

    @Test("a lane's [boot] kernel is relative to the project root; --kernel overrides it; a lane naming none gets the runner's kernel")
    func kernelImage() throws {
        let lane = try Self.lane("arch = \"aarch64\"\n[boot]\nkernel = \"build/Image\"\ninitrd = \"/abs/initrd.gz\"")
        let own = try LaneRunner(project: Self.project, state: Fixture.state, kernel: "/built/os3.elf").invocation(for: lane)
        #expect(own.boot == .kernel(image: "/p/build/Image", initrd: "/abs/initrd.gz"))
        #expect(own.kernel == "/p/build/Image")
        let given = try LaneRunner(project: Self.project, state: Fixture.state, kernel: "/given/k", kernelOverridesLanes: true).invocation(for: lane)
        #expect(given.boot == .kernel(image: "/given/k", initrd: "/abs/initrd.gz"))
        let plain = try Self.lane("machine = \"pc\"\ncpu = \"qemu64\"")
        #expect(try LaneRunner(project: Self.project, state: Fixture.state, kernel: "/built/os3.elf").invocation(for: plain).kernel == "/built/os3.elf")
    }

    @Test("the binary: --qemu, else the lane's qemu-binary, else qemu-system-ARCH")
    func binary() throws {
        let arm = try Self.lane("arch = \"aarch64\"")
        let custom = try Self.lane("arch = \"riscv64\"\nqemu-binary = \"/opt/q/qemu-system-riscv64\"")
        let runner = LaneRunner(project: Self.project, state: Fixture.state, kernel: "/k")
        #expect(try runner.invocation(for: arm).argv.first == "qemu-system-aarch64")
        #expect(try runner.invocation(for: custom).argv.first == "/opt/q/qemu-system-riscv64")
        let forced = LaneRunner(project: Self.project, state: Fixture.state, kernel: "/k", qemu: "/fake/qemu")
        #expect(try forced.invocation(for: custom).argv.first == "/fake/qemu")
    }

    @Test("a UEFI lane whose firmware is not installed, and a KVM lane of another architecture, are skipped saying why (nothing started)")
    func skipped() throws {
        let project = try BootImages.project.get()
        let runner = LaneRunner(project: project, state: Fixture.state, kernel: "/k")
        let markers = try MarkerSet.parse(file: "m.toml", text: "[[marker]]\nid = \"x\"\ntext = \"x\"\n")
        let uefi = try Self.lane("machine = \"q35\"\ncpu = \"qemu64\"\n[boot]\nmethod = \"uefi\"\nfirmware-code = \"/nonexistent/OVMF_CODE_4M.fd\"")
        let r = try runner.run(uefi, markers: markers)
        #expect(r.verdict.kind == .skipped)
        #expect(r.verdict.detail.contains("UEFI firmware /nonexistent/OVMF_CODE_4M.fd is missing (apt-get install ovmf)"), "\(r.verdict.detail)")
        if HostProbe.hostArch == .x86_64 {
            let arm = try Self.lane("arch = \"aarch64\"").with { $0.accelerator = .kvm }
            let a = try runner.run(arm, markers: markers)
            #expect(a.verdict.kind == .skipped)
            #expect(a.verdict.detail.contains("aarch64") && a.verdict.detail.contains("tcg"), "\(a.verdict.detail)")
        }
    }

    @Test("a disk, ISO or ESP is relative to the project root too, and an ESP directory is told apart from an image")
    func otherImages() throws {
        let runner = LaneRunner(project: Project(root: Fixture.root), state: Fixture.state, kernel: "/k")
        let cd = try Self.lane("machine = \"pc\"\ncpu = \"qemu64\"\n[boot]\nmethod = \"cdrom\"\ncdrom = \"out/os.iso\"")
        #expect(try runner.invocation(for: cd).boot == .cdrom(image: "\(Fixture.root)/out/os.iso"))
        let uefi = try Self.lane("machine = \"q35\"\ncpu = \"qemu64\"\n[boot]\nmethod = \"uefi\"\nfirmware-code = \"/fw/C.fd\"\nesp = \"docs\"")
        #expect(try runner.invocation(for: uefi).boot == .uefi(code: "/fw/C.fd", varsTemplate: nil, esp: .init(path: "\(Fixture.root)/docs", isDirectory: true)))
    }
}
